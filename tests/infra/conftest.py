"""Synthesize the stack once per test session (per flavour); every infra test reads these assemblies."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner per process on this machine's Node 20 unless silenced (both spellings: deprecated / EOL).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Synth:
    outdir: Path
    stack_name: str
    template: dict[str, Any]
    config: Any

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_name}


@pytest.fixture(scope="session")
def layer_dir() -> str:
    """The real layer by default (cached under build/layer/); the stub when CLICKGUARD_STUB_LAYER=1."""
    from layers.build_layer import build_layer

    if os.environ.get("CLICKGUARD_STUB_LAYER", "") in {"1", "true"}:
        return str(build_layer(stub=True))
    try:
        return str(build_layer())
    except RuntimeError as exc:  # no index reachable: template tests do not depend on the layer's contents
        warnings.warn(f"real layer unavailable, using the stub: {str(exc)[:200]}", stacklevel=1)
        return str(build_layer(stub=True))


def _synth(tmp_root: Path, layer: str, **context: Any) -> Synth:
    from infra.app import build_app

    outdir = tmp_root / ("local" if context.get("local") else "aws")
    app, stack = build_app(context={"layer_dir": layer, **context}, outdir=str(outdir))
    app.synth()  # raises if cdk-nag reports an unacknowledged error
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(outdir, stack.stack_name, template, stack.config)


@pytest.fixture(scope="session")
def synth_aws(tmp_path_factory: pytest.TempPathFactory, layer_dir: str) -> Synth:
    return _synth(tmp_path_factory.mktemp("cdk"), layer_dir, alarm_email="ops@example.com")


@pytest.fixture(scope="session")
def synth_local(tmp_path_factory: pytest.TempPathFactory, layer_dir: str) -> Synth:
    return _synth(tmp_path_factory.mktemp("cdk"), layer_dir, local=True)


@pytest.fixture(scope="session")
def template(synth_aws: Synth):
    from aws_cdk.assertions import Template

    return Template.from_json(synth_aws.template)
