"""Performance fixes for the embedded emulator's Kinesis shards (moto 5.2), applied only in this process.

moto's ``Shard.put_record`` finds the last sequence number with ``list(self.records.keys())[-1]`` and its
``get_records`` scans the shard from its first record on every call, so a day of traffic on one shard costs
O(n^2): the demo's 100,000-record day spent minutes inside those scans. Sequence numbers in a moto shard are
consecutive integers (each put is the last one + 1), so both become O(1) per record here. Behaviour is otherwise
the same, including ``MillisBehindLatest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.kinesis.models import Shard

    # Replacing the methods is the point of this module (mypy forbids assigning to a method).
    Shard.get_max_sequence_number = _get_max_sequence_number  # type: ignore[method-assign]
    Shard.get_records = _get_records  # type: ignore[method-assign]
    _applied = True
