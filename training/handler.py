"""Scheduled training Lambda: EventBridge -> rebuild the model from the archive window -> S3.

Thin on purpose: configuration is validated once at cold start, then one call into ``clickguard.training.job``.
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
from clickguard.store.trainer import s3_trainer_ports
from clickguard.training.job import TrainingConfig, TrainingReport, outcome_metrics, run_training

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.TRAINER_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

CONFIG = TrainingConfig.from_env()  # a bad setting fails the cold start with a message naming it
S3 = boto3.client("s3")
PORTS = s3_trainer_ports(S3, CONFIG)


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The rule's scheduled time makes two runs of the same invocation train on the same window."""
    raw = event.get("time") if isinstance(event, dict) else None
    if raw:
        try:
            return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            logger.warning("event time unparseable, using the clock", extra={"time": str(raw)[:40]})
    return datetime.now(UTC)


def record_metrics(report: TrainingReport) -> None:
    metrics.add_metric("ArchiveObjectsRead", MetricUnit.Count, report.objects_read)
    metrics.add_metric(settings.METRIC_TRAINING_SECONDS, MetricUnit.Seconds, report.seconds.get("total", 0.0))
    for name, value in outcome_metrics(report.as_dict()):
        metrics.add_metric(name, MetricUnit.Count, value)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_training(PORTS, CONFIG, scheduled_time(event))
    record_metrics(report)
    if report.status == "published":
        logger.info("model published", extra={"version": report.version, "stats": report.stats})
    elif report.status == "superseded":
        logger.warning(
            "model written but not made current: a newer model is published",
            extra={"version": report.version, "latest": report.latest, "reason": report.reason},
        )
    else:
        logger.warning("model not published; previous model kept", extra={"reason": report.reason})
    return report.as_dict()
