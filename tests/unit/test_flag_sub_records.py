"""Flags fired inside a record that holds several events name the event's part of the record (``source.sub_record``)
and hash it into ``flag_id``; flags of one-event records keep the message and id they always had."""

from __future__ import annotations

import hashlib
import json

from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.timestamps import parse_timestamp
from tests.consumer_support import (
    SEQ0,
    SHARD,
    FakeFlags,
    FakeModel,
    FakeRejected,
    FakeSessions,
    config,
    event_stream,
    make_model,
    to_records,
)

# Users of kind 3 (every other login fails) and 4 (floods): each fires more than once over its events.
PAYLOADS = [e for e in event_stream() if e["user_id"] in ("u3", "u4", "u8")]


def aggregate(payloads: list[dict]) -> bytes:
    agg = RecordAggregator()
    for p in payloads:
        assert agg.add_user_record(p["user_id"], json.dumps(p).encode()) is None
    return agg.clear_and_get().get_contents()[2]


def flags_of(records: list[KinesisRecord]) -> list[dict]:
    d = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()))
    assert process_batch(records, d, config()).failures == []
    return [json.loads(f.body) for f in d.flags.sent]


def test_flags_fired_inside_one_aggregate_name_their_sub_record_and_never_share_an_id():
    arrival = int(max(p["timestamp"] for p in PAYLOADS) * 1000) + 500
    flags = flags_of([KinesisRecord(SHARD, SEQ0, str(SEQ0), "x", aggregate(PAYLOADS), arrival)])
    assert len(flags) >= 3
    for f in flags:
        assert f["source"]["sequence_number"] == str(SEQ0)
        sub = f["source"]["sub_record"]
        assert sub > 0 and PAYLOADS[sub]["user_id"] == f["user_key"]  # the event it fired on, by its index
    assert len({f["source"]["sub_record"] for f in flags}) == len(flags)
    assert len({f["flag_id"] for f in flags}) == len(flags)


def test_flags_of_one_event_records_keep_their_source_and_id():
    flags = flags_of(to_records(PAYLOADS))
    assert flags
    for f in flags:
        assert set(f["source"]) == {"shard_id", "sequence_number"}
        key = "\x1f".join(
            (
                f["user_key"],
                str(parse_timestamp(f["first_event_time"])),
                ",".join(sorted(f["reasons"])),
                f["source"]["shard_id"],
                f["source"]["sequence_number"],
            )
        )
        assert f["flag_id"] == hashlib.sha256(key.encode()).hexdigest()[:32]


def test_the_same_events_aggregated_or_not_fire_the_same_flags_apart_from_their_place():
    arrival = int(max(p["timestamp"] for p in PAYLOADS) * 1000) + 500
    packed = flags_of([KinesisRecord(SHARD, SEQ0, str(SEQ0), "x", aggregate(PAYLOADS), arrival)])
    single = flags_of(to_records(PAYLOADS))

    def what(flags: list[dict]) -> list[tuple]:
        return [(f["user_key"], f["last_event_time"], tuple(f["reasons"]), f["score"]) for f in flags]

    assert what(packed) == what(single)
