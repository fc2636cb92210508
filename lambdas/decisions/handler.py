"""Decisions Lambda: reviewers' decisions from the decisions queue -> the decision log (labels/) and the allow-list.

Thin on purpose: configuration is validated and the client created once at cold start; each invocation is one
call into ``clickguard.review.recorder.record_batch``, which returns the partial-batch response (the event source
mapping has ``ReportBatchItemFailures``: only the failed messages come back, and on the FIFO queue the later
messages of a failed user with them). Logs carry message ids, reasons and counts, never a decision's content
(user keys, reviewers' names and words stay in the log bucket).
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from clickguard import settings
from clickguard.review.config import DecisionsConfig
from clickguard.review.recorder import RecorderDeps, RecordOutcome, record_batch
from clickguard.review.sqs_event import decode_event
from clickguard.store.allowlist import S3AllowListStore
from clickguard.store.decisions import S3DecisionLog, S3RejectedDecisions

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.DECISIONS_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

CONFIG = DecisionsConfig.from_env()  # a bad setting fails the cold start with a message naming it
S3 = boto3.client(
    "s3", config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
)
DEPS = RecorderDeps(
    log=S3DecisionLog(S3, CONFIG.bucket, CONFIG.decisions_prefix),
    rejected=S3RejectedDecisions(S3, CONFIG.bucket, CONFIG.rejected_prefix),
    allowlist=S3AllowListStore(S3, CONFIG.bucket, CONFIG.allowlist_key),
)


def record_metrics(out: RecordOutcome) -> None:
    metrics.add_metric(settings.METRIC_DECISIONS_RECORDED, MetricUnit.Count, sum(out.recorded.values()))
    for decision, n in out.recorded.items():  # a metric of its own: dimensions apply to a whole EMF document
        with single_metric(
            name=settings.METRIC_DECISIONS_RECORDED,
            unit=MetricUnit.Count,
            value=n,
            namespace=settings.METRICS_NAMESPACE,
        ) as per_decision:
            per_decision.add_dimension(name="service", value=SERVICE)
            per_decision.add_dimension(name="decision", value=decision)
    metrics.add_metric(settings.METRIC_DECISIONS_REJECTED, MetricUnit.Count, sum(out.rejected.values()))
    metrics.add_metric("DecisionsDuplicate", MetricUnit.Count, out.duplicates)
    metrics.add_metric("DecisionsFailed", MetricUnit.Count, len(out.failed))
    metrics.add_metric("AllowListConflicts", MetricUnit.Count, out.allowlist_conflicts)
    if out.allowlist_entries is not None:
        metrics.add_metric("AllowListEntries", MetricUnit.Count, out.allowlist_entries)


@logger.inject_lambda_context(log_event=False)  # never log decisions: user keys, reviewers' names and words
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    messages = decode_event(event)
    out = record_batch(messages, DEPS, CONFIG.policy, int(time.time() * 1000))
    record_metrics(out)
    for reason, n in out.rejected.items():
        logger.warning("decision messages rejected: kept under the rejected prefix", extra={"reason": reason, "n": n})
    if out.failed:
        logger.error("decisions not recorded; SQS will redeliver", extra={"failed": out.failed, "errors": out.errors})
    logger.info(
        "batch done",
        extra={
            "messages": len(messages),
            "recorded": dict(out.recorded),
            "duplicates": out.duplicates,
            "allowlist_entries": out.allowlist_entries,
            "allowlist_written": out.allowlist_written,
        },
    )
    return out.response()
