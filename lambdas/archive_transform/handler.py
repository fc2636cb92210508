"""Firehose data transformation: each archived record becomes canonical, personal-data-free NDJSON, decoded by the
consumer's own decoder (``clickguard.decoding.archive``), so the trainer reads the events the consumer scored.

Thin on purpose: the decoder's settings (formats, field mapping, inflate cap, user key source) are the consumer's
environment variables, validated at cold start; each invocation is one call into ``firehose_response``. Never logs a
record or a field of one: only counts.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from clickguard import settings
from clickguard.decoding import Decoder
from clickguard.decoding.archive import ArchiveStats, firehose_response
from clickguard.decoding.records import decode_config_from_env

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.ARCHIVE_TRANSFORM_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)

DECODER = Decoder(decode_config_from_env(os.environ))  # a bad setting fails the cold start, naming it


@logger.inject_lambda_context(log_event=False)  # never log payloads
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stats = ArchiveStats()
    response = firehose_response(event.get("records") or (), DECODER, stats)
    metrics.add_metric(settings.METRIC_RECORDS_IN, MetricUnit.Count, stats.records)
    metrics.add_metric(settings.METRIC_EVENTS_ARCHIVED, MetricUnit.Count, stats.events)
    metrics.add_metric(settings.METRIC_RECORDS_REJECTED, MetricUnit.Count, sum(stats.rejected.values()))
    metrics.add_metric(settings.METRIC_ARCHIVE_RECORDS_FAILED, MetricUnit.Count, stats.failed)
    if stats.failed:
        logger.warning("response budget reached: records handed back as ProcessingFailed", extra={"n": stats.failed})
    logger.info(
        "archived",
        extra={"records": stats.records, "events": stats.events, "rejected": dict(stats.rejected)},
    )
    return response
