"""CDK app entry point (``cdk.json``: ``.venv/bin/python -m infra.app``).

Settings come from CDK context, validated by ``infra.config.StackConfig``. cdk-nag's AwsSolutionsChecks runs on
every synth (cdk-nag 3 plugs into CDK's policy validation, ``Validations.of(app).add_plugins``); an
unacknowledged error fails the synth.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, StackConfig
from infra.paths import ROOT
from infra.stack import ClickguardStack

CDK_JSON = ROOT / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` block of cdk.json (feature flags), also for in-process synths (tests)."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None, nag: bool = True
) -> tuple[cdk.App, ClickguardStack]:
    """The app with cdk.json's context under ``context``; under the CLI, ``-c`` values override both."""
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    config = StackConfig.from_context(app.node.try_get_context, app.node.get_all_context())
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    stack = ClickguardStack(app, config.stack_name, config=config, env=env)
    # moto's CloudFormation reads KMS key tags with the wrong field names (TagKey) and fails the key.
    untagged = ["AWS::KMS::Key"] if config.local else []
    for name, value in (("project", "clickguard"), ("stage", config.stage)):
        cdk.Tags.of(stack).add(name, value, exclude_resource_types=untagged)
    if config.local or config.stub_layer:  # set by an environment variable too: said on every synth
        cdk.Annotations.of(stack).add_warning_v2("clickguard:not-for-aws", NOT_FOR_AWS)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


NOT_FOR_AWS = (
    "local or stub_layer is set (context, or CLICKGUARD_LOCAL / CLICKGUARD_STUB_LAYER): this template is for the "
    "embedded emulator and tests, not AWS (no Firehose archive, alarms or function URL; a stub layer has no numpy)"
)


def main() -> int:
    try:
        app, _ = build_app()
    except ConfigError as exc:
        print(f"clickguard infra: invalid configuration: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
