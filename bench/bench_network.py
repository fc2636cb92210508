"""Network rule benchmarks (issue 12): a purchase's cost for D = 1, 2, 3, and the file mode on a challenge-sized log.

Same data, same process for every pair:

1. Per purchase, for D = 1, 2, 3 on a graph of typical degree k: the step one purchase at a time (no batch to share
   reads with: the worst case) and in Kinesis-sized batches of 10,000, beside the naive rule
   (``bench.network_baseline``: every purchase kept, the network's whole history sorted per purchase). Figures:
   purchases/s, network members, items read from the store and BatchGetItem calls (100 keys each) per purchase, and
   purchases the naive rule looks at per purchase. Both must flag the same purchases with the same mean and sd.
2. ``clickguard network`` on a challenge-sized log (the challenge's medium sample is about half a million batch
   events over 10,000 users): wall time per phase (parse, build state, score), events/s, beside the naive rule
   scoring the same stream.

Times are the process's CPU seconds (``time.process_time``): the machine is shared, and wall time there measures the
neighbours as much as the code. The per-purchase section runs with the cyclic collector on, as the consumer does;
the file-mode section with it off on both sides, as ``clickguard network`` runs (``network_cmd.no_cyclic_gc``).

Run: ``python -m bench.bench_network`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.network_baseline import NaiveNetwork
from bench.network_data import LogShape, challenge_events, challenge_files, events
from clickguard.cli import network_cmd
from clickguard.network.commit import commit
from clickguard.network.config import NetworkConfig
from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.state import FriendsItem, Part, PurchasesItem
from clickguard.network.step import Kind, NetworkEvent, run_step

GET_LIMIT = 100  # keys per BatchGetItem (store.network.GET_LIMIT)
WINDOW = 50
CHUNK = network_cmd.CHUNK_EVENTS


@dataclass
class CountingStore:
    """The in-memory store, counting the items and the BatchGetItem calls the DynamoDB adapter would make."""

    inner: InMemoryNetworkStore
    items: int = 0
    calls: int = 0

    def _count(self, keys: Sequence[str]) -> None:
        self.items += len(keys)
        self.calls += math.ceil(len(keys) / GET_LIMIT)

    def get_friends(self, user_keys: Sequence[str]) -> tuple[dict[str, FriendsItem], set[str]]:
        self._count(user_keys)
        return self.inner.get_friends(user_keys)

    def get_purchases(self, user_keys: Sequence[str]) -> tuple[dict[str, PurchasesItem], set[str]]:
        self._count(user_keys)
        return self.inner.get_purchases(user_keys)

    def put(self, friends: Sequence[FriendsItem], purchases: Sequence[PurchasesItem]) -> set[tuple[Part, str]]:
        return self.inner.put(friends, purchases)


@dataclass(frozen=True)
class Row:
    label: str
    events_per_s: float
    members: float
    items_read: float
    get_calls: float
    flags: list[tuple[int, str, str]]


def build_state(history: list[NetworkEvent]) -> InMemoryNetworkStore:
    store = InMemoryNetworkStore()
    commit(run_step(history, store, NetworkConfig(1, WINDOW), score=False), store, None)
    return store


def copy_store(store: InMemoryNetworkStore) -> InMemoryNetworkStore:
    return InMemoryNetworkStore(dict(store.friends), dict(store.purchases))


def run_clickguard(base: InMemoryNetworkStore, stream: list[NetworkEvent], degree: int, batch: int) -> Row:
    store = CountingStore(copy_store(base))
    config = NetworkConfig(degree, WINDOW)
    flags, members = [], 0
    started = time.process_time()
    for i in range(0, len(stream), batch):
        result = run_step(stream[i : i + batch], store, config)
        commit(result, store, None)
        flags += [(f.seq, f.baseline.mean_text, f.baseline.sd_text) for f in result.flags]
        members += result.stats.members
    seconds = time.process_time() - started
    purchases = sum(ev.kind is Kind.PURCHASE for ev in stream)
    label = "one purchase per step" if batch == 1 else f"batches of {min(batch, len(stream)):,}"
    per = 1 / purchases
    return Row(label, len(stream) / seconds, members * per, store.items * per, store.calls * per, flags)


def run_naive(history: list[NetworkEvent], stream: list[NetworkEvent], degree: int) -> Row:
    naive = NaiveNetwork(degree, WINDOW)
    naive.run(history, score=False)
    started = time.process_time()
    flags = naive.run(stream, score=True)
    seconds = time.process_time() - started
    purchases = sum(ev.kind is Kind.PURCHASE for ev in stream)
    return Row("naive", len(stream) / seconds, 0.0, naive.purchases_read / purchases, 0.0, flags)


def bench_degrees(users: int, history_events: int, stream_events: int) -> None:
    history = events(LogShape(users=users, events=history_events, seed=11, befriend_share=0.2, unfriend_share=0.01))
    # purchases only, so that every read is a purchase's
    only_purchases = LogShape(users=users, events=stream_events, seed=12, befriend_share=0.0, unfriend_share=0.0)
    stream = events(only_purchases, first_seq=history_events + 1)
    base = build_state(history)
    degrees = [len(item.friends) for item in base.friends.values()]
    k = sum(degrees) / users
    per_user = sum(len(p.purchases) for p in base.purchases.values()) / users
    print(
        f"\n## Per purchase: {users:,} users, mean degree k = {k:.1f}, T = {WINDOW}, {per_user:.1f} purchases kept per "
        f"user, {len(stream):,} purchases scored"
    )
    print("| D | run | purchases/s | members / purchase | items read / purchase | BatchGetItem / purchase | ratio |")
    print("|---|---|---|---|---|---|---|")
    for degree in (1, 2, 3):
        rows = [run_clickguard(base, stream, degree, 1), run_clickguard(base, stream, degree, 10_000)]
        naive = run_naive(history, stream, degree)
        for row in rows:
            assert row.flags == naive.flags, f"D={degree}: {row.label} and the naive rule disagree"
            ratio = row.events_per_s / naive.events_per_s
            print(
                f"| {degree} | {row.label} | {row.events_per_s:,.0f} | {row.members:,.0f} | {row.items_read:,.1f} "
                f"| {row.get_calls:,.1f} | {ratio:,.1f}x |"
            )
        print(
            f"| {degree} | naive (all history, sorted) | {naive.events_per_s:,.0f} | - | "
            f"{naive.items_read:,.0f} purchases looked at | - | 1x |"
        )
        print(f"|   | flags (identical) | {len(naive.flags)} |  |  |  |  |")


def clickguard_network(batch: Path, stream: Path, out: Path) -> None:
    """``clickguard network`` through its own parser (the console script's other commands are not needed)."""
    parser = argparse.ArgumentParser(prog="clickguard")
    network_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["network", "--batch", str(batch), "--stream", str(stream), "--out", str(out)])
    args.func(args)


