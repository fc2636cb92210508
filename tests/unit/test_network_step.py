"""The streaming step and its commit (issue 12): the rule on hand-checked cases, exactly-once effects under replays,
overlaps and failures, and the naive rule as an oracle on random logs cut into any batches."""

from __future__ import annotations

import json
import random

import pytest

from bench.network_baseline import NaiveNetwork
from bench.network_data import LogShape, events
from clickguard.network.commit import commit
from clickguard.network.config import NetworkConfig
from clickguard.network.flags import MESSAGE_FIELDS, flag_id
from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.state import Part
from clickguard.network.step import run_step
from tests.network_support import (
    SEQ0,
    SHARD,
    RecordingSink,
    befriend,
    buy,
    numbered,
    run_chunks,
    run_until_committed,
    snapshot,
    texts,
    unfriend,
)

D1, D2 = NetworkConfig(degree=1, window=50), NetworkConfig(degree=2, window=50)


def test_the_challenge_example_flags_the_purchase_with_its_mean_and_sd():
    store = InMemoryNetworkStore()
    batch = numbered([buy("1", "16.83", 0), buy("1", "59.28", 0), befriend("1", "2", 0), befriend("3", "1", 0),
                      buy("1", "11.20", 0), unfriend("1", "3", 0)])  # fmt: skip
    run_chunks(batch, store, NetworkConfig(degree=3, window=50), 100, score=False)
    flags = run_chunks(numbered([buy("2", "1601.83", 0, ts_s=1)], 7), store, NetworkConfig(3, 50), 100)
    assert [(f.user_key, f.baseline.mean_text, f.baseline.sd_text, f.network_size) for f in flags] == [
        ("2", "29.10", "21.46", 1)
    ]


def test_befriending_twice_unfriending_a_non_friend_and_self_friendship_change_nothing():
    store = InMemoryNetworkStore()
    result = run_step(
        numbered([befriend("a", "b", 0), befriend("b", "a", 0), unfriend("a", "c", 0), befriend("a", "a", 0)]),
        store,
        D1,
    )
    commit(result, store, None)
    assert snapshot(store)[0] == {"a": {"b"}, "b": {"a"}}
    assert result.stats.friendships_changed == 2
    assert result.stats.no_change == 5  # both sides of the second befriend and of the unfriend, the self one
    assert "a" not in store.friends["a"].friends


def test_friendships_are_bidirectional_whoever_unfriends():
    store = InMemoryNetworkStore()
    run_chunks(numbered([befriend("a", "b", 0), unfriend("b", "a", 0)]), store, D1, 10)
    assert snapshot(store)[0] == {}


def test_a_purchase_by_a_user_never_seen_is_kept_and_not_flagged():
    store = InMemoryNetworkStore()
    flags = run_chunks(numbered([buy("new", "99999.00", 0)]), store, D2, 10)
    assert flags == []
    assert snapshot(store)[1] == {"new": ((buy("x", "0", 0).ts_ms, SEQ0 + 1, 9_999_900),)}


def test_fewer_than_two_purchases_in_the_network_flag_nothing():
    store = InMemoryNetworkStore()
    log = numbered([befriend("a", "b", 0), buy("b", "1.00", 0), buy("a", "1000.00", 0)])
    assert run_chunks(log, store, D1, 10) == []


def test_a_flagged_purchase_counts_in_later_baselines():
    """b -- hub -- a, D = 2: b's 500.00 is flagged against a's 10 and 12, then the hub's baseline holds it."""
    store = InMemoryNetworkStore()
    log = numbered([befriend("hub", "a", 0), befriend("hub", "b", 0), buy("a", "10.00", 0), buy("a", "12.00", 0),
                    buy("b", "500.00", 1), buy("hub", "30.00", 2)])  # fmt: skip
    flags = run_chunks(log, store, D2, 100)
    assert [(f.user_key, f.baseline.count) for f in flags] == [("b", 2)]
    hub = run_step(numbered([buy("hub", "2000.00", 3)], 7), store, D2).flags
    assert [(f.baseline.count, f.baseline.mean_text) for f in hub] == [(3, "174.00")]  # 10, 12 and the 500


def test_the_last_t_go_by_timestamp_and_equal_timestamps_by_arrival():
    """T = 2. f's purchases arrive 40 (t=5), 10 (t=1, late), 20 (t=5): the last two are 40 then 20."""
    store = InMemoryNetworkStore()
    config = NetworkConfig(degree=1, window=2)
    log = numbered([befriend("u", "f", 0), buy("f", "40.00", 0, ts_s=5), buy("f", "10.00", 0, ts_s=1),
                    buy("f", "20.00", 0, ts_s=5), buy("u", "1000.00", 0, ts_s=6)])  # fmt: skip
    (flag,) = run_chunks(log, store, config, 100)
    assert (flag.baseline.mean_text, flag.baseline.sd_text) == ("30.00", "10.00")


def test_a_side_at_max_friends_refuses_a_new_friend_and_the_other_side_keeps_it():
    store = InMemoryNetworkStore()
    config = NetworkConfig(degree=1, window=50, max_friends=2)
    result = run_step(numbered([befriend("a", "b", 0), befriend("a", "c", 0), befriend("a", "d", 0)]), store, config)
    commit(result, store, None)
    assert result.stats.friend_cap == 1
    assert store.friends["a"].friends == {"b", "c"}
    assert store.friends["d"].friends == {"a"}


