"""Fixes for the embedded emulator's Kinesis (moto 5.2), applied only in this process.

Speed: moto's ``Shard.put_record`` finds the last sequence number with ``list(self.records.keys())[-1]`` and its
``get_records`` scans the shard from its first record on every call, so a day of traffic on one shard costs
O(n^2): the demo's 100,000-record day spent minutes inside those scans. Sequence numbers in a moto shard are
consecutive integers (each put is the last one + 1), so both become O(1) per record here. Behaviour is otherwise
the same, including ``MillisBehindLatest``.

Limits: moto refuses a record past 1 MiB in ``PutRecords`` but took one in ``PutRecord``; Kinesis refuses both, and
a producer tried locally must meet the error it will meet on AWS.

Per request: moto's server lists its own package's folders (``os.listdir`` and an ``isdir`` each, about 150) to
route every request, and its SQS computes every attribute of a queue, each over all its messages, three times per
message a receive looks at (the retention check) and twice per message sent: 8% and 5% of the demo's CPU. Here the
folder list is read once, and the retention check reads the one attribute it needs.

Memory: moto keeps a reference to every model object it ever made (``BaseModel.instances_tracked``, for its
dashboard), so a stream's records and every overwritten state item, SQS message and metric stayed alive for the
life of the stack. Here only S3's objects are tracked (moto's reset disposes of their spooled files through that
list); the rest go when moto lets go of them. ``trim_read`` drops a shard's records that its local readers are done
with (``local.runtime``), which moto never does: it applies no retention period.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.kinesis.models import Record, Shard

_applied = False


def _get_max_sequence_number(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def _get_min_sequence_number(self: Shard) -> int:
    return next(iter(self.records)) if self.records else 0


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


def _tracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    from moto.core.common_models import BaseModel

    instance = super(BaseModel, cls).__new__(cls)  # type: ignore[misc]
    if cls.__module__.startswith("moto.s3."):
        cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
    return instance


def trim_read(stream_arn: str, read_upto: dict[str, int], kept_after: float) -> int:
    """Drop each shard's records up to ``read_upto[shard_id]`` (a sequence number every local reader has passed) that
    arrived before ``kept_after`` (epoch seconds); a shard's newest record always stays, since moto numbers the next
    put from it. The caller holds the emulator's lock. Returns how many records went."""
    from moto.kinesis.models import kinesis_backends

    _, _, _, region, account, resource = stream_arn.split(":", 5)
    stream = kinesis_backends[account][region].streams.get(resource.split("/", 1)[1])
    dropped = 0
    for shard_id, upto in read_upto.items():
        shard = stream.shards.get(shard_id) if stream is not None else None
        records = shard.records if shard is not None else {}
        while len(records) > 1:
            seq, record = next(iter(records.items()))
            if seq > upto or record.created_at >= kept_after:
                break
            del records[seq]
            dropped += 1
    return dropped


def _within_retention(self: Any, queue_name: str, message: Any) -> bool:
    from moto.core.utils import unix_time

    period = int(self.get_queue(queue_name).message_retention_period)
    return bool(period + message.sent_timestamp / 1000 > unix_time())


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto import backends
    from moto.core.common_models import BaseModel
    from moto.kinesis.models import KinesisBackend, Shard
    from moto.sqs.models import SQSBackend

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]

    # Replacing the methods is the point of this module (mypy forbids assigning to a method).
    BaseModel.__new__ = staticmethod(_tracked_new)  # type: ignore[method-assign]
    Shard.get_min_sequence_number = _get_min_sequence_number  # type: ignore[method-assign]
    Shard.get_max_sequence_number = _get_max_sequence_number  # type: ignore[method-assign]
    Shard.get_records = _get_records  # type: ignore[method-assign]
    KinesisBackend.put_record = _sized(KinesisBackend.put_record)  # type: ignore[method-assign]
    _applied = True
