"""Fixes for the embedded emulator's Kinesis (moto 5.2), applied only in this process.

Speed: moto's ``Shard.put_record`` finds the last sequence number with ``list(self.records.keys())[-1]`` and its
``get_records`` scans the shard from its first record on every call, so a day of traffic on one shard costs
O(n^2): the demo's 100,000-record day spent minutes inside those scans. Sequence numbers in a moto shard are
consecutive integers (each put is the last one + 1), so both become O(1) per record here. Behaviour is otherwise
the same, including ``MillisBehindLatest``.

Limits: moto refuses a record past 1 MiB in ``PutRecords`` but took one in ``PutRecord``; Kinesis refuses both, and
a producer tried locally must meet the error it will meet on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.kinesis.models import Record, Shard

_applied = False


def _get_max_sequence_number(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def _get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list[Record], int, int]:
    last = int(last_sequence_id)
    if not self.records:
        return [], last, 0
    newest = next(reversed(self.records))
    oldest = next(iter(self.records))
    results: list[Record] = []
    seq = max(last + 1, oldest)
    while seq <= newest and (limit is None or len(results) < limit):
        record = self.records.get(seq)
        if record is not None:
            results.append(record)
            last = seq
        seq += 1
    behind = self.records[newest].created_at - results[-1].created_at if results else 0.0
    return results, last, int(behind * 1000)


MAX_RECORD_BYTES = 1_048_576  # Kinesis: a record's data and partition key together


def _sized(put_record: Callable[..., Any]) -> Callable[..., Any]:
    def put(self: Any, stream_arn: str, stream_name: str, partition_key: str, explicit_hash_key: str, data: str) -> Any:
        from base64 import b64decode

        from moto.core.exceptions import JsonRESTError

        if len(b64decode(data)) + len(partition_key or "") > MAX_RECORD_BYTES:
            raise JsonRESTError(
                "ValidationException",
                "1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length "
                f"less than or equal to {MAX_RECORD_BYTES}",
            )
        return put_record(self, stream_arn, stream_name, partition_key, explicit_hash_key, data)

    return put


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.kinesis.models import KinesisBackend, Shard

    # Replacing the methods is the point of this module (mypy forbids assigning to a method).
    Shard.get_max_sequence_number = _get_max_sequence_number  # type: ignore[method-assign]
    Shard.get_records = _get_records  # type: ignore[method-assign]
    KinesisBackend.put_record = _sized(KinesisBackend.put_record)  # type: ignore[method-assign]
    _applied = True
