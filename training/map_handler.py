"""Distributed training's map Lambda (issue 13): one batch of the Distributed Map over the window's partitions.

Thin on purpose: configuration is validated once at cold start, then one call into ``clickguard.training.steps``
with the batch (``{"Items": [partition indices], "BatchInput": {"run": ...}}``): each partition not cached yet is
decoded and compacted into its partial, next to the archive.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from clickguard import settings
from clickguard.store.blobs import S3Store
from clickguard.store.partition_objects import S3PartitionObjects
from clickguard.training import steps
from clickguard.training.distributed import DistributedConfig

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.TRAINING_MAP_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

CONFIG = DistributedConfig.from_env()
S3 = boto3.client("s3")
ARCHIVE = S3PartitionObjects(S3, CONFIG.training.data_bucket)
STORE = S3Store(S3, CONFIG.training.data_bucket)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    out = steps.map_step(ARCHIVE, STORE, str(event["BatchInput"]["run"]), [int(i) for i in event["Items"]])
    metrics.add_metric(settings.METRIC_PARTITIONS_MAPPED, MetricUnit.Count, out["mapped"])
    return out
