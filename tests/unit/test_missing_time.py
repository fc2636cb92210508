"""An event whose record carries no time at all is read at the record's arrival on the stream (``missing_time``),
in every format, by the consumer and the archive alike; a time that is there but wrong keeps its verdict."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from clickguard.consumer.admission import admit
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.kinesis_event import arrival_ms, decode_event, decode_one_by_one
from clickguard.decoding import DecodeConfig, Decoder, MissingTime
from clickguard.decoding.archive import ArchiveStats, firehose_response
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import Event
from clickguard.model.sessions import late_events
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import MAX_FUTURE_SKEW_MS, parse_timestamp, time_if_missing
from tests.consumer_support import FakeFlags, FakeModel, FakeRejected, FakeSessions, config, make_model, to_records

ARRIVAL = 1_763_700_000_123
UNTIMED = {"userid": "u1", "event": "view"}


def results(data: bytes, arrival: int | None = ARRIVAL, **kw) -> list[Event | RejectedRecord]:
    return [item.result for item in Decoder(DecodeConfig(**kw)).items(data, arrival)]


def test_an_event_without_a_time_is_read_at_its_record_s_arrival():
    assert results(json.dumps(UNTIMED).encode()) == [Event("u1", "view", ARRIVAL)]
    (rejected,) = results(json.dumps(UNTIMED).encode(), missing_time=MissingTime.REJECT)
    assert isinstance(rejected, RejectedRecord) and rejected.reason is Reason.MISSING_TIMESTAMP
    (no_arrival,) = results(json.dumps(UNTIMED).encode(), arrival=0)  # an event source that gave none: no guess
    assert isinstance(no_arrival, RejectedRecord) and no_arrival.reason is Reason.MISSING_TIMESTAMP


def test_a_time_that_is_there_but_wrong_keeps_its_verdict():
    (got,) = results(json.dumps({**UNTIMED, "time": "yesterday"}).encode())
    assert isinstance(got, RejectedRecord) and got.reason is Reason.BAD_TIMESTAMP


@pytest.mark.parametrize(
    "record",
    [
        gzip.compress(b'{"user_id": "u1", "event_type": "view"}\n{"user_id": "u1", "event_type": "view"}', mtime=0),
        json.dumps({"userId": "u1", "type": "track", "event": "view", "messageId": "m-1"}).encode(),
        base64.b64encode(json.dumps(UNTIMED).encode()),
    ],
    ids=["gzip_ndjson", "segment", "base64"],
)
def test_every_format_reads_its_untimed_events_at_the_arrival(record):
    got = results(record)
    assert got and all(isinstance(ev, Event) and ev.ts_ms == ARRIVAL for ev in got)


def test_in_a_record_of_several_events_only_those_without_a_time_take_the_arrival():
    lines = [json.dumps({**UNTIMED, "time": 1_763_699_000}), json.dumps(UNTIMED)]
    got = results("\n".join(lines).encode())
    assert [ev.ts_ms for ev in got if isinstance(ev, Event)] == [1_763_699_000_000, ARRIVAL]


def test_a_field_mapping_s_absent_time_is_read_at_the_arrival_too():
    mapping = FieldMapping.parse(json.dumps({"user_key": "actor", "event_type": "verb", "time": "at"}))
    assert results(b'{"actor": "a", "verb": "login"}', mapping=mapping) == [Event("a", "login", ARRIVAL)]


def test_the_default_time_holds_only_inside_its_block():
    with pytest.raises(RuntimeError), time_if_missing(ARRIVAL):
        assert parse_timestamp(None) == ARRIVAL
        raise RuntimeError
    with pytest.raises(RejectedRecord):
        parse_timestamp(None)


def test_the_consumer_counts_the_records_it_timed_by_arrival_and_scores_them():
    records = to_records([json.dumps({"user_id": "u1", "event_type": e}).encode() for e in ("a", "b", "c")])
    deps = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()))
    out = process_batch(records, deps, config())
    assert (out.timed_by_arrival, out.applied, sum(out.rejected.values())) == (3, 3, 0)
    out = process_batch(
        to_records([json.dumps(UNTIMED).encode()], seq0=10**9), deps, config(missing_time=MissingTime.REJECT)
    )
    assert (out.timed_by_arrival, dict(out.rejected)) == (0, {"missing_timestamp": 1})


def test_the_lambda_event_s_arrival_is_the_millisecond_it_names_on_both_paths():
    """``1545084650.987 * 1000`` is ``1545084650986.9998``: truncated, the consumer would read a millisecond before
    the one the archive's Firehose metadata gives."""
    record = {"kinesis": {"data": "e30=", "sequenceNumber": "1", "approximateArrivalTimestamp": 1545084650.987}}
    event = {"Records": [{**record, "eventID": "shardId-000000000000:1"}]}
    assert decode_event(event)[0].arrival_ms == decode_one_by_one(event)[0].arrival_ms == 1545084650987
    assert arrival_ms(datetime.fromtimestamp(1545084650.987, tz=UTC)) == arrival_ms(1545084650.987) == 1545084650987


