"""``clickguard produce --format``: every producer format carries the same events, each user's in order, and reads
back through the consumer's decoder as exactly those events."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.cli import producer_formats
from clickguard.decoding import Decoder
from clickguard.decoding.kpl import aggregate, deaggregate
from clickguard.events import Event, parse_record
from tests.factories import ordinary_events

EVENTS = [parse_record(json.dumps({**e, "event_id": f"e{i}", "session_id": "s1"})) for i, e in
          enumerate(ordinary_events(25, seed=4))]  # fmt: skip


def per_user(events):
    out = defaultdict(list)
    for ev in events:
        out[ev.user_key].append(ev)
    return dict(out)


def held(fmt: str, ev: Event) -> Event:
    """What a format can hold of an event: all of it, except an access log line (the action as a page, whole
    seconds, no session or event id), a Pinpoint record and a GA4 Measurement Protocol body (no event id), a Mixpanel
    event (no session) and an Amplitude upload's (its session named by its start in ms)."""
    if fmt in ("pinpoint", "ga4"):
        return ev._replace(event_id=None)
    if fmt == "amplitude":
        return ev._replace(session_id=str(min(e.ts_ms for e in EVENTS if (e.user_key, e.session_id) ==
                                                  (ev.user_key, ev.session_id))))  # fmt: skip
    if fmt == "mixpanel":
        return ev._replace(session_id=None)
    if fmt != "access_log":
        return ev
    return Event(ev.user_key, "/" + ev.token, ev.ts_ms // 1000 * 1000, None, None)


@pytest.mark.parametrize("fmt", producer_formats.FORMATS)
def test_each_format_reads_back_as_the_same_events_in_each_users_order(fmt):
    entries = producer_formats.encode(fmt, EVENTS, per_record=7)
    decoder = Decoder()
    got: list[Event] = []
    keys = defaultdict(set)
    for entry in entries:
        for item in decoder.items(entry["Data"]):
            assert isinstance(item.result, Event), (fmt, item.result)
            got.append(item.result)
            keys[item.result.user_key].add(entry["PartitionKey"])
    assert per_user(got) == per_user([held(fmt, ev) for ev in EVENTS])
    assert all(len(k) == 1 for k in keys.values())  # one partition key (so one shard) per user: order kept
    if fmt in producer_formats.PACKED:
        assert len(entries) < len(EVENTS)


def test_the_kpl_aggregate_is_byte_for_byte_aws_kinesis_aggs():
    records = [(f"k{i % 3}", b"x" * (i * 7)) for i in range(60)]
    agg = RecordAggregator()
    for key, data in records:
        agg.add_user_record(key, data)
    assert aggregate(records) == agg.clear_and_get().get_contents()[2]
    assert deaggregate(aggregate(records)) == records


# The formats that re-encode an event in the canonical shape, so carry seed 003's purchase amount and friend.
CANONICAL_SHAPED = {"canonical", "logged_json", "base64", "kpl", "gzip", "zlib", "cloudwatch"}


@pytest.mark.parametrize("fmt", producer_formats.FORMATS)
def test_a_purchase_s_amount_and_friend_survive_the_formats_of_the_canonical_shape(fmt):
    purchase = {"user_id": "u1", "event_type": "purchase", "timestamp": 1763700000000, "event_id": "p1"}
    events = [parse_record(json.dumps({**purchase, "attributes": {"amount": 1601.83, "friend_id": "u7"}}))]
    [entry] = producer_formats.encode(fmt, events)
    [item] = Decoder().items(entry["Data"])
    carried = (item.result.amount, item.result.friend_id)
    assert carried == ((1601.83, "u7") if fmt in CANONICAL_SHAPED else (None, None))
