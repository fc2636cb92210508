"""A Kinesis event source mapping played locally: poll each shard, invoke the real handler in-process.

moto wires Kinesis to Lambda one ``put_record`` at a time through Docker, with no batching or retries, so the local
runtime does what Lambda's poller does, with the mapping's own settings read from the deployed template:
batches up to ``BatchSize``, ``ReportBatchItemFailures`` (checkpoint at the lowest reported sequence number and
retry from there), ``BisectBatchOnFunctionError`` (split a failing batch in halves), ``MaximumRetryAttempts``,
``MaximumRecordAgeInSeconds`` and the on-failure destination (an SQS message with the batch's metadata, the shape
Lambda sends, so an operator can replay it). One invocation per shard at a time keeps per-key order, as a
``ParallelizationFactor`` of 1 does; a larger factor only changes throughput, not results.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickguard.consumer.kinesis_event import lambda_event

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class EsmSettings:
    batch_size: int = 100
    bisect_on_error: bool = False
    max_retry_attempts: int = -1  # -1: retry until the records expire, as Lambda does
    max_record_age_seconds: int = -1
    report_batch_item_failures: bool = False
    starting_position: str = "TRIM_HORIZON"
    on_failure_queue_url: str | None = None

    @classmethod
    def from_properties(cls, props: Mapping[str, Any], on_failure_queue_url: str | None) -> EsmSettings:
        """From an ``AWS::Lambda::EventSourceMapping`` resource's properties in the synthesized template."""
        return cls(
            batch_size=int(props.get("BatchSize", 100)),
            bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
            max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            max_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
            on_failure_queue_url=on_failure_queue_url,
        )