def parse_files(batch: Path, stream: Path) -> tuple[list[NetworkEvent], list[NetworkEvent]]:
    """Both files through the file mode's own reader, as ``clickguard network`` reads them."""
    reader = network_cmd.Reader(network_cmd.Tally())
    with batch.open("rb") as b, stream.open("rb") as s:
        b.readline()  # the parameters line
        reader.seq = 1
        first = [ev for chunk, _ in reader.chunks(b, "batch", CHUNK, first_line=2) for ev in chunk]
        later = [ev for chunk, _ in reader.chunks(s, "stream", CHUNK, keep=True) for ev in chunk]
    return first, later


def step_in_chunks(events: list[NetworkEvent], store: InMemoryNetworkStore, score: bool) -> None:
    config = NetworkConfig(2, WINDOW)
    for i in range(0, len(events), CHUNK):
        commit(run_step(events[i : i + CHUNK], store, config, score=score), store, None)


def bench_file_mode(batch_events: int, stream_events: int, users: int) -> None:
    batch_shape = LogShape(users=users, events=batch_events, seed=3)
    stream_shape = LogShape(users=users, events=stream_events, seed=4)
    batch_text, stream_text = challenge_files(2, WINDOW, batch_shape, stream_shape)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        batch, stream = root / "batch_log.json", root / "stream_log.json"
        batch.write_text(batch_text)
        stream.write_text(stream_text)
        started = time.process_time()
        clickguard_network(batch, stream, root / "flagged.json")
        total = time.process_time() - started
        flagged = (root / "flagged.json").read_text().count("\n")
        with network_cmd.no_cyclic_gc():
            t0 = time.process_time()
            first, later = parse_files(batch, stream)
            store = InMemoryNetworkStore()
            t1 = time.process_time()
            step_in_chunks(first, store, score=False)
            t2 = time.process_time()
            step_in_chunks(later, store, score=True)
            t3 = time.process_time()
            naive = NaiveNetwork(2, WINDOW)
            naive.run(first, score=False)
            t4 = time.process_time()
            naive_flags = naive.run(later, score=True)
            t5 = time.process_time()
    assert len(naive_flags) == flagged
    assert (first, later) == challenge_events(batch_shape, stream_shape)  # the files say what the generator made
    n = batch_events + stream_events
    print(f"\n## File mode: D = 2, T = {WINDOW}, {users:,} users, {batch_events:,} batch + {stream_events:,} stream")
    print(f"{len(batch_text) / 1e6:.1f} MB + {len(stream_text) / 1e6:.1f} MB of JSON lines, {flagged} flagged")
    print("| figure | clickguard | naive rule | ratio |")
    print("|---|---|---|---|")
    print(f"| `clickguard network`, end to end (CPU s) | {total:.1f} s ({n / total:,.0f} events/s) | - | - |")
    print(f"| reading and parsing the lines | {t1 - t0:.2f} s ({n / (t1 - t0):,.0f} lines/s) | - | - |")
    build, naive_build = t2 - t1, t4 - t3
    print(
        f"| building the state from the batch log | {build:.2f} s | {naive_build:.2f} s | {naive_build / build:.2f}x |"
    )
    print(
        f"| scoring the stream log ({stream_events:,} events) | {t3 - t2:.2f} s | {t5 - t4:.2f} s "
        f"| {(t5 - t4) / (t3 - t2):.1f}x |"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        bench_degrees(users=2_000, history_events=40_000, stream_events=500)
        bench_file_mode(batch_events=50_000, stream_events=1_000, users=2_000)
    else:
        bench_degrees(users=10_000, history_events=300_000, stream_events=1_000)
        bench_file_mode(batch_events=500_000, stream_events=5_000, users=10_000)


if __name__ == "__main__":
    main()
