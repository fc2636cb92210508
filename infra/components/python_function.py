"""The one way a clickguard Lambda is built: Python 3.12 on arm64, the shared layer, its own role and log group,
active tracing, and the asset directory shipped as plain code (no Docker, no bundling)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Token
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from clickguard import settings
from infra.components.function_role import FunctionRole
from infra.components.layer import ARCHITECTURE, RUNTIME
from infra.config import ConfigError
from infra.nag import acknowledge
from infra.paths import asset_dir


def python_function(
    scope: Construct,
    *,
    access: FunctionRole,
    asset: str,
    handler: str,
    layer: lambda_.ILayerVersion,
    description: str,
    memory_mb: int,
    timeout_seconds: int,
    environment: dict[str, str],
    service: str,
    **extra: Any,
) -> lambda_.Function:
    variables = {
        **environment,
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": settings.METRICS_NAMESPACE,
    }
    check_environment_size(description, variables)
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        code=lambda_.Code.from_asset(str(asset_dir(asset)), exclude=["__pycache__", "*.pyc"]),
        handler=handler,
        layers=[layer],
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_seconds),
        # The handlers take their metrics ``service`` dimension from here (see StackConfig.*_service).
        environment=variables,
        role=access.role,
        log_group=access.log_group,
        tracing=lambda_.Tracing.ACTIVE,
        **extra,
    )
    function.node.add_dependency(access.policy)
    acknowledge(
        function,
        "AwsSolutions-L1",
        "Python 3.12 on purpose: the layer's wheels (numpy) are built for cp312; bump both together.",
    )
    return function


# Lambda holds 4 KB of environment variables in all (names and values); past it, the deploy fails minutes in. A value
# that CloudFormation resolves at deploy (a queue's URL, a bucket's name) is counted at a generous length.
ENVIRONMENT_BYTES = 4096
TOKEN_BYTES = 200


def check_environment_size(function: str, variables: dict[str, str]) -> None:
    """Refuse, at synth, a function environment Lambda would refuse (a wide ``field_mapping``, say)."""
    sizes = {
        name: len(name.encode()) + (TOKEN_BYTES if Token.is_unresolved(value) else len(value.encode()))
        for name, value in variables.items()
    }
    if (total := sum(sizes.values())) > ENVIRONMENT_BYTES:
        largest = ", ".join(f"{n} ({b:,} B)" for n, b in sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
        raise ConfigError(
            f"{function}: its environment would be about {total:,} bytes, over Lambda's {ENVIRONMENT_BYTES:,}; the"
            f" largest: {largest}"
        )
