"""A stand-in for the Kinesis Data Firehose archive, which moto's CloudFormation cannot create.

It reads every shard as its own consumer (as Firehose does), buffers records, plays the stack's data
transformation with the same function (``clickguard.decoding.archive.archive_lines``: each record, whatever its
format, becomes the canonical, personal-data-free lines of its events) and writes what Firehose writes for a GZIP
delivery stream with the stack's prefix: objects named ``<prefix>YYYY/MM/DD/HH/mmssSSS-<stream>-1-YYYY-MM-DD-HH-MM-SS-
<uuid>.gz`` in UTC by the first record's arrival time (``settings.ARCHIVE_ARRIVAL_PATTERN``: minutes, seconds and
milliseconds, as the stack's Firehose prefix names its objects). A record with no event (rejected, or a CloudWatch
control message) is dropped.

The trainer reads an hour's objects in key order, which must be the order they were written (a user's events in one
object come before those in the next): the name's time never goes back within a folder, and objects of one
millisecond (a fast local run writes several) keep their write order in the uuid, which starts with the object's
number (still a uuid's shape).
"""

from __future__ import annotations

import gzip
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickguard import settings
from clickguard.consumer.kinesis_event import arrival_ms
from clickguard.decoding import Decoder
from clickguard.decoding.archive import ArchiveStats as TransformStats
from clickguard.decoding.archive import archive_lines
from clickguard.store.archive import hour_prefix


@dataclass
class ArchiveStats:
    records: int = 0
    objects: int = 0


class Archiver:
    def __init__(
        self,
        kinesis: Any,
        s3: Any,
        stream_name: str,
        bucket: str,
        prefix: str = settings.ARCHIVE_PREFIX,
        buffer_records: int = 5_000,
        decoder: Decoder | None = None,
    ) -> None:
        self.kinesis, self.s3 = kinesis, s3
        self.stream_name, self.bucket, self.prefix = stream_name, bucket, prefix
        self.buffer_records = buffer_records
        self.stats = ArchiveStats()
        self.decoder = decoder or Decoder()
        self.transform = TransformStats()
        self._iterators: dict[str, str | None] = {}
        for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
            self._iterators[shard["ShardId"]] = kinesis.get_shard_iterator(
                StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        self._buffer: list[tuple[datetime, bytes]] = []
        self.read_upto: dict[str, int] = {}  # per shard, the last sequence number archived
        self._last_stamp: dict[str, datetime] = {}  # per hour folder: the time in the last object's name

    def flush_stream(self) -> ArchiveStats:
        """Read everything new on every shard and write it out (Firehose's buffer interval, compressed in time)."""
        read: dict[str, int] = {}
        for shard_id, iterator in list(self._iterators.items()):
            while iterator:
                out = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                iterator = out.get("NextShardIterator")
                for r in out["Records"]:
                    lines = archive_lines(
                        r["Data"], self.decoder, self.transform, arrival_ms(r["ApproximateArrivalTimestamp"])
                    )
                    if lines:
                        self._buffer.append((r["ApproximateArrivalTimestamp"].astimezone(UTC), lines))
                    if len(self._buffer) >= self.buffer_records:
                        self._write()
                if not out["Records"]:
                    break
                read[shard_id] = int(out["Records"][-1]["SequenceNumber"])
            self._iterators[shard_id] = iterator
        self._write()
        self.read_upto.update(read)  # written: the stream need not keep them for the archive
        return self.stats

    def _write(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort(key=lambda item: item[0])
        by_hour: dict[str, list[bytes]] = {}
        first_time: dict[str, datetime] = {}
        for arrival, data in self._buffer:
            folder = hour_prefix(self.prefix, arrival)  # the trainer lists exactly these folders
            by_hour.setdefault(folder, []).append(data)  # canonical lines, each newline-terminated
            first_time.setdefault(folder, arrival)
        for folder, lines in by_hour.items():
            t = self._last_stamp[folder] = max(first_time[folder], self._last_stamp.get(folder, first_time[folder]))
            ordered_uuid = f"{self.stats.objects:08x}{str(uuid.uuid4())[8:]}"  # write order, then random
            key = f"{folder}{arrival_name(t)}-{self.stream_name}-1-{t:%Y-%m-%d-%H-%M-%S}-{ordered_uuid}.gz"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(b"".join(lines)))
            self.stats.objects += 1
            self.stats.records += sum(chunk.count(b"\n") for chunk in lines)
        self._buffer.clear()


def arrival_name(t: datetime) -> str:
    """``settings.ARCHIVE_ARRIVAL_PATTERN`` (``mmssSSS``) of ``t``, as Firehose evaluates it in the stack's prefix."""
    return f"{t:%M%S}{t.microsecond // 1000:03d}"
