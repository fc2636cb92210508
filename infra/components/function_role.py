"""A least-privilege execution role per function: logs to its own log group and X-Ray, nothing managed.

CDK's default role attaches AWSLambdaBasicExecutionRole (logs:* on every log group); here each function writes
only to the log group created for it, and every further permission is an explicit, resource-scoped statement.
Which actions may appear at all is decided by ``infra.access``: ``allow`` refuses any other, and ``seal`` adds
the KMS actions those imply and fails the synth if an action the code calls was never granted.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import access
from infra.nag import acknowledge


class FunctionRole(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: str,
        environment: dict[str, str],
        description: str,
        log_retention_name: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.function = function
        self._code = access.code_actions(function, environment)
        self._allowed = self._code | access.extra_actions(function)
        self._granted: set[str] = set()
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

    def allow(self, actions: list[str], resources: list[str], conditions: dict[str, Any] | None = None) -> None:
        unknown = sorted(set(actions) - self._allowed)
        if unknown:
            raise ValueError(
                f"{self.function} role: {unknown} are neither called by its code (clickguard.store.permissions) "
                "nor listed with a reason in infra/access.py"
            )
        self._granted.update(actions)
        self.policy.add_statements(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))

    def seal(self, key: kms.IKey) -> None:
        """Grant the KMS actions the granted actions imply on the stack key; every declared call must be granted."""
        missing = sorted(self._code - self._granted)
        if missing:
            raise ValueError(f"{self.function} role: its code calls {missing}, which the stack never grants")
        key_actions = sorted(access.kms_actions(self._granted))
        if key_actions:
            self.policy.add_statements(iam.PolicyStatement(actions=key_actions, resources=[key.key_arn]))
