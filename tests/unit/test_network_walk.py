"""The degree-D walk, the heap merge of last-T lists, the order key and the working set's bounded lists."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.state import GUARD_SHARDS, FriendsItem, Purchase, PurchasesItem, trim_guard
from clickguard.network.walk import last_purchases, network_of
from clickguard.network.working import WorkingSet

# A -- B -- C -- D, and A -- E (the challenge's picture, plus one more friend)
GRAPH = {"A": {"B", "E"}, "B": {"A", "C"}, "C": {"B", "D"}, "D": {"C"}, "E": {"A"}}


def reader(graph, calls=None):
    def friends_of(users):
        if calls is not None:
            calls.append(list(users))
        return [graph.get(u, set()) for u in users]

    return friends_of


def test_degree_one_is_the_friends_and_excludes_the_buyer():
    assert sorted(network_of("A", 1, reader(GRAPH))) == ["B", "E"]


def test_degree_two_adds_friends_of_friends_and_never_the_buyer_through_a_cycle():
    assert sorted(network_of("A", 2, reader(GRAPH))) == ["B", "C", "E"]
    assert sorted(network_of("A", 3, reader(GRAPH))) == ["B", "C", "D", "E"]


def test_a_user_without_friends_has_an_empty_network():
    assert network_of("Z", 3, reader(GRAPH)) == []


def test_the_walk_reads_one_batch_per_level_and_never_the_last_levels_friends():
    calls: list[list[str]] = []
    network_of("A", 2, reader(GRAPH, calls))
    assert [sorted(c) for c in calls] == [["A"], ["B", "E"]]


def p(ts: int, seq: int, cents: int = 100, shard: str = "s") -> Purchase:
    return Purchase(ts, seq, 0, shard, cents)


def test_the_latest_purchase_has_the_highest_timestamp_and_equal_ones_go_by_arrival():
    a = [p(1, 1), p(5, 2)]
    b = [p(5, 3), p(2, 9)]  # a late event: arrived 9th with an older timestamp
    merged = last_purchases([a, sorted(b)], 3)
    assert merged == [p(5, 3), p(5, 2), p(2, 9)]


@given(
    st.lists(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 10**6)), max_size=8), max_size=12),
    st.integers(2, 10),
)
def test_merging_members_last_t_lists_equals_sorting_everything(lists, window):
    seen: set[int] = set()
    members = []
    for rows in lists:
        unique = [(ts, seq) for ts, seq in rows if not (seq in seen or seen.add(seq))]
        members.append(sorted(p(ts, seq) for ts, seq in unique)[-window:])
    everything = sorted(x for m in members for x in m)
    assert last_purchases(members, window) == everything[::-1][:window]


def test_the_working_set_keeps_each_users_last_t_in_order():
    ws = WorkingSet(InMemoryNetworkStore())
    ws.load_purchases(["u"])
    for ts, seq in [(5, 1), (3, 2), (9, 3), (5, 4), (1, 5), (7, 6)]:
        ws.add_purchase("u", p(ts, seq), window=4)
    assert ws.purchase_lists(["u"])[0] == [p(5, 1), p(5, 4), p(7, 6), p(9, 3)]


def test_the_guard_skips_positions_at_or_below_the_last_applied_one_per_shard():
    store = InMemoryNetworkStore(
        friends={"a": FriendsItem("a", frozenset(), {"shard-1": 10})},
        purchases={"a": PurchasesItem("a", (), {"shard-1": 10})},
    )
    ws = WorkingSet(store)
    ws.load_friends(["a"])
    for applied in (ws.friendship_applied, ws.purchase_applied):
        assert applied("a", "shard-1", 10, 0)
        assert applied("a", "shard-1", 3, 5)
        assert not applied("a", "shard-1", 11, 0)
        assert not applied("a", "shard-2", 1, 0)


def test_within_a_batch_the_events_of_one_record_are_told_apart_by_sub():
    ws = WorkingSet(InMemoryNetworkStore())
    ws.load_purchases(["a"])
    ws.add_purchase("a", Purchase(1, 20, 1, "s", 100), window=5)
    assert ws.purchase_applied("a", "s", 20, 0)
    assert ws.purchase_applied("a", "s", 20, 1)
    assert not ws.purchase_applied("a", "s", 20, 2)


def test_the_guard_keeps_the_shards_written_most_recently():
    seqs = {f"shard-{i}": 100 + i for i in range(GUARD_SHARDS + 3)}
    kept = trim_guard(dict(seqs))
    assert len(kept) == GUARD_SHARDS
    assert min(kept.values()) == 100 + 3


def test_a_friend_set_handed_to_the_store_is_never_changed_by_a_later_batch():
    store = InMemoryNetworkStore(friends={"a": FriendsItem("a", {"b"})})
    ws = WorkingSet(store)
    ws.load_friends(["a"])
    ws.change_friends("a", "s", 1).add("c")
    assert store.friends["a"].friends == {"b"}
    friends, _ = ws.writes()
    store.put(friends, [])
    later = WorkingSet(store)
    later.load_friends(["a"])
    later.change_friends("a", "s", 2).discard("b")
    assert store.friends["a"].friends == {"b", "c"}


def test_random_graphs_walk_like_a_set_based_breadth_first_search():
    rng = random.Random(3)
    for _ in range(200):
        users = [str(i) for i in range(rng.randint(1, 12))]
        graph: dict[str, set[str]] = {u: set() for u in users}
        for _ in range(rng.randint(0, 20)):
            a, b = rng.choice(users), rng.choice(users)
            if a != b:
                graph[a].add(b)
                graph[b].add(a)
        degree = rng.randint(1, 4)
        seen, frontier = {users[0]}, {users[0]}
        for _ in range(degree):
            frontier = {f for u in frontier for f in graph[u]} - seen
            seen |= frontier
        got = network_of(users[0], degree, reader(graph))
        assert len(got) == len(set(got))
        assert set(got) == seen - {users[0]}