@dataclass
class EsmStats:
    invocations: int = 0
    records_delivered: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    bisections: int = 0
    batches_given_up: int = 0
    records_expired: int = 0
    seconds_in_handler: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: float) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class LambdaContext:
    """The attributes Powertools reads from a real context."""

    def __init__(self, function_name: str, memory_mb: int = 1024, timeout_s: int = 60) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = ""
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = 0.0
        self._timeout = timeout_s

    def start(self) -> LambdaContext:
        import uuid

        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + self._timeout
        return self

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class ShardPoller:
    """Reads one shard from its trim horizon (or latest) and delivers batches with Lambda's retry semantics."""

    def __init__(
        self,
        kinesis: Any,
        sqs: Any,
        stream_name: str,
        stream_arn: str,
        shard_id: str,
        handler: Handler,
        settings: EsmSettings,
        function_name: str,
        stats: EsmStats,
    ) -> None:
        self.kinesis, self.sqs = kinesis, sqs
        self.stream_name, self.stream_arn, self.shard_id = stream_name, stream_arn, shard_id
        self.handler, self.settings, self.function_name, self.stats = handler, settings, function_name, stats
        self._iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard_id, ShardIteratorType=settings.starting_position
        )["ShardIterator"]
        self.caught_up = False
        self.closed = False
        self.read_upto = 0  # the last sequence number delivered or given up on: the stream may drop what is before

    def poll_once(self) -> int:
        """One GetRecords and the delivery of what it returned; returns the number of records read."""
        if self._iterator is None:
            self.closed, self.caught_up = True, True
            return 0
        out = self.kinesis.get_records(ShardIterator=self._iterator, Limit=self.settings.batch_size)
        self._iterator = out.get("NextShardIterator")
        records = out["Records"]
        self.caught_up = not records and out.get("MillisBehindLatest", 0) == 0
        if records:
            self._deliver(self._drop_expired(records))
            self.read_upto = int(records[-1]["SequenceNumber"])
        return len(records)

    def _drop_expired(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = self.settings.max_record_age_seconds
        if limit < 0:
            return records
        oldest_allowed = time.time() - limit
        fresh: list[dict[str, Any]] = []
        expired: list[dict[str, Any]] = []
        for r in records:
            (fresh if r["ApproximateArrivalTimestamp"].timestamp() >= oldest_allowed else expired).append(r)
        if expired:
            self.stats.add(records_expired=len(expired))
            self._give_up(expired, "RecordAgeExceeded", 0)
        return fresh

    def _invoke(self, records: Sequence[dict[str, Any]]) -> tuple[bool, str | None]:
        """(ok, first failed sequence number). A raised error or a malformed response fails the whole batch."""
        event = lambda_event(records, self.shard_id, self.stream_arn)
        context = LambdaContext(self.function_name).start()
        t0 = time.perf_counter()
        try:
            response = self.handler(event, context)
        except Exception:
            self.stats.add(invocations=1, function_errors=1, seconds_in_handler=time.perf_counter() - t0)
            return False, None
        self.stats.add(invocations=1, records_delivered=len(records), seconds_in_handler=time.perf_counter() - t0)
        if not self.settings.report_batch_item_failures:
            return True, None
        failures = (response or {}).get("batchItemFailures") or [] if isinstance(response, dict) else []
        if not failures:
            return True, None
        seqs = {r["SequenceNumber"] for r in records}
        ids = [f.get("itemIdentifier") for f in failures]
        if any(i not in seqs for i in ids):
            return False, None  # Lambda treats an unknown identifier as a failure of the whole batch
        self.stats.add(partial_failures=1)
        return False, min(ids, key=int)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        attempts_left = self.settings.max_retry_attempts
        pending = [records]
        while pending:
            batch = pending.pop(0)
            if not batch:
                continue
            ok, failed_from = self._invoke(batch)
            if ok:
                continue
            if failed_from is not None:  # checkpoint before the failure, retry from it
                batch = [r for r in batch if int(r["SequenceNumber"]) >= int(failed_from)]
            if attempts_left == 0:
                self._give_up(batch, "RetryAttemptsExhausted", self.settings.max_retry_attempts)
                continue
            attempts_left -= 1 if attempts_left > 0 else 0
            if self.settings.bisect_on_error and failed_from is None and len(batch) > 1:
                half = len(batch) // 2
                self.stats.add(bisections=1)
                pending[:0] = [batch[:half], batch[half:]]
            else:
                pending.insert(0, batch)
            if self.settings.max_retry_attempts < 0 and self.settings.max_record_age_seconds < 0:
                time.sleep(0.05)  # unbounded retries locally: don't spin hot

    def _give_up(self, batch: Sequence[dict[str, Any]], condition: str, attempts: int) -> None:
        self.stats.add(batches_given_up=1)
        if not self.settings.on_failure_queue_url or not batch:
            return
        first, last = batch[0], batch[-1]
        context = LambdaContext(self.function_name).start()
        meta = {
            "requestContext": {
                "requestId": context.aws_request_id,
                "functionArn": context.invoked_function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts + 1,
            },
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first["ApproximateArrivalTimestamp"].isoformat(),
                "approximateArrivalOfLastRecord": last["ApproximateArrivalTimestamp"].isoformat(),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.settings.on_failure_queue_url, MessageBody=json.dumps(meta))


class EventSourceMapping:
    """All shards of a stream, each polled by its own thread (or stepped by ``drain`` in tests and the demo)."""

    def __init__(
        self,
        kinesis: Any,
        sqs: Any,
        stream_name: str,
        handler: Handler,
        settings: EsmSettings,
        function_name: str = "consumer",
    ) -> None:
        desc = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
        self.stats = EsmStats()
        self.stream_arn = desc["StreamARN"]
        self.pollers = [
            ShardPoller(
                kinesis, sqs, stream_name, desc["StreamARN"], s["ShardId"], handler, settings, function_name, self.stats
            )
            for s in shards
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def drain(self, max_rounds: int = 100_000) -> EsmStats:
        """Poll every shard until each has caught up with the tip of the stream."""
        for _ in range(max_rounds):
            read = sum(p.poll_once() for p in self.pollers)
            if read == 0 and all(p.caught_up for p in self.pollers):
                return self.stats
        raise RuntimeError("event source mapping did not catch up with the stream")

    def start(self, interval_s: float = 0.2) -> None:
        def loop(poller: ShardPoller) -> None:
            while not self._stop.is_set():
                try:
                    if poller.poll_once() == 0:
                        self._stop.wait(interval_s)
                except Exception:
                    self._stop.wait(interval_s)

        for p in self.pollers:
            t = threading.Thread(target=loop, args=(p,), name=f"esm-{p.shard_id}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
