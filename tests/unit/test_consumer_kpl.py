"""Records that hold several events (KPL aggregates built by aws_kinesis_agg, gzip NDJSON) through the orchestrator:
each event applies exactly once, whatever is replayed, split or half-committed."""

from __future__ import annotations

import gzip
import itertools
import json
import random

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.consumer.batch import Deps, parse_all, process_batch
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.rejections import Reason
from tests.consumer_support import (
    SEQ0,
    SHARD,
    T0,
    FakeFlags,
    FakeModel,
    FakeRejected,
    FakeSessions,
    behaviour,
    config,
    event_stream,
    make_model,
    to_records,
)


def aggregate(payloads: list[dict]) -> bytes:
    agg = RecordAggregator()
    for p in payloads:
        assert agg.add_user_record(p["user_id"], json.dumps(p).encode()) is None
    return agg.clear_and_get().get_contents()[2]


def packed(payloads: list[dict], seed: int = 4, gzip_every: int = 0) -> list[KinesisRecord]:
    """The stream in records of 1 to 25 events: KPL aggregates, and every ``gzip_every``-th a gzip NDJSON record."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(payloads):
        chunk = payloads[i : i + rng.randint(1, 25)]
        n = len(out) + 1
        if gzip_every and n % gzip_every == 0:
            data = gzip.compress(b"\n".join(json.dumps(p).encode() for p in chunk))
        else:
            data = aggregate(chunk)
        seq = SEQ0 + 1000 * n
        arrival = int(max(p["timestamp"] for p in chunk) * 1000) + 500  # after its last event, as a producer sends
        out.append(KinesisRecord(SHARD, seq, str(seq), chunk[0]["user_id"], data, arrival))
        i += len(chunk)
    return out


def deps(**kw) -> Deps:
    return Deps(FakeSessions(**kw), FakeFlags(), FakeRejected(), FakeModel(make_model()))


def run(d: Deps, recs: list[KinesisRecord]):
    return process_batch(recs, d, config())


def snapshot(d: Deps):
    return behaviour(d.sessions.items), sorted(f.body for f in d.flags.sent)


STREAM = event_stream(event_ids=False)
RECORDS = packed(STREAM, gzip_every=4)


def clean():
    d = deps()
    assert run(d, RECORDS).failures == []
    return d


def test_each_event_of_an_aggregate_is_scored_as_if_sent_alone():
    aggregated = clean()
    plain = deps()
    assert run(plain, to_records(STREAM)).failures == []
    sessions = {u: s.session for u, s in aggregated.sessions.items.items()}
    assert sessions == {u: s.session for u, s in plain.sessions.items.items()}
    assert len(parse_all(RECORDS, config()).events) == len(STREAM)


def test_replaying_the_same_batch_applies_nothing_twice():
    d = clean()
    before = snapshot(d)
    again = run(d, RECORDS)
    assert again.replayed == len(STREAM) and again.applied == 0 and snapshot(d) == before


def test_any_split_into_batches_gives_the_same_result():
    expected = snapshot(clean())
    for size in (1, 2, 5, 17):
        d = deps()
        for lo in range(0, len(RECORDS), size):
            assert run(d, RECORDS[lo : lo + size]).failures == []
        assert snapshot(d) == expected, size


def test_a_half_committed_aggregate_replays_only_the_users_not_written():
    """Flags sent, then the state write failed for some users (a crash between the two): the checkpoint is the
    first record holding one of their events; the retry from there applies each of their events once and nothing
    of the users already written."""
    expected = snapshot(clean())
    victims = {"u3", "u4", "u9"}  # a login failer and flooders: users with flags
    d = deps(fail_put=set(victims))
    out = run(d, RECORDS)
    first = next(r for r in RECORDS if any(e.user_key in victims for e in parse_all([r], config()).events))
    assert out.failures == [first.seq_str]
    d.sessions.fail_put = set()
    retry = [r for r in RECORDS if r.seq >= first.seq]
    assert run(d, retry).failures == []
    states, bodies = snapshot(d)
    assert states == expected[0]
    assert sorted(set(bodies)) == expected[1]  # a re-sent flag is the same message (SQS FIFO drops the copy)


@pytest.mark.parametrize(("at", "reason"), [(2, Reason.KPL_CHECKSUM), (3, Reason.BAD_COMPRESSION)])
def test_a_corrupt_aggregate_or_gzip_record_goes_to_the_sink_and_the_rest_commits(at, reason):
    bad = RECORDS[at]._replace(data=RECORDS[at].data[:-3])  # RECORDS[3] is a gzip record, RECORDS[2] an aggregate
    d = deps()
    out = run(d, [*RECORDS[:at], bad, *RECORDS[at + 1 :]])
    assert out.failures == [] and out.rejected == {reason.value: 1}
    assert [(e.record.seq, e.reason) for e in d.rejected.stored] == [(bad.seq, reason)]


def test_a_bad_event_inside_an_aggregate_is_sunk_alone_with_its_own_place():
    payloads = [STREAM[0], {"user_id": "u1"}, STREAM[1]]
    agg = RecordAggregator()
    for p in payloads:
        agg.add_user_record(p["user_id"], json.dumps(p).encode())
    rec = KinesisRecord(SHARD, SEQ0, str(SEQ0), "x", agg.clear_and_get().get_contents()[2], T0)
    d = deps()
    out = run(d, [rec])
    assert out.applied == 2 and out.rejected == {Reason.MISSING_EVENT_TYPE.value: 1}
    (entry,) = d.rejected.stored
    assert (entry.record.seq_str, entry.record.sub, entry.record.partition_key) == (str(SEQ0), 1, "u1")
    assert entry.record.data == json.dumps(payloads[1]).encode()


def test_batches_cut_anywhere_between_records_agree_for_every_cut():
    expected = snapshot(clean())
    n = len(RECORDS)
    for cut in itertools.islice(itertools.combinations(range(1, n), 2), 0, None, 7):
        d = deps()
        for lo, hi in itertools.pairwise([0, *cut, n]):
            assert run(d, RECORDS[lo:hi]).failures == []
        assert snapshot(d) == expected, cut
