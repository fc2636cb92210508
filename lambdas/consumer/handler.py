"""Kinesis consumer Lambda: score a batch, keep session state in DynamoDB, send pre-block flags to SQS.

Thin on purpose: configuration is validated and clients are created once at cold start; each invocation is one
call into ``clickguard.consumer.batch.process_batch``, which returns the partial-batch response.

Threads: DynamoDB and SQS chunks run in a pool of 4. A 10,000-record batch of 1,000 users is 10 reads and 40
writes; 4 in flight cuts their latency about fourfold while staying within botocore's default pool of 10
connections per client and leaving the single vCPU (1,769 MB) to the scoring, which holds the GIL.
"""

from __future__ import annotations

import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from clickguard import settings
from clickguard.consumer.batch import BatchOutcome, Deps, process_batch
from clickguard.consumer.config import ConsumerConfig, StateWrites
from clickguard.consumer.kinesis_event import decode_event
from clickguard.gc_pause import no_cyclic_gc
from clickguard.store.allowlist import S3AllowListSource
from clickguard.store.flags import SqsFlagQueue
from clickguard.store.groups import DynamoGroupCounter
from clickguard.store.model_source import S3ModelSource
from clickguard.store.network import DynamoNetworkStore
from clickguard.store.rejected import S3RejectedSink
from clickguard.store.retry import IN_FLIGHT
from clickguard.store.sessions import DynamoSessionStore

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or settings.CONSUMER_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=settings.METRICS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)  # patches botocore: every AWS call below is a traced subsegment

CONFIG = ConsumerConfig.from_env()  # a bad setting fails the cold start with a message naming it
# Standard retry mode absorbs short throttling per call; short timeouts keep a stuck call from eating the batch and
# bound how long one call can take: no state write starts with less than that left, so none outlives the invocation.
_BOTO = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
CALL_SECONDS_MAX = 3 * (2 + 5) + 1
DYNAMODB = boto3.client("dynamodb", config=_BOTO)
SQS = boto3.client("sqs", config=_BOTO)
S3 = boto3.client("s3", config=_BOTO)
POOL = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="aws")

SESSIONS = DynamoSessionStore(
    DYNAMODB,
    CONFIG.table_name,
    POOL,
    conditional=CONFIG.state_writes is StateWrites.CONDITIONAL,
    min_seconds_left=CALL_SECONDS_MAX,
)
FLAGS = SqsFlagQueue(SQS, CONFIG.flag_queue_url, POOL)
MODEL = S3ModelSource(S3, CONFIG.model_bucket, CONFIG.model_refresh_seconds, logger=logger)
REJECTED = S3RejectedSink(
    S3, CONFIG.data_bucket, CONFIG.rejected_prefix, CONFIG.rejected_payload_prefix, CONFIG.keep_payloads, POOL
)
ALLOWLIST = S3AllowListSource(S3, CONFIG.model_bucket, CONFIG.model_refresh_seconds, logger=logger)
GROUPS = DynamoGroupCounter(DYNAMODB, CONFIG.table_name, POOL)  # the campaign alert's counters, same table
# Seed 003's network state, when the stack has a network table (CONFIG.network is set from its name).
NETWORK = (
    DynamoNetworkStore(DYNAMODB, os.environ[settings.ENV_NETWORK_TABLE_NAME], POOL, min_seconds_left=CALL_SECONDS_MAX)
    if CONFIG.network is not None
    else None
)
DEPS = Deps(SESSIONS, FLAGS, REJECTED, MODEL, ALLOWLIST, GROUPS, NETWORK)
MODEL.current()  # load the model and the allow-list during the cold start, not inside the first batch
ALLOWLIST.current()
# Everything built so far lives as long as the container: move it out of the collector's sight, so the full
# collections that a 10,000-record batch triggers stop walking boto3's and Powertools' object graphs each time.
gc.freeze()


