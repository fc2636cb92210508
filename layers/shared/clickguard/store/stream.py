"""Putting records on a Kinesis stream: PutRecords, 500 a call, retrying only the records that failed.

A PutRecords call succeeds as a whole even when some of its records are throttled: each failed entry carries an
``ErrorCode`` and the caller must resend exactly those. Resending changes their sequence numbers and can reorder
a user's events, which is why events carry a producer-assigned ``event_id`` the consumer dedupes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickguard.store.retry import Backoff

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


class PutFailed(RuntimeError):
    """Some records were still failing after every retry; ``failed`` says how many and ``codes`` why."""

    def __init__(self, failed: int, codes: dict[str, int]) -> None:
        super().__init__(f"{failed} records still failing after retries: {codes}")
        self.failed = failed
        self.codes = codes


@dataclass
class PutStats:
    records: int = 0
    calls: int = 0
    retried_records: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)


def producer_backoff(attempts: int = 8) -> Backoff:
    """Kinesis throttling lasts longer than DynamoDB's unprocessed items: start at 50 ms, cap at 2 s."""
    return Backoff(attempts=attempts, base_s=0.05, cap_s=2.0)


def put_batch(
    client: Any,
    stream_name: str,
    entries: Sequence[dict[str, Any]],
    stats: PutStats,
    backoff: Backoff | None = None,
) -> None:
    """Put up to 500 ``{"Data": bytes, "PartitionKey": str}`` entries; resend only the failed ones."""
    if len(entries) > MAX_RECORDS_PER_CALL:
        raise ValueError(f"{len(entries)} entries > {MAX_RECORDS_PER_CALL} per PutRecords call")
    pending = list(entries)
    for _ in (backoff or producer_backoff()).pauses():
        resp = client.put_records(StreamName=stream_name, Records=pending)
        stats.calls += 1
        if not resp.get("FailedRecordCount"):
            stats.records += len(pending)
            return
        retry = []
        for entry, result in zip(pending, resp["Records"], strict=True):
            code = result.get("ErrorCode")
            if code:
                retry.append(entry)
                stats.error_codes[code] = stats.error_codes.get(code, 0) + 1
        stats.records += len(pending) - len(retry)
        stats.retried_records += len(retry)
        pending = retry
    raise PutFailed(len(pending), dict(stats.error_codes))


def put_records_chunks(entries: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Group entries into PutRecords calls within both limits: 500 records and 5 MiB."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        n = len(entry["Data"]) + len(entry["PartitionKey"].encode())
        if n > MAX_RECORD_BYTES:
            raise ValueError(f"record for key {entry['PartitionKey'][:40]!r} is {n} bytes > 1 MiB")
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + n > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += n
    if batch:
        yield batch


class RateLimiter:
    """At most ``rate`` records per second on average (token bucket with a one-second burst)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.allowance = rate or 0.0
        self.last = clock()

    def acquire(self, n: int) -> None:
        if not self.rate:
            return
        now = self.clock()
        self.allowance = min(self.rate, self.allowance + (now - self.last) * self.rate)
        self.last = now
        self.allowance -= n
        if self.allowance < 0:
            wait = -self.allowance / self.rate
            self.sleep(wait)
            self.last = self.clock()
            self.allowance = 0.0


def produce(
    client: Any,
    stream_name: str,
    entries: Iterable[dict[str, Any]],
    *,
    rate: float | None = None,
    backoff: Backoff | None = None,
    on_progress: Callable[[PutStats], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PutStats:
    stats = PutStats()
    limiter = RateLimiter(rate, sleep=sleep)
    for batch in put_records_chunks(entries):
        limiter.acquire(len(batch))
        put_batch(client, stream_name, batch, stats, backoff)
        if on_progress:
            on_progress(stats)
    return stats
