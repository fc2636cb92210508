"""The local stream lets go of what its readers are done with: moto applies no retention period and kept every
record a long run put (and, in its registry, every object it ever made), so a stack fed for hours grew without
bound. Records go only once both the consumer's mapping and the archiver have read them, and only once older than
``settings.LOCAL_READ_RECORDS_KEPT_SECONDS``; nothing either reader needs is lost, and numbering goes on."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from clickguard import settings
from clickguard.local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e


def _put(rt: LocalRuntime, users: range) -> list[int]:
    now_ms = int(time.time() * 1000) - 60_000
    out = rt.client("kinesis").put_records(
        StreamName=rt.handles.stream_name,
        Records=[
            {"Data": json.dumps({"user_id": f"u{u}", "event_type": "view", "timestamp": now_ms}).encode(),
             "PartitionKey": f"u{u}"}
            for u in users
        ],
    )  # fmt: skip
    return [int(r["SequenceNumber"]) for r in out["Records"]]


def _on_stream(rt: LocalRuntime) -> list[str]:
    """Every record a new TRIM_HORIZON reader finds, as an outside client (the AWS CLI) would read them."""
    kinesis, name = rt.client("kinesis"), rt.handles.stream_name
    users = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        for r in kinesis.get_records(ShardIterator=it["ShardIterator"], Limit=10_000)["Records"]:
            users.append(json.loads(r["Data"])["user_id"])
    return sorted(users)


def _archived_users(rt: LocalRuntime) -> list[str]:
    s3, bucket = rt.client("s3"), rt.handles.data_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=settings.ARCHIVE_PREFIX).get("Contents", [])]
    lines = b"".join(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys)
    return sorted(json.loads(line)["user_id"] for line in lines.splitlines())


def test_records_both_readers_are_done_with_are_dropped_and_the_stream_goes_on(tmp_path, monkeypatch):
    from moto.kinesis.models import Record
    from moto.s3.models import FakeKey

    with LocalRuntime(tmp_path / "stack") as rt:
        first = _put(rt, range(30))
        shards = len(rt.client("kinesis").list_shards(StreamName=rt.handles.stream_name)["Shards"])
        monkeypatch.setattr(settings, "LOCAL_READ_RECORDS_KEPT_SECONDS", 0)
        assert rt.archive() == 30  # archived, but the consumer has read nothing yet: all stay
        assert len(_on_stream(rt)) == 30
        rt.drain()
        dropped = rt.trim_stream()
        assert dropped == 30 - shards  # each shard keeps its newest record: moto numbers the next put from it
        assert len(_on_stream(rt)) == shards

        second = _put(rt, range(30, 40))
        assert min(second) > max(first)  # numbering goes on past the dropped records
        delivered = rt.esm.stats.records_delivered
        rt.drain()
        assert rt.esm.stats.records_delivered - delivered == 10  # the consumer reads exactly the new ones
        assert rt.archive() == 40  # records archived so far
        assert _archived_users(rt) == sorted(f"u{u}" for u in range(40))  # every event archived once

        # moto's registry keeps no stream record alive; S3's objects stay tracked (its reset disposes of them)
        assert Record.instances_tracked == []
        assert FakeKey.instances_tracked


def test_recent_records_stay_for_outside_readers(tmp_path):
    with LocalRuntime(tmp_path / "stack") as rt:
        _put(rt, range(12))
        rt.drain()
        assert rt.archive() == 12
        assert rt.trim_stream() == 0  # read by both, but younger than the kept period
        assert len(_on_stream(rt)) == 12
