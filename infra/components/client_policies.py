"""What the stack's outside principals need, as managed policies to attach: producers that put events on the stream,
and reviewers who read flags and send decisions.

Every resource is encrypted with the stack's key, so a role that may call Kinesis or SQS is still refused without
its KMS actions (KMSAccessDeniedException on PutRecords, on ReceiveMessage, on SendMessage). Each statement names
its actions one by one and the resource's ARN: no wildcard."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PRODUCER_ACTIONS = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
READER_ACTIONS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
]


class ClientPolicies(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stream: kinesis.IStream,
        key: kms.IKey,
        flag_queue: sqs.IQueue,
        decision_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, id)
        self.producer = iam.ManagedPolicy(
            self,
            "ProducerPolicy",
            description="Attach to the roles that put events on the clickguard stream (PutRecord/PutRecords)",
            statements=[
                iam.PolicyStatement(actions=PRODUCER_ACTIONS, resources=[stream.stream_arn]),
                iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn]),
            ],
        )
        self.reviewer = iam.ManagedPolicy(
            self,
            "ReviewerPolicy",
            description="Attach to the roles that read clickguard's flags and send reviewers' decisions",
            statements=[
                iam.PolicyStatement(actions=READER_ACTIONS, resources=[flag_queue.queue_arn]),
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[decision_queue.queue_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]),
            ],
        )
