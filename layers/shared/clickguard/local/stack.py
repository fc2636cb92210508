"""The CDK stack, synthesized in its ``local`` flavour and deployed into the emulator's CloudFormation.

Local resources are therefore the ones ``cdk deploy`` would create: stream, table, queues, buckets, functions and
the event source mapping come from the template. What moto cannot create is listed in
``infra.config.MOTO_UNSUPPORTED`` and stood in for by this package (the archive by ``archiver``, the schedule by
``runtime.LocalRuntime.run_training``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clickguard.local.emulator import Emulator
from clickguard.local.emulator import session as emulator_session
from clickguard.local.esm import EsmSettings
from clickguard.local.sqs_esm import SqsEsmSettings

LOCAL_STAGE = "local"
# Context the local flavour adds on top of cdk.json. A laptop run compresses a day into a minute, so the consumer
# re-checks models/latest.json every 2 s instead of every minute; everything else is the deployed default.
LOCAL_CONTEXT: dict[str, Any] = {"local": True, "stub_layer": True, "model_refresh_seconds": 2}


@dataclass(frozen=True)
class DeployedStack:
    name: str
    outputs: dict[str, str]
    template: dict[str, Any]

    def resources_of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == cfn_type}

    def esm_settings(self) -> EsmSettings:
        from infra.config import OUTPUT_FAILURE_QUEUE_URL

        props = self._mapping_from("AWS::Kinesis::Stream")
        return EsmSettings.from_properties(props, self.outputs.get(OUTPUT_FAILURE_QUEUE_URL))

    def decisions_esm_settings(self) -> SqsEsmSettings:
        """The decisions queue's mapping (the review loop)."""
        return SqsEsmSettings.from_properties(self._mapping_from("AWS::SQS::Queue"))

    def _mapping_from(self, source_type: str) -> dict[str, Any]:
        """Properties of the one event source mapping whose source is a resource of ``source_type``."""
        resources = self.template["Resources"]
        mappings: list[dict[str, Any]] = [
            m["Properties"]
            for m in self.resources_of_type("AWS::Lambda::EventSourceMapping").values()
            if resources.get(_getatt_target(m["Properties"].get("EventSourceArn")), {}).get("Type") == source_type
        ]
        if len(mappings) != 1:
            raise RuntimeError(f"expected one event source mapping from a {source_type}, found {len(mappings)}")
        return mappings[0]


def _getatt_target(value: Any) -> str | None:
    """The logical id an ``{"Fn::GetAtt": [id, "Arn"]}`` names."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), list):
        return str(value["Fn::GetAtt"][0])
    return None


def synth_local(
    outdir: str | os.PathLike[str], stage: str = LOCAL_STAGE, context: dict[str, Any] | None = None
) -> tuple[Path, str]:
    """Synthesize the app in its local flavour. The layer is the stub one: handlers run in this process, against
    this virtualenv's packages, so the Lambda layer's Linux/arm64 wheels would never be loaded."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    _quiet_jsii_exit()  # before the import, which starts the child
    from infra.app import build_app

    app, stack = build_app(context={**LOCAL_CONTEXT, **(context or {}), "stage": stage}, outdir=str(outdir))
    app.synth()
    return Path(outdir), stack.stack_name


def _quiet_jsii_exit() -> None:
    """jsii stops its node child at exit by writing to it, and a Ctrl-C in the terminal has ended that child first
    (one process group): the write's BrokenPipeError traceback came after the command's last line. That error alone
    is dropped; every other goes to the hook there was."""
    previous = sys.unraisablehook
    if getattr(previous, "__name__", "") == "drop_jsii_closed_pipe":  # once per process
        return

    def drop_jsii_closed_pipe(unraisable: sys.UnraisableHookArgs) -> None:
        from_jsii = str(getattr(unraisable.object, "__module__", "")).startswith("jsii.")
        if not (from_jsii and isinstance(unraisable.exc_value, BrokenPipeError)):
            previous(unraisable)

    sys.unraisablehook = drop_jsii_closed_pipe


def deploy(
    emulator: Emulator,
    workdir: str | os.PathLike[str] | None = None,
    stage: str = LOCAL_STAGE,
    context: dict[str, Any] | None = None,
) -> DeployedStack:

    from infra.local_deploy import deploy_assembly

    outdir = Path(workdir or tempfile.mkdtemp(prefix="clickguard-local-")) / "cdk.out"
    assembly, stack_name = synth_local(outdir, stage, context)
    session = emulator_session()
    outputs = deploy_assembly(assembly, stack_name, session=session, endpoint_url=emulator.endpoint_url)
    template = json.loads((assembly / f"{stack_name}.template.json").read_text())
    return DeployedStack(stack_name, outputs, template)