def test_the_archive_s_transformation_reads_the_kinesis_arrival_from_firehose_s_metadata():
    data = base64.b64encode(json.dumps(UNTIMED).encode()).decode()
    records = [
        {"recordId": "1", "data": data, "approximateArrivalTimestamp": ARRIVAL + 9_000,
         "kinesisRecordMetadata": {"approximateArrivalTimestamp": ARRIVAL}},
        {"recordId": "2", "data": data, "approximateArrivalTimestamp": ARRIVAL + 9_000},  # Direct PUT: Firehose's own
    ]  # fmt: skip
    response = firehose_response(records, Decoder(), ArchiveStats())
    lines = [json.loads(base64.b64decode(r["data"])) for r in response["records"]]
    assert [line["timestamp"] for line in lines] == [ARRIVAL, ARRIVAL + 9_000]


def test_an_event_dated_ahead_is_archived_at_the_time_the_consumer_counts_it_at():
    """The consumer reads an event dated an hour ahead of its arrival at arrival + 5 minutes; archived as dated, the
    trainer saw its user's latest time jump an hour and dropped their next hour as late (a tester's stream: 1,098
    such events, 0.6% of it, had 19.5% of the window dropped), while the consumer dropped none."""
    arrivals = [ARRIVAL, ARRIVAL + 30_000, ARRIVAL + 60_000, ARRIVAL + 90_000]
    times = [ARRIVAL, ARRIVAL + 3_600_000, ARRIVAL + 60_000, ARRIVAL + 90_000]  # the second: an hour ahead
    bodies = [json.dumps({"user_id": "u1", "event_type": "view", "timestamp": t}).encode() for t in times]
    records = [
        {"recordId": str(i), "data": base64.b64encode(body).decode(),
         "kinesisRecordMetadata": {"approximateArrivalTimestamp": arrival}}
        for i, (body, arrival) in enumerate(zip(bodies, arrivals, strict=True))
    ]  # fmt: skip
    response = firehose_response(records, Decoder(), ArchiveStats())
    archived = [json.loads(base64.b64decode(r["data"]))["timestamp"] for r in response["records"]]
    assert archived == [ARRIVAL, ARRIVAL + 30_000 + MAX_FUTURE_SKEW_MS, ARRIVAL + 60_000, ARRIVAL + 90_000]
    kinesis = [r._replace(arrival_ms=a) for r, a in zip(to_records(bodies), arrivals, strict=True)]
    adm = admit(kinesis, [Decoder().decode(b) for b in bodies], {}, 1_800_000)
    assert adm.ts_ms == archived and (adm.late, adm.clamped) == (0, 1)
    assert not late_events(np.zeros(4, np.int64), np.array(archived, np.int64), 1_800_000).any()  # the trainer's rule
