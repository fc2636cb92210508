"""The customer-managed KMS key for every store of the stack (stream, table, queues, buckets, alarm topic)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class DataKey(Construct):
    def __init__(self, scope: Construct, id: str, *, stage: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"clickguard {stage}: events, session state, flags, models",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # AWS services that write into the encrypted queues and topic on our behalf (not via a role of ours):
        # EventBridge -> trainer dead-letter queue, CloudWatch alarms -> alarm topic. Scoped to this account,
        # because a key policy naming the rule or alarm ARNs would be a dependency cycle (they depend on the key).
        account = Stack.of(self).account
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowServiceWritersInThisAccount",
                principals=[
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
