"""The local archive lists in the order it was written: many objects written within one second still give every
user's events back in arrival order when read in key order, as the trainer reads them."""

from __future__ import annotations

import gzip
import json

import boto3

from clickguard import settings
from clickguard.local.archiver import Archiver
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
