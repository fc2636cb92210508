"""Behaviour groups' costs (issue 12 part 2): fitting them in the trainer, and placing sessions in the consumer.

1. Trainer: ``model.group_fit.fit_groups`` on the training benchmark's window (300,000 events, 10,000 users of
   Zipf-random actions: no real behaviours, the worst case for grouping) and on a simulated marketplace day
   (3,000 users, seed 7: real behaviours), beside the whole ``train`` of the same window.
2. Consumer: the consumer benchmark's batch (10,000 records, 1,000 users), new users then the same users returning,
   through ``process_batch`` with in-memory stores, with the model's groups and without: handler CPU per record
   and the campaign buckets counted (one UpdateItem each), next to the 10 BatchGetItem + 40 BatchWriteItem the batch
   costs anyway.

Run: ``python -m bench.bench_groups`` (``--quick`` for a smaller window).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.bench_consumer import batch_event, trained_model
from bench.data import ndjson_lines
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.config import ConsumerConfig
from clickguard.consumer.kinesis_event import decode_event
from clickguard.consumer.ports import ModelView
from clickguard.model import detector
from clickguard.model.group_fit import fit_groups
from clickguard.model.model import Model, ModelParams
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train


def best_of(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_fit(cols: EventColumns, repeat: int) -> dict[str, Any]:
    start, end = "2025-11-20T00:00:00Z", "2025-11-27T00:00:00Z"
    holder: dict[str, Model] = {}

    def whole() -> None:
        window = {"window_start": start, "window_end": end, "created_at": end}
        holder["model"], _ = train(cols, ModelParams(), min_sessions=1, **window)

    train_s = best_of(whole, repeat)
    model = holder["model"]
    fit_s = best_of(lambda: fit_groups(model, cols), repeat)
    stored = model.groups or {}
    return {
        "events": len(cols),
        "users": len(set(cols.users)),
        "train_s": train_s,
        "fit_s": fit_s,
        "groups": [g["users"] for g in stored.get("groups", [])],
        "limit": stored.get("limit"),
        "stats": stored.get("stats", {}),
        "bytes": len(str(stored)),
    }


def simulated_day() -> EventColumns:
    from clickguard.sim import quality
    from clickguard.sim.generator import simulate
    from clickguard.sim.population import SimConfig

    return quality.columns_of(simulate(SimConfig(users=3000, seed=7, days=1))[0])


class Sessions:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def get_many(self, keys: Any) -> Any:
        return {k: self.items[k] for k in keys if k in self.items}, set()

    def put_many(self, states: Any) -> set[str]:
        self.items.update({s.user_key: s for s in states})
        return set()


class Flags:
    def send(self, flags: Any) -> set[str]:
        return set()


class Rejected:
    def put(self, entries: Any) -> None:
        return None


class Counter:
    """Answers as DynamoDB would (a set per bucket), and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.members: dict[Any, set[bytes]] = {}

    def add(self, updates: Any) -> Any:
        from clickguard.consumer.buckets import GroupCount

        out = {}
        for u in updates:
            self.calls += 1
            held = self.members.setdefault(u.bucket, set())
            held |= set(u.digests)
            out[u.bucket] = GroupCount(min(len(held), u.cap), False, u.sample)
        return out

    def mark_alerted(self, buckets: Any) -> set[Any]:
        self.calls += len(buckets)
        return set()


class Provider:
    def __init__(self, model: Model) -> None:
        self.view = ModelView(detector.scoring_table(model), model, 60.0)

    def current(self) -> ModelView:
        return self.view


def bench_consumer(model: Model, repeat: int) -> dict[str, Any]:
    """Per phase: the handler's CPU per record with groups and without (alternated, best of ``repeat``), the
    campaign step's own share (timed inside the batch), the buckets counted and the UpdateItem calls made."""
    from clickguard.consumer import batch

    config = ConsumerConfig("sessions", "https://q", "b", "b")
    new, again = decode_event(batch_event(10_000, 1_000)), decode_event(batch_event(10_000, 1_000, seed=2, hour=1))
    step_s = [0.0]
    real_step = batch.run_campaign

    def timed(*args: Any) -> Any:
        t0 = time.process_time()
        try:
            return real_step(*args)
        finally:
            step_s[0] += time.process_time() - t0

    batch.run_campaign = timed  # type: ignore[assignment]
    out: dict[str, Any] = {}
    try:
        for phase in ("new", "returning"):
            best: dict[str, float] = {"with": float("inf"), "without": float("inf"), "step": float("inf")}
            for _ in range(repeat):
                for label, m in (("with", model), ("without", replace(model, groups=None))):
                    counter = Counter()
                    deps = Deps(Sessions(), Flags(), Rejected(), Provider(m), groups=counter)
                    if phase == "returning":
                        process_batch(new, deps, config)
                        counter.calls = 0
                    step_s[0] = 0.0
                    t0 = time.process_time()
                    res = process_batch(new if phase == "new" else again, deps, config)
                    best[label] = min(best[label], time.process_time() - t0)
                    if label == "with":
                        best["step"] = min(best["step"], step_s[0])
                        out[phase] = {"buckets": res.group_buckets, "update_calls": counter.calls}
            out[phase].update({k: v / 10_000 * 1e6 for k, v in best.items()})
    finally:
        batch.run_campaign = real_step
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    n = 30_000 if args.quick else 300_000
    start = datetime(2025, 11, 20, tzinfo=UTC)
    cols = EventColumns()
    cols.add_lines(ndjson_lines(n, max(1000, n // 30), int(start.timestamp() * 1000), 7 * 86_400_000))
    print("1. fitting the groups in the trainer (best of 2; the whole train() of the same window beside it)")
    for label, window in (("training benchmark window", cols), ("simulated marketplace day", simulated_day())):
        f = bench_fit(window, 2)
        print(
            f"   {label}: {f['events']:,} events, {f['users']:,} users: groups {f['fit_s']:.2f} s of "
            f"train() {f['train_s']:.2f} s; {len(f['groups'])} groups {f['groups']}, limit {f['limit']} bits, "
            f"{f['stats'].get('sample')} users clustered, grouped share {f['stats'].get('grouped_share')}, "
            f"checkpoints fitting no group {f['stats'].get('ungrouped_checkpoint_share')}, about {f['bytes']:,} bytes"
        )
    model = trained_model()
    print(f"2. the consumer's batch (10,000 records, 1,000 users), model of {model.n_states} states")
    c = bench_consumer(model, 5)
    for phase in ("new", "returning"):
        r = c[phase]
        print(
            f"   {phase} users: handler {r['with']:.1f} us/record with groups, {r['without']:.1f} without; campaign "
            f"step {r['step']:.2f} us/record; {r['buckets']} campaign buckets = {r['update_calls']} UpdateItem calls"
        )
    print(f"   (run at {datetime.now(UTC) + timedelta(0):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
