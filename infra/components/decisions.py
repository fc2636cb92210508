"""The decisions path: a FIFO decisions queue (and its dead-letter queue), the decisions Lambda and its mapping.

Why FIFO. Decisions about one user must be applied in the order they were made: an ``allow`` followed by a
``block`` must leave the user off the allow-list, never on it. A FIFO queue with the user as the message group
delivers one user's decisions in order, and the mapping holds that user's later messages back while one is being
retried. Content-based deduplication is on, so a service that re-sends the same decision within five minutes needs
no deduplication id of its own; the throughput of a FIFO queue (300 calls/s per action without batching) is far
above what reviewers produce. The cost: producers must set ``MessageGroupId`` (the user key).

The mapping reads 10 messages a batch with ``ReportBatchItemFailures`` (only failed messages come back) and at most
2 concurrent invocations (the least SQS allows): the allow-list is one object written with compare-and-swap, and
fewer writers mean fewer conflicts. The visibility timeout is six times the function's timeout (AWS's advice for a
Lambda consumer of SQS); a message that fails ``decision_max_receives`` times goes to the dead-letter queue, which
alarms. Malformed messages never fail: the function keeps them under ``review/rejected/``.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clickguard import settings
from clickguard.store.permissions import DECISIONS
from infra.components.function_role import FunctionRole
from infra.components.python_function import python_function
from infra.components.queues import _queue
from infra.config import StackConfig
from infra.nag import acknowledge, acknowledge_prefix_scoped

BATCH_SIZE = 10  # the most a FIFO queue's mapping takes
MAX_CONCURRENCY = 2  # the least SQS mappings allow
VISIBILITY_PER_TIMEOUT = 6


class Decisions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        layer: lambda_.ILayerVersion,
        model_bucket: s3.IBucket,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.dead_letter_queue, self.queue = self._build_queues(config, key)
        environment = {
            settings.ENV_MODEL_BUCKET: model_bucket.bucket_name,
            settings.ENV_ALLOWLIST_DAYS: str(config.allowlist_days),
            settings.ENV_ALLOW_MARGIN: str(config.allow_margin),
        }
        access = FunctionRole(
            self,
            "Access",
            function=DECISIONS,
            environment=environment,
            description="clickguard decisions",
            log_retention_name=config.log_retention_name,
            removal_policy=removal_policy,
        )
        self._build_grants(access, model_bucket)
        access.seal(key)
        self.function = python_function(
            self,
            access=access,
            asset=settings.DECISIONS_ASSET_DIR,
            handler=settings.DECISIONS_HANDLER,
            layer=layer,
            description="clickguard: record reviewers' decisions (labels/) and keep the allow-list",
            memory_mb=config.decisions_memory_mb,
            timeout_seconds=config.decisions_timeout_seconds,
            environment=environment,
            service=config.decisions_service,
        )
        self.event_source = self._build_event_source(config)
        self.event_source.node.add_dependency(access.policy)

    def _build_queues(self, config: StackConfig, key: kms.IKey) -> tuple[sqs.Queue, sqs.Queue]:
        # Explicit names: a FIFO queue's name must end in .fifo, which moto's CloudFormation does not add.
        stack = Stack.of(self).stack_name
        dlq = _queue(
            self,
            "DeadLetterQueue",
            key,
            queue_name=f"{stack}-decisions-dlq.fifo",
            fifo=True,
            content_based_deduplication=True,
        )
        acknowledge(dlq, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the decisions queue.")
        queue = _queue(
            self,
            "Queue",
            key,
            queue_name=f"{stack}-decisions.fifo",
            fifo=True,
            content_based_deduplication=True,
            visibility_timeout=Duration.seconds(VISIBILITY_PER_TIMEOUT * config.decisions_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=config.decision_max_receives, queue=dlq),
        )
        return dlq, queue

    def _build_grants(self, access: FunctionRole, model_bucket: s3.IBucket) -> None:
        """Each action on the narrowest resource; which actions at all is infra.access's decision."""
        access.allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], [self.queue.queue_arn])
        written = (settings.DECISIONS_PREFIX, settings.REJECTED_DECISIONS_PREFIX)
        access.allow(["s3:PutObject"], [model_bucket.arn_for_objects(f"{prefix}*") for prefix in written])
        allowlist = model_bucket.arn_for_objects(settings.ALLOWLIST_KEY)
        access.allow(["s3:GetObject", "s3:PutObject"], [allowlist])
        access.allow(["s3:ListBucket"], [model_bucket.bucket_arn])
        for prefix, what in (
            (settings.DECISIONS_PREFIX, "one new object per decision (the decision log the trainer reads)"),
            (settings.REJECTED_DECISIONS_PREFIX, "one object per malformed decision message, for an operator"),
        ):
            acknowledge_prefix_scoped(access.policy, model_bucket, prefix, f"The decisions function writes {what}.")

    def _build_event_source(self, config: StackConfig) -> lambda_.CfnEventSourceMapping:
        return lambda_.CfnEventSourceMapping(
            self,
            "EventSource",
            function_name=self.function.function_name,
            event_source_arn=self.queue.queue_arn,
            batch_size=BATCH_SIZE,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=lambda_.CfnEventSourceMapping.ScalingConfigProperty(maximum_concurrency=MAX_CONCURRENCY),
            # Locally moto would push each message to the function through Docker; the local runtime's poller
            # plays this mapping instead, reading these very settings.
            enabled=not config.local,
        )
