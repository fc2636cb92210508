"""The local archive lists in the order it was written: many objects written within one second still give every
user's events back in arrival order when read in key order, as the trainer reads them."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import boto3

from clickguard import settings
from clickguard.local.archiver import Archiver, arrival_name
from clickguard.store.archive import S3Archive, hour_prefix
from clickguard.training.dataset import EventColumns
from clickguard.training.ports import ArchiveStats
from tests.consumer_support import T0

STREAM, BUCKET = "events", "archive"


def test_objects_written_within_one_second_read_back_in_each_users_order(aws):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    events = [{"user_id": f"u{k % 7}", "event_type": "search", "timestamp": T0 + k} for k in range(1_500)]
    for lo in range(0, len(events), 500):
        kinesis.put_records(
            StreamName=STREAM,
            Records=[{"Data": json.dumps(e).encode(), "PartitionKey": e["user_id"]} for e in events[lo : lo + 500]],
        )
    archiver = Archiver(kinesis, s3, STREAM, BUCKET, buffer_records=50)
    archiver.flush_stream()
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=settings.ARCHIVE_PREFIX)["Contents"]
    keys = sorted(o["Key"] for o in listed)
    assert len(keys) == 30
    stamps = {k.rsplit("-", 5)[0][-19:] for k in keys}  # the names' times (YYYY-MM-DD-HH-MM-SS): objects share them
    assert len(stamps) < len(keys)
    read = [json.loads(line) for k in keys for line in gzip.decompress(s3.get_object(Bucket=BUCKET, Key=k)["Body"]
                                                                       .read()).splitlines()]  # fmt: skip
    assert [e["timestamp"] for e in read] == [e["timestamp"] for e in events]


def test_objects_firehose_writes_within_one_second_are_read_in_arrival_order(aws):
    """On AWS the name's own time has whole seconds and a random uuid follows it; the stack's prefix puts each
    object's oldest arrival, to the millisecond, first. Two objects of one second whose uuids sort the wrong way
    round still read back in arrival order (the user's session id changes between them: the order decides)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    second = datetime(2026, 11, 28, 10, 15, 42, tzinfo=UTC)
    objects = [  # (oldest arrival, uuid, events); the earlier object has the later uuid
        (
            second.replace(microsecond=120_000),
            "ffffffff-0000-4000-8000-000000000000",
            [("s1", "login"), ("s1", "view")],
        ),
        (second.replace(microsecond=870_000), "00000000-0000-4000-8000-000000000000", [("s2", "buy")]),
    ]
    for arrival, uid, evs in objects:
        folder = hour_prefix(settings.ARCHIVE_PREFIX, arrival)
        key = f"{folder}{arrival_name(arrival)}-clickguard-archive-1-{arrival:%Y-%m-%d-%H-%M-%S}-{uid}.gz"
        lines = [json.dumps({"user_id": "u1", "event_type": t, "timestamp": T0, "session_id": s}) for s, t in evs]
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress("\n".join(lines).encode() + b"\n"))
    cols = EventColumns()
    stats = ArchiveStats()
    cols.add_objects(S3Archive(s3, BUCKET, settings.ARCHIVE_PREFIX).bodies(second, second, stats), gzipped=False)
    assert cols.tokens == ["login", "view", "buy"] and cols.session_ids == ["s1", "s1", "s2"]
