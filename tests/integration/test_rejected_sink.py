"""The rejected-records sink on moto: each bad part of a record that holds several events is its own object, and a
replay rewrites exactly the same objects."""

from __future__ import annotations

import hashlib
import json

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.store.rejected import S3RejectedSink
from tests.consumer_support import SEQ0, SHARD, T0, FakeFlags, FakeModel, FakeSessions, config, make_model

PREFIX = "rejected/"
GOOD = {"user_id": "u1", "event_type": "search", "timestamp": T0 / 1000}
NO_TYPE = {"user_id": "u2", "timestamp": T0 / 1000}
BAD_TIME = {"user_id": "u3", "event_type": "chat", "timestamp": "yesterday"}


def aggregate(payloads: list[dict]) -> bytes:
    agg = RecordAggregator()
    for p in payloads:
        assert agg.add_user_record(p["user_id"], json.dumps(p).encode()) is None
    return agg.clear_and_get().get_contents()[2]


def record(data: bytes, seq: int = SEQ0) -> KinesisRecord:
    return KinesisRecord(SHARD, seq, str(seq), "x", data, T0)


def sink_objects(s3, bucket) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def run(s3, bucket):
    sink = S3RejectedSink(s3, bucket, PREFIX, "rejected-payloads/")

    def go(recs: list[KinesisRecord]):
        out = process_batch(recs, Deps(FakeSessions(), FakeFlags(), sink, FakeModel(make_model())), config())
        assert out.failures == [] and not out.sink_failed
        return sink_objects(s3, bucket)

    return go


def test_two_bad_parts_of_one_aggregate_are_two_objects_each_naming_its_part(run):
    objects = run([record(aggregate([GOOD, NO_TYPE, GOOD, BAD_TIME]))])
    assert sorted(k.rsplit("/", 1)[1] for k in objects) == [f"{SEQ0}-1.json", f"{SEQ0}-3.json"]
    docs = {k.rsplit("/", 1)[1]: json.loads(v) for k, v in objects.items()}
    first, second = docs[f"{SEQ0}-1.json"], docs[f"{SEQ0}-3.json"]
    assert (first["reason"], first["sub_record"]) == ("missing_event_type", 1)
    assert (second["reason"], second["sub_record"]) == ("bad_timestamp", 3)
    assert first["sequence_number"] == second["sequence_number"] == str(SEQ0)
    assert first["sha256"] == hashlib.sha256(json.dumps(NO_TYPE).encode()).hexdigest()
    assert second["sha256"] == hashlib.sha256(json.dumps(BAD_TIME).encode()).hexdigest()


def test_a_replayed_aggregate_rewrites_the_same_keys_with_the_same_bytes(run):
    recs = [record(aggregate([NO_TYPE, GOOD, BAD_TIME])), record(b"not json", SEQ0 + 1000)]
    first = run(recs)
    assert run(recs) == first
    names = {k.rsplit("/", 1)[1] for k in first}
    assert names == {f"{SEQ0}.json", f"{SEQ0}-2.json", f"{SEQ0 + 1000}.json"}


def test_a_record_rejected_whole_keeps_its_sequence_number_as_key_and_part_zero(run):
    objects = run([record(b"not json")])
    ((key, body),) = objects.items()
    assert key.endswith(f"/{SHARD}/{SEQ0}.json")
    assert json.loads(body)["sub_record"] == 0
