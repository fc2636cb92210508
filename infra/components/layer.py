"""The shared Lambda layer: clickguard + numpy + Powertools, built by layers/build_layer.py without Docker."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import ConfigError, StackConfig
from layers.build_layer import build_layer

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


def layer_directory(config: StackConfig) -> Path:
    """The directory to ship: a given one, the stub (no pip), or the real cached build (the default)."""
    if config.layer_dir:
        path = Path(config.layer_dir).resolve()
        if not (path / "python").is_dir():
            raise ConfigError(f"layer_dir={config.layer_dir!r} has no python/ directory")
        return path
    return build_layer(stub=config.stub_layer)


class SharedLayer(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StackConfig) -> None:
        super().__init__(scope, id)
        path = layer_directory(config)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(path)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"clickguard shared layer: package + pinned runtime deps ({path.name})",
        )
