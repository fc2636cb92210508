"""Shared by the network tests (issue 12): event builders, chunked runs with commits, a store snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clickguard.consumer.flags import Flag
from clickguard.network.commit import CommitOutcome, commit
from clickguard.network.config import NetworkConfig
from clickguard.network.flags import PurchaseFlag
from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.ports import NetworkStore
from clickguard.network.step import Kind, NetworkEvent, run_step

SHARD = "shardId-000000000000"
SEQ0 = 49590338271490256608559692538361571095921575989136588898  # a real sequence number's size
T0 = 1_497_353_581_000  # 2017-06-13 11:33:01 UTC


def buy(user: str, amount: str, n: int, ts_s: int = 0) -> NetworkEvent:
    whole, _, frac = amount.partition(".")
    cents = int(whole) * 100 + int((frac + "00")[:2])
    return NetworkEvent(user, Kind.PURCHASE, T0 + ts_s * 1000, SHARD, SEQ0 + n, cents=cents)


def befriend(a: str, b: str, n: int, ts_s: int = 0) -> NetworkEvent:
    return NetworkEvent(a, Kind.BEFRIEND, T0 + ts_s * 1000, SHARD, SEQ0 + n, friend_key=b)


def unfriend(a: str, b: str, n: int, ts_s: int = 0) -> NetworkEvent:
    return NetworkEvent(a, Kind.UNFRIEND, T0 + ts_s * 1000, SHARD, SEQ0 + n, friend_key=b)


def numbered(events: Sequence[NetworkEvent], first: int = 1) -> list[NetworkEvent]:
    """The same events at consecutive positions (builders can then take any n)."""
    return [ev._replace(seq=SEQ0 + first + i) for i, ev in enumerate(events)]


@dataclass
class RecordingSink:
    """The flag queue: records accepted flags; refuses those of ``fail_users``."""

    sent: list[Flag] = field(default_factory=list)
    fail_users: set[str] = field(default_factory=set)

    def send(self, flags: Sequence[Flag]) -> set[str]:
        failed = set()
        for f in flags:
            if f.user_key in self.fail_users:
                failed.add(f.flag_id)
            else:
                self.sent.append(f)
        return failed


def run_chunks(
    events: Sequence[NetworkEvent],
    store: NetworkStore,
    config: NetworkConfig,
    chunk: int,
    score: bool = True,
) -> list[PurchaseFlag]:
    """Every event in chunks, each committed; the flags in order (the store must not fail)."""
    flags: list[PurchaseFlag] = []
    for i in range(0, len(events), chunk):
        result = run_step(events[i : i + chunk], store, config, score=score)
        assert commit(result, store, None).checkpoint is None
        flags += result.flags
    return flags


def run_until_committed(
    events: Sequence[NetworkEvent],
    store: NetworkStore,
    config: NetworkConfig,
    sink: RecordingSink,
    heal: int = 1,
) -> list[CommitOutcome]:
    """Play Lambda: run the batch, and while a checkpoint comes back, redeliver from it. After ``heal`` attempts
    the failures injected in an in-memory store and the sink are cleared (so the loop ends)."""
    outcomes = []
    pending = list(events)
    while pending:
        outcome = commit(run_step(pending, store, config), store, sink)
        outcomes.append(outcome)
        if outcome.checkpoint is None:
            break
        pending = [ev for ev in pending if ev.seq >= outcome.checkpoint]
        if len(outcomes) >= heal:
            if isinstance(store, InMemoryNetworkStore):
                store.fail_reads.clear()
                store.fail_writes.clear()
            sink.fail_users.clear()
    return outcomes


def snapshot(store: InMemoryNetworkStore) -> tuple[dict[str, set[str]], dict[str, tuple[tuple[int, int, int], ...]]]:
    """What the rule depends on: friends and last-T purchases per user (guards and empty items left out)."""
    friends = {u: set(item.friends) for u, item in store.friends.items() if item.friends}
    purchases = {
        u: tuple((x.ts_ms, x.seq, x.cents) for x in item.purchases)
        for u, item in store.purchases.items()
        if item.purchases
    }
    return friends, purchases


def texts(flags: Sequence[PurchaseFlag]) -> list[tuple[int, str, str]]:
    return [(f.seq, f.baseline.mean_text, f.baseline.sd_text) for f in flags]
