"""The consumer's column-at-a-time paths against their record-by-record references: admission, and the decoding of
many records (plain and in KPL aggregates) in one C call."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.admission import admit, admit_one_by_one
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.state import UserState, id_digest
from clickguard.decoding import Decoder
from clickguard.decoding.jsonfast import CHUNK, parse_many
from clickguard.decoding.kpl import aggregate
from clickguard.events import Event
from clickguard.model.scoring import SessionState
from clickguard.rejections import RejectedRecord
from tests.consumer_support import SEQ0, T0
from tests.fuzz_records import fuzz_payloads

GAP = 1_800_000
USERS, SHARDS = ["a", "b", "c"], ["s0", "s1"]


@st.composite
def batch_and_states(draw):
    n = draw(st.integers(1, 30))
    seq, recs, events = SEQ0, [], []
    for _ in range(n):
        seq += draw(st.sampled_from([0, 1, 1000])) if recs else 0
        sub = recs[-1].sub + 1 if recs and recs[-1].seq == seq else 0
        arrival = draw(st.sampled_from([0, T0, T0 + 3_600_000]))
        user, shard = draw(st.sampled_from(USERS)), draw(st.sampled_from(SHARDS))
        recs.append(KinesisRecord(shard, seq, str(seq), user, b"", arrival, sub))
        ts = T0 + draw(st.sampled_from([-7_200_000, -60_000, 0, 60_000, 900_000, 2_000_000]))
        eid = draw(st.sampled_from([None, None, "e1", "e2", "e3"]))
        events.append(Event(user, "view_item", ts, None, eid))
    if draw(st.booleans()):  # a batch whose places do not only grow (the reference path)
        recs = recs[::-1]
    states = {}
    for user in draw(st.lists(st.sampled_from(USERS), unique=True)):
        seqs = {s: SEQ0 + draw(st.integers(-1, n * 1000)) for s in draw(st.lists(st.sampled_from(SHARDS), unique=True))}
        session = SessionState(None, "view_item", T0, T0 + draw(st.sampled_from([-GAP, 0, GAP])), 1, 0)
        ids = b"".join(id_digest(e) for e in draw(st.lists(st.sampled_from(["e1", "e2", "e9"]), unique=True)))
        states[user] = UserState(user, session if draw(st.booleans()) else None, seqs, ids)
    return recs, events, states


@settings(max_examples=300, deadline=None)
@given(batch_and_states())
def test_admission_by_columns_equals_the_record_by_record_rules(case):
    recs, events, states = case
    assert seen(admit(recs, events, states, GAP)) == seen(admit_one_by_one(recs, events, states, GAP))


def seen(adm):
    """The admission with each user's id window as its digests (``RecentIds`` compares by identity)."""
    return replace(adm, recent_ids={u: w.packed() for u, w in adm.recent_ids.items()})


LINES = [
    b'{"user_id": "u1", "event_type": "view_item", "timestamp": 1763700001.5}',
    b'{"user_id": "u2", "event_type": "login", "outcome": "fail", "timestamp": 1763700002000, "event_id": "x"}',
    b'{"user_id": "u3", "event_type": "purchase", "timestamp": 1763700003.5, "attributes": {"amount": "12.5"}}',
    b'{"user_id": "u4", "event_type": "view_item", "timestamp": 1763700004.5, "session_id": "s"}  \n',
    b'{"user_id": "u5", "event_type": "view_item", "timestamp": "2025-11-21T00:00:01Z"}',
    b'{"user_id": " u6", "event_type": "view_item", "timestamp": 1763700001.5}',
    b'{"user_id": "u7", "event_type": "view_item", "timestamp": 1763700001.5, "attributes": {"amount": -1}}',
    b'{"user_id": "", "event_type": "view_item", "timestamp": 1763700001.5}',
    b'{"user_id": "u8", "event_type": "view_item", "timestamp": 1763700001.5, "x": "',
    b'{"}',
    b'{"user_id": "u9", "event_type": "v", "timestamp": 1763700001.5},{"user_id": "u10", "event_type": "v"}',
    b'{"user_id": "u11", "event_type": "v", "timestamp": 1763700001.5, "x": ' + b"[" * 70 + b"]" * 70 + b"}",
    b'{"user_id": "u12", "event_type": "v", "timestamp": 1763700001.5, "x": ' + b"7" * 4400 + b"}",
    b'{"user_id": "u13\xff", "event_type": "v", "timestamp": 1763700001.5}',
    '{"user_id": "\u00fc14", "event_type": "v", "timestamp": 1763700001.5}'.encode(),
    b'{"data": {"session": {"user_id": 15}, "event": {"event_type": "1"}}, "timestamp": "2025-11-21T00:00:01Z"}',
    b'{"user_id": "u16", "event_type": "v", "timestamp": 1763700001.5}\n{"user_id": "u17", "timestamp": 1}',
    b"not json",
    b"",
    b"  {}",
]


def one_by_one(decoder, datas):
    out = []
    for data in datas:
        try:
            out.append(decoder.decode(data))
        except RejectedRecord as exc:
            out.append(exc)
    return comparable(out)


def comparable(results):
    """Rejections as (reason, detail): exceptions compare by identity."""
    out = []
    for r in results:
        if isinstance(r, list):
            out.append([(*comparable([item.result]), item.partition_key, item.data) for item in r])
        else:
            out.append((r.reason, r.detail) if isinstance(r, RejectedRecord) else r)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=12))
def test_decoding_many_records_equals_decoding_each(datas):
    decoder = Decoder()
    assert comparable(decoder.decode_many(datas)) == one_by_one(decoder, datas)
    if datas:
        agg = aggregate([(f"k{i % 3}", d) for i, d in enumerate(datas)])
        assert comparable(decoder.decode_many([agg])) == one_by_one(decoder, [agg])


@pytest.mark.parametrize(("seed", "hostile"), [(1, 0.0), (2, 0.0004), (3, 0.5)])
def test_decoding_the_fuzz_corpus_together_equals_decoding_each(seed, hostile):
    payloads = fuzz_payloads(10_000, seed, hostile_share=hostile)  # 0.0004: a few chunks with a hostile record
    decoder = Decoder()
    assert comparable(decoder.decode_many(payloads)) == one_by_one(decoder, payloads)


def test_a_bad_record_sends_only_its_chunk_one_by_one():
    good = [json.dumps({"user_id": f"u{i}", "event_type": "v", "timestamp": T0 + i}).encode() for i in range(2 * CHUNK)]
    events = parse_many([*good[:CHUNK], b"oops", *good[CHUNK:]])
    assert events[CHUNK:-1] == [None] * CHUNK  # the bad record and the rest of its chunk
    assert all(isinstance(e, Event) for e in [*events[:CHUNK], events[-1]])
