"""A least-privilege execution role per function: logs to its own log group and X-Ray, nothing managed.

CDK's default role attaches AWSLambdaBasicExecutionRole (logs:* on every log group); here each function writes
only to the log group created for it, and every further permission is an explicit, resource-scoped statement.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge


class FunctionRole(Construct):
    def __init__(
        self, scope: Construct, id: str, *, description: str, log_retention_name: str, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays[log_retention_name],
            removal_policy=removal_policy,
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.policy = iam.Policy(self, "Policy", roles=[self.role])
        self.allow(["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn])
        # Active tracing makes CDK add xray:PutTraceSegments/PutTelemetryRecords on "*" to the role's default
        # policy: X-Ray has no resource-level permissions (the documented IAM exception).
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level scoping.",
        )

    def allow(self, actions: list[str], resources: list[str], conditions: dict | None = None) -> None:
        self.policy.add_statements(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))