def record_metrics(out: BatchOutcome, dynamodb_calls: int, seconds: float) -> None:
    add = metrics.add_metric
    add(settings.METRIC_RECORDS_IN, MetricUnit.Count, out.records_in)
    add(settings.METRIC_RECORDS_REJECTED, MetricUnit.Count, sum(out.rejected.values()))
    for reason, n in out.rejected.items():  # a metric of its own: dimensions apply to a whole EMF document
        with single_metric(
            name=settings.METRIC_RECORDS_REJECTED, unit=MetricUnit.Count, value=n, namespace=settings.METRICS_NAMESPACE
        ) as per_reason:
            per_reason.add_dimension(name="service", value=SERVICE)
            per_reason.add_dimension(name="reason", value=reason)
    add(settings.METRIC_EVENTS_IN, MetricUnit.Count, out.events_in)
    add(settings.METRIC_EVENTS_APPLIED, MetricUnit.Count, out.applied)
    add(settings.METRIC_RECORDS_UNSCORED, MetricUnit.Count, out.unscored)
    add(settings.METRIC_RECORDS_INTERNAL_ERROR, MetricUnit.Count, len(out.internal_errors))
    add(settings.METRIC_RECORDS_CLAMPED, MetricUnit.Count, out.clamped)
    add(settings.METRIC_RECORDS_REPLAYED, MetricUnit.Count, out.replayed)
    add(settings.METRIC_DUPLICATE_EVENT_IDS, MetricUnit.Count, out.duplicate_ids)
    add(settings.METRIC_LATE_RECORDS, MetricUnit.Count, out.late)
    add(settings.METRIC_RECORDS_TIMED_BY_ARRIVAL, MetricUnit.Count, out.timed_by_arrival)  # missing_time
    add(settings.METRIC_FLAGS_SENT, MetricUnit.Count, out.flags_sent)
    add("FlagsFailed", MetricUnit.Count, out.flags_failed)
    add("GroupBuckets", MetricUnit.Count, out.group_buckets)  # campaign buckets counted: one UpdateItem each
    add("GroupFlagsSent", MetricUnit.Count, out.group_flags_sent)
    add(settings.METRIC_FLAGS_SUPPRESSED, MetricUnit.Count, out.flags_suppressed)  # allowed by reviewers: silenced
    add("NetworkEvents", MetricUnit.Count, out.network_events)  # seed 003: purchases and friendships applied
    add("NetworkEventsIncomplete", MetricUnit.Count, out.network_incomplete)
    add(settings.METRIC_PURCHASE_FLAGS_SENT, MetricUnit.Count, out.network_flags_sent)
    add("PurchaseFlagsFailed", MetricUnit.Count, out.network_flags_failed)
    add(settings.METRIC_USERS_IN_BATCH, MetricUnit.Count, out.users)
    add("UsersFailed", MetricUnit.Count, out.users_failed)
    add(settings.METRIC_DYNAMODB_CALLS, MetricUnit.Count, dynamodb_calls)
    add(settings.METRIC_BATCH_DURATION, MetricUnit.Milliseconds, seconds * 1000)
    if out.model_age_seconds is not None:
        add(settings.METRIC_MODEL_AGE, MetricUnit.Seconds, out.model_age_seconds)


@logger.inject_lambda_context(log_event=False)  # never log payloads
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    t0 = time.perf_counter()
    calls_before = SESSIONS.get_calls + SESSIONS.write_calls + GROUPS.calls
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    SESSIONS.time_left = (lambda: remaining_ms() / 1000) if remaining_ms else None
    if NETWORK is not None:
        NETWORK.time_left = SESSIONS.time_left
    with no_cyclic_gc():
        out = consume(event)  # its records are freed on return, before the collector is back
    seconds = time.perf_counter() - t0
    record_metrics(out, SESSIONS.get_calls + SESSIONS.write_calls + GROUPS.calls - calls_before, seconds)
    log_outcome(out)
    logger.info(
        "batch done",
        extra={
            "records": out.records_in,
            "users": out.users,
            "flags_sent": out.flags_sent,
            "model_version": out.model_version,
            "ms": round(seconds * 1000, 1),
        },
    )
    return out.response()


def consume(event: dict[str, Any]) -> BatchOutcome:
    """The batch's outcome. The caller pauses the collector around it; the batch's objects must be freed before it
    resumes, or the count of objects made while it was paused sets off a collection that walks the 10,000 records
    still alive, to free none of them (2-5 ms a batch, measured with ``gc.callbacks``)."""
    records = decode_event(event)
    if records:
        logger.append_keys(shard_id=records[0].shard_id, first_sequence_number=records[0].seq_str)
    return process_batch(records, DEPS, CONFIG)


def log_outcome(out: BatchOutcome) -> None:
    """What an operator must see; never a payload or a field of one (the rejection detail stays in the sink)."""
    for seq, reason in out.rejected_log:
        logger.warning("record rejected", extra={"sequence_number": seq, "reason": reason})
    for err in out.internal_errors:
        logger.error(
            "record failed the consumer: kept in the rejected sink as internal_error",
            extra={
                "sequence_number": err.sequence_number,
                "error_id": err.error_id,
                "error_type": err.error_type,
                "where": list(err.where),
            },
        )
    if out.model_version is None:
        logger.warning("no model: batch kept session state but scored nothing", extra={"unscored": out.unscored})
    if out.failures:
        logger.error(
            "batch partly uncommitted; Lambda will retry from the checkpoint",
            extra={"checkpoint": out.failures[0], "users_failed": out.users_failed, "sink_failed": out.sink_failed},
        )
