"""Distributed training's reduce Lambda (issue 13): the state machine's plan and advance steps.

Thin on purpose: configuration is validated once at cold start, then one call into ``clickguard.training.steps``:
``{"step": "plan", "time": ...}`` lists the window and decides the single pass or the map; ``{"step": "advance",
"run": ..., "pass": k}`` takes pass ``k``'s results (``null``: the map's) and issues the next pass or publishes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from clickguard import settings
from clickguard.store.blobs import S3Store
from clickguard.store.labels import S3Labels
from clickguard.store.partitions import S3Partitions
from clickguard.training import steps
from clickguard.training.distributed import DistributedConfig, DistributedPorts
from clickguard.training.job import outcome_metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.TRAINER_SERVICE  # it reports as the trainer
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

CONFIG = DistributedConfig.from_env()  # a bad setting fails the cold start with a message naming it
S3 = boto3.client("s3")
T = CONFIG.training
PORTS = DistributedPorts(
    archive=S3Partitions(S3, T.data_bucket, T.archive_prefix),
    partials=S3Store(S3, T.data_bucket),
    labels=S3Labels(S3, T.model_bucket),
    models=S3Store(S3, T.model_bucket),
)


def record_metrics(out: dict[str, Any]) -> None:
    for name, value in outcome_metrics(out["report"]):
        metrics.add_metric(name, MetricUnit.Count, value)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("step") == "plan":
        now = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).astimezone(UTC)
        out = steps.plan_step(PORTS, CONFIG, now)
        logger.info("training planned", extra={k: v for k, v in out.items() if k != "todo_key"})
        return out
    out = steps.advance_step(PORTS, str(event["run"]), event.get("pass"))
    if out["done"]:
        record_metrics(out)
        logger.info("training run finished", extra={"status": out["status"], "version": out["report"]["version"]})
        return {k: v for k, v in out.items() if k != "report"} | {"version": out["report"]["version"]}
    return out
