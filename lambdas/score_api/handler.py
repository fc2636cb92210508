"""Score API Lambda: ``POST /score`` behind a Function URL (IAM auth, payload format 2.0).

Thin on purpose: configuration is validated and clients are created once at cold start (the model is loaded then
too, so the first request does not pay for it); each invocation is one call into
``clickguard.api.service.ScoreService.handle``. Read-only: one BatchGetItem of the user's state, the conditional
re-checks of the model and of the allow-list on S3; nothing is ever written. Logs carry the status, the reason of
a refusal and counts, never the user key or anything of the body.

Timeouts are short: a caller waits on this answer, and a retry after a slow call beats a slow call. Reserved
concurrency (the stack) is the throttle: past it, Lambda answers 429 itself, before this code runs.
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
from clickguard.api.config import ScoreApiConfig
from clickguard.api.function_url import decode_event, encode_response
from clickguard.api.service import Answer, Policy, ScoreService
from clickguard.store.allowlist import S3AllowListSource
from clickguard.store.model_source import S3ModelSource
from clickguard.store.retry import Backoff
from clickguard.store.sessions import DynamoSessionStore

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.SCORE_API_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

CONFIG = ScoreApiConfig.from_env()  # a bad setting fails the cold start with a message naming it
_BOTO = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)
DYNAMODB = boto3.client("dynamodb", config=_BOTO)
S3 = boto3.client("s3", config=_BOTO)
# One key per request: a BatchGetItem leaves it unprocessed only under throttling; two quick retries, then a 503.
SESSIONS = DynamoSessionStore(DYNAMODB, CONFIG.table_name, backoff=Backoff(attempts=3, base_s=0.02, cap_s=0.1))
MODEL = S3ModelSource(S3, CONFIG.model_bucket, CONFIG.model_refresh_seconds, logger=logger)
# The reviewers' allow-list, as the consumer reads it: a user allowed for these reasons is not flagged again.
ALLOWLIST = S3AllowListSource(S3, CONFIG.model_bucket, CONFIG.model_refresh_seconds, logger=logger)
POLICY = Policy(CONFIG.flag_cooldown_seconds * 1000, CONFIG.user_key_source)
SCORER = ScoreService(SESSIONS, MODEL, POLICY, ALLOWLIST)
MODEL.current()  # load the model and the allow-list during the cold start, not inside the first request
ALLOWLIST.current()


def record_metrics(answer: Answer, ms: float) -> None:
    status = answer.response.status
    metrics.add_metric(settings.METRIC_SCORE_REQUESTS, MetricUnit.Count, 1)
    metrics.add_metric(settings.METRIC_SCORE_REFUSED, MetricUnit.Count, int(400 <= status < 500))
    metrics.add_metric(settings.METRIC_SCORE_UNAVAILABLE, MetricUnit.Count, int(status == 503))
    metrics.add_metric(settings.METRIC_SCORE_LATENCY, MetricUnit.Milliseconds, ms)
    reason = answer.response.reason
    if reason is not None and status < 500:  # a metric of its own: dimensions apply to a whole EMF document
        with single_metric(
            name=settings.METRIC_SCORE_REFUSED, unit=MetricUnit.Count, value=1, namespace=settings.METRICS_NAMESPACE
        ) as per_reason:
            per_reason.add_dimension(name="service", value=SERVICE)
            per_reason.add_dimension(name="reason", value=reason)


@logger.inject_lambda_context(log_event=False)  # never log the request: it names a user
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    t0 = time.perf_counter()
    request = decode_event(event)
    answer = SCORER.handle(request, int(time.time() * 1000))
    ms = (time.perf_counter() - t0) * 1000
    record_metrics(answer, ms)
    log_answer(answer, request.caller, ms)
    return encode_response(answer.response)


def log_answer(answer: Answer, caller: str | None, ms: float) -> None:
    """The status and what an operator needs; the caller is a service's IAM principal, not the scored user."""
    extra: dict[str, Any] = {"status": answer.response.status, "caller": caller, "ms": round(ms, 2)}
    if answer.response.reason is not None:
        extra["reason"] = answer.response.reason
        log = logger.warning if answer.response.status >= 500 else logger.info
        log("score request refused", extra=extra)
        return
    result = answer.score
    if result is not None:
        extra |= {
            "model_version": answer.model_version,
            "events_applied": result.events.applied,
            "fires": result.decision.fires,
            "stored": result.stored is not None,
        }
    logger.info("score answered", extra=extra)
