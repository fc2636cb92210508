"""``clickguard score`` (``consumer.offline.score_users``): users scored and explained per second, beside the replay it
replaced, in the same process on the same events and model.

The baseline is the 11-30 code: one vectorised pass for the scores, then each judged user's events replayed one by
one (``apply_event``) to their best event, for the session state a flag explains. Since 11-30h the pass keeps each
event's detector row, and the explanations are looked up from those rows at once. The benchmark checks both give
the same users, scores and signals before it prints a figure.

Run: ``python -m bench.bench_score`` (``--events N``, ``--users N``).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from bench.bench_consumer import T0_MS
from bench.data import ndjson_lines
from clickguard.consumer.flagging import explain
from clickguard.consumer.offline import UserScore, score_users
from clickguard.model import detector
from clickguard.model.live import Signal, reasons
from clickguard.model.model import Model, ModelParams
from clickguard.model.scoring import EventSeries, SessionState, apply_event, score_batch
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train

DAY_MS = 86_400_000


def day(n: int, users: int, start_ms: int, seed: int) -> EventColumns:
    cols = EventColumns()
    cols.add_lines(ndjson_lines(n, users, start_ms, DAY_MS, seed=seed))
    return cols


def replayed(model: Model, events: EventSeries) -> list[UserScore]:
    """The baseline, the 11-30 ``score_users``: the scoring pass, then each judged user's events replayed one by one
    to their best event, whose session state is explained."""
    table, gap_ms = detector.scoring_table(model), model.params.gap_ms
    batch = detector.on_time(model, events)
    result = score_batch(table, gap_ms, batch, {})
    scores = np.asarray(result.event_scores)
    names, code = np.unique(np.asarray(batch.users, dtype=object).astype(str), return_inverse=True)
    n = len(names)
    best, at = np.full(n, -np.inf), np.full(n, -1, dtype=np.int64)
    for i in np.lexsort((np.arange(len(scores)), scores)).tolist():
        if np.isfinite(scores[i]):
            best[code[i]], at[code[i]] = scores[i], i
    sessions = np.bincount([int(np.searchsorted(names, s.user_key)) for s in result.segments], minlength=n)
    events_per_user = np.bincount(code, minlength=n)
    threshold = table.scorer.threshold if table.scorer else np.inf
    rows_of: dict[int, list[int]] = {}
    for i, c in enumerate(code.tolist()):
        rows_of.setdefault(c, []).append(i)
    out = []
    for k, name in enumerate(names.tolist()):
        signals: tuple[Signal, ...] = ()
        if at[k] >= 0:
            state: SessionState | None = None
            for i in (i for i in rows_of[k] if i <= at[k]):
                state, _ = apply_event(state, batch.tokens[i], batch.ts_ms[i], batch.session_ids[i], table, gap_ms)
            assert state is not None
            by_name = {s.name: s for s in explain(state, table)}
            signals = tuple(by_name[name] for name in detector.FEATURES)
        why = reasons(list(signals)) if signals else ()
        out.append(UserScore(name, float(best[k]), bool(best[k] > threshold), why, int(events_per_user[k]),
                             int(sessions[k]), signals))  # fmt: skip
    return sorted(out, key=lambda s: (-s.score, s.user_key))


def _comparable(score: UserScore) -> tuple[object, ...]:
    """A user's row with NaN values (no evidence yet) as None, so that equal rows compare equal."""
    signals = [(s.name, s.typical, s.bits, None if s.value is None or math.isnan(s.value) else s.value)
               for s in score.signals]  # fmt: skip
    return (score.user_key, score.score, score.flagged, score.reasons, score.events, score.sessions, signals)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000, help="events in the scored file (default 300,000)")
    ap.add_argument("--users", type=int, default=10_000, help="users among them (default 10,000)")
    args = ap.parse_args(argv)
    if args.events < 1 or args.users < 1:
        ap.error("--events and --users must be at least 1")
    trained = day(args.events, args.users, T0_MS - DAY_MS, seed=7)
    model, _ = train(trained, ModelParams(), window_start="2025-11-20T00:00:00Z", window_end="2025-11-21T00:00:00Z",
                     created_at="2025-11-21T00:00:00Z", min_sessions=10)  # fmt: skip
    events = day(args.events, args.users, T0_MS, seed=8)
    t0 = time.process_time()
    scores = score_users(model, events)
    ours = time.process_time() - t0
    t0 = time.process_time()
    baseline = replayed(model, events)
    base = time.process_time() - t0
    judged = [s for s in scores if s.signals]
    assert list(map(_comparable, scores)) == list(map(_comparable, baseline)), "the two ways differ"
    print(f"scored file: {args.events:,} events, {len(scores):,} users ({len(judged):,} judged), one core")
    for label, seconds in (("clickguard score (one pass, explained from its rows)", ours),
                           ("baseline (the pass, then each judged user replayed)", base)):  # fmt: skip
        print(f"  {label:<54} {seconds:6.2f} s CPU, {args.events / seconds:10,.0f} events/s")
    print(f"  ratio: {base / ours:.1f}x; every user's row equal both ways ({len(judged):,} explained)")


if __name__ == "__main__":
    main()