def _log(seed: int = 5, n: int = 400) -> list:
    shape = LogShape(users=12, events=n, seed=seed, outlier_share=0.05, late_share=0.2, events_per_second=3)
    return [ev._replace(shard_id=SHARD, seq=SEQ0 + ev.seq) for ev in events(shape)]


def test_a_replayed_batch_appends_nothing_and_flags_nothing_again():
    log = _log()
    store = InMemoryNetworkStore()
    first = run_chunks(log, store, D2, 1000)
    before = snapshot(store)
    again = run_step(log, store, D2)
    commit(again, store, None)
    assert first
    assert again.flags == []
    assert (again.stats.purchases, again.stats.friendships_changed) == (0, 0)
    assert again.friends == [] and again.purchases == []
    assert snapshot(store) == before


def test_a_redelivered_befriend_never_undoes_a_later_unfriend():
    store = InMemoryNetworkStore()
    log = numbered([befriend("a", "b", 0), unfriend("a", "b", 0)])
    run_chunks(log, store, D1, 10)
    run_chunks(log[:1], store, D1, 10)  # the befriend again, as a retried batch would deliver it
    assert snapshot(store)[0] == {}


def test_an_overlapping_batch_applies_only_its_new_records():
    log = _log()
    whole_store, overlap_store = InMemoryNetworkStore(), InMemoryNetworkStore()
    whole = run_chunks(log, whole_store, D2, 1000)
    got = run_chunks(log[:250], overlap_store, D2, 1000)
    got += run_chunks(log[150:], overlap_store, D2, 1000)  # 100 records delivered twice
    assert texts(got) == texts(whole)
    assert snapshot(overlap_store) == snapshot(whole_store)


def test_a_failed_read_stops_the_step_there_and_the_replay_ends_exactly_as_an_uninterrupted_run():
    log = _log()
    clean = InMemoryNetworkStore()
    want = run_chunks(log, clean, D2, 1000)
    store, sink = InMemoryNetworkStore(fail_reads={"3"}), RecordingSink()
    outcomes = run_until_committed(log, store, D2, sink)
    assert outcomes[0].checkpoint is not None and len(outcomes) == 2
    assert [json.loads(f.body)["flag_id"] for f in sink.sent] == [f.flag_id for f in want]
    assert snapshot(store) == snapshot(clean)


@pytest.mark.parametrize("part", [Part.FRIENDS, Part.PURCHASES])
def test_a_failed_write_checkpoints_at_the_items_first_change_and_the_replay_applies_nothing_twice(part):
    log = _log()
    clean = InMemoryNetworkStore()
    run_chunks(log, clean, D2, 1000)
    store, sink = InMemoryNetworkStore(fail_writes={(part, "4")}), RecordingSink()
    first = run_step(log, store, D2)
    outcome = commit(first, store, sink)
    assert outcome.checkpoint == first.first_touch[(part, "4")]
    store.fail_writes.clear()
    run_until_committed([ev for ev in log if ev.seq >= outcome.checkpoint], store, D2, sink)
    assert snapshot(store) == snapshot(clean)


def test_a_flag_the_queue_refused_holds_back_the_buyers_purchases_and_is_resent_with_the_same_id():
    log = _log()
    want = run_chunks(log, InMemoryNetworkStore(), D2, 1000)
    buyer = want[0].user_key
    store, sink = InMemoryNetworkStore(), RecordingSink(fail_users={buyer})
    first = run_step(log, store, D2)
    outcome = commit(first, store, sink)
    assert outcome.flags_failed >= 1
    assert outcome.checkpoint == first.first_touch[(Part.PURCHASES, buyer)]
    assert buyer not in store.purchases
    sink.fail_users.clear()
    run_until_committed([ev for ev in log if ev.seq >= outcome.checkpoint], store, D2, sink)
    ids = [f.flag_id for f in sink.sent]
    assert want[0].flag_id in ids  # sent once it was accepted; re-sent copies of others carry their first ids
    assert set(ids) >= {f.flag_id for f in want if f.user_key == buyer}


def test_the_flag_id_is_the_purchases_position_and_the_message_has_the_documented_fields():
    log = _log()
    (first, *_) = run_chunks(log, InMemoryNetworkStore(), D2, 1000)
    assert first.flag_id == flag_id(first.user_key, SHARD, first.seq)
    message = json.loads(first.as_flag().body)
    assert tuple(message) == tuple(sorted(MESSAGE_FIELDS))
    assert message["source"] == {"shard_id": SHARD, "sequence_number": str(first.seq), "sub": 0}
    assert (message["mean"], message["sd"]) == (first.baseline.mean_text, first.baseline.sd_text)


@pytest.mark.parametrize("seed", range(12))
def test_any_batching_gives_the_naive_rules_flags(seed):
    rng = random.Random(seed)
    config = NetworkConfig(degree=rng.randint(1, 3), window=rng.randint(2, 8))
    batch = events(LogShape(users=rng.randint(3, 25), events=300, seed=seed, outlier_share=0.05, late_share=0.2))
    stream = events(LogShape(users=25, events=300, seed=seed + 50, outlier_share=0.05, late_share=0.2), first_seq=400)
    naive = NaiveNetwork(config.degree, config.window)
    naive.run(batch, score=False)
    want = naive.run(stream, score=True)
    store = InMemoryNetworkStore()
    chunk = rng.choice([1, 7, 64, 1000])
    run_chunks(batch, store, config, chunk, score=False)
    assert texts(run_chunks(stream, store, config, chunk)) == want
