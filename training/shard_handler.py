"""Distributed training's shard Lambda (issue 13): one shard's part of one pass, an item of the Distributed Map over
the shards.

Thin on purpose: configuration is validated once at cold start, then one call into ``clickguard.training.steps``
with ``{"run", "pass", "shard"}``: the shard's blocks of every partition are loaded, the pass computed, its result
written beside the run's other files (nothing done when it is already there).
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from clickguard import settings
from clickguard.store.blobs import S3Store
from clickguard.training import steps
from clickguard.training.distributed import DistributedConfig

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.TRAINING_SHARD_SERVICE
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

CONFIG = DistributedConfig.from_env()
STORE = S3Store(boto3.client("s3"), CONFIG.training.data_bucket)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return steps.shard_step(STORE, str(event["run"]), int(event["pass"]), int(event["shard"]))
