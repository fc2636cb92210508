"""Properties of the whole orchestrator (fakes for AWS): batch boundaries and producer copies change nothing."""

from __future__ import annotations

import itertools
import json

import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.batch import Deps, process_batch
from tests.consumer_support import (
    SEQ0,
    T0,
    FakeFlags,
    FakeModel,
    FakeRejected,
    FakeSessions,
    config,
    make_model,
    to_records,
)

ACTIONS = ["view_item", "search", "chat", "purchase", "login", "weird_type"]


def records_of(payloads):
    """A copy gets a new sequence number after its original's; the originals keep theirs (as on a real stream)."""
    recs, last = [], 0
    for rec, p in zip(to_records(payloads), payloads, strict=True):
        seq = SEQ0 + 1000 * (int(p["event_id"][1:]) + 1)
        seq = seq if seq > last else last + 1
        recs.append(rec._replace(seq=seq, seq_str=str(seq)))
        last = seq
    return recs


def run_in_batches(payloads, cuts):
    d = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()))
    recs = records_of(payloads)
    bounds = [0, *sorted(set(cuts)), len(recs)]
    for lo, hi in itertools.pairwise(bounds):
        if lo < hi:
            assert process_batch(recs[lo:hi], d, config()).failures == []
    return {u: (s.session, s.last_flag) for u, s in d.sessions.items.items()}, [f.body for f in d.flags.sent]


@st.composite
def stream_with_copies(draw):
    n = draw(st.integers(3, 40))
    t, events = T0, []
    for k in range(n):
        t += draw(st.sampled_from([500, 4_000, 60_000, 2_400_000]))
        outcome = draw(st.sampled_from(["success", "success", "fail"]))
        events.append(
            {
                "user_id": draw(st.sampled_from("abc")),
                "event_type": draw(st.sampled_from(ACTIONS)),
                "outcome": outcome,
                "timestamp": t / 1000,
                "event_id": f"e{k}",
                "session_id": draw(st.sampled_from([None, "s1", "s2"])),
            }
        )
    # Producer copies: any earlier event, re-sent any distance later (a copy keeps its original's content).
    with_copies = list(events)
    for _ in range(draw(st.integers(0, 8))):
        original = events[draw(st.integers(0, n - 1))]
        at = draw(st.integers(with_copies.index(original) + 1, len(with_copies)))
        with_copies.insert(at, dict(original))
    cuts = draw(st.lists(st.integers(0, len(with_copies)), max_size=6))
    return events, with_copies, cuts


@settings(max_examples=100, deadline=None, derandomize=True)
@given(stream_with_copies())
def test_copies_at_any_distance_and_any_batch_boundaries_give_the_clean_result(case):
    events, with_copies, cuts = case
    clean = run_in_batches(events, [])
    # Fewer than RECENT_EVENT_IDS distinct ids per user here, so every copy is within the window: dropped.
    assert run_in_batches(with_copies, []) == clean
    assert run_in_batches(with_copies, cuts) == clean


def test_a_copy_forty_events_after_its_original_is_dropped_at_every_batch_size():
    """The case the hostile campaign found: with 32 ids kept, such copies were applied at batch sizes 100 and 1000."""
    t, events = T0, []
    for k in range(120):
        t += 4_000
        events.append(
            {
                "user_id": "a",
                "event_type": ACTIONS[k % 4],
                "timestamp": t / 1000,
                "event_id": f"e{k}",
                "session_id": "s1" if k < 60 else "s2",
            }
        )
    with_copies = []
    for k, e in enumerate(events):
        with_copies.append(e)
        if k >= 40 and k % 10 == 0:
            with_copies.append(dict(events[k - 40]))  # an old session id too: it must not reset the session
    clean = run_in_batches(events, [])
    for size in (1, 7, 100, 1000):
        assert run_in_batches(with_copies, range(size, len(with_copies), size)) == clean, size


# --- records that hold several events: KPL aggregates built by aws_kinesis_agg (issue 11) -------------------------


def aggregated(payloads, sizes, pack="kpl"):
    """The stream packed in KPL aggregates (or zstd frames of NDJSON lines) of the given sizes (the last takes the
    rest); each is one record, its sequence number after the previous one's."""
    from aws_kinesis_agg.aggregator import RecordAggregator

    from clickguard.consumer.kinesis_event import KinesisRecord
    from tests.consumer_support import SHARD

    recs, i, n = [], 0, 0
    while i < len(payloads):
        chunk = payloads[i : i + (sizes[n] if n < len(sizes) else len(payloads))]
        if pack == "kpl":
            agg = RecordAggregator()
            for p in chunk:
                agg.add_user_record(p["user_id"], json.dumps(p).encode())
            data = agg.clear_and_get().get_contents()[2]
        else:
            data = zstandard.ZstdCompressor().compress(b"\n".join(json.dumps(p).encode() for p in chunk))
        seq = SEQ0 + 1000 * (n + 1)
        arrival = int(max(p["timestamp"] for p in chunk) * 1000) + 500
        recs.append(KinesisRecord(SHARD, seq, str(seq), chunk[0]["user_id"], data, arrival))
        i, n = i + len(chunk), n + 1
    return recs


def run_records_in_batches(recs, cuts):
    d = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()))
    bounds = [0, *sorted(set(cuts)), len(recs)]
    for lo, hi in itertools.pairwise(bounds):
        if lo < hi:
            assert process_batch(recs[lo:hi], d, config()).failures == []
    return {u: (s.session, s.last_flag) for u, s in d.sessions.items.items()}, [f.body for f in d.flags.sent]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    stream_with_copies(),
    st.lists(st.integers(1, 8), min_size=1, max_size=12),
    st.lists(st.integers(0, 40)),
    st.sampled_from(["kpl", "zstd"]),
)
def test_aggregated_copies_and_any_batch_boundaries_give_the_clean_result(case, sizes, cuts, pack):
    """The same stream with producer copies, packed in aggregates (or compressed records) of any sizes, gives the
    same sessions as the clean stream sent one event per record, and the same states and flags at any batch
    boundaries (between records: Lambda never splits a record)."""
    events, with_copies, _ = case
    recs = aggregated(with_copies, sizes, pack)
    whole = run_records_in_batches(recs, [])
    assert run_records_in_batches(recs, [c for c in cuts if c < len(recs)]) == whole
    clean_sessions = {u: s for u, (s, _flag) in run_in_batches(events, [])[0].items()}
    assert {u: s for u, (s, _flag) in whole[0].items()} == clean_sessions
