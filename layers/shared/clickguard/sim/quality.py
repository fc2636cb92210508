"""Offline quality with no AWS: train on one day with the real ``train``, score the next with the real
``score_batch`` in stream-like micro-batches, apply the consumer's own rule (detector v2's score against the
model's threshold, ``consumer.rule.firing_mask``) and compare users with the truth.

A user counts as flagged when any of their sessions fires the rule at any event, exactly as the consumer
evaluates it (per event, mid-session), so the result does not depend on batching. Micro-batches follow event
time (the thesis's 10 s Spark batches) only to bound the work per ``score_batch`` call.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clickguard.consumer.flagging import explain
from clickguard.consumer.rule import firing_mask
from clickguard.model import detector
from clickguard.model.live import Signal, reasons
from clickguard.model.model import Model, ModelParams
from clickguard.model.scoring import EventBatch, ScoringTable, SessionState, apply_event, score_batch, score_state
from clickguard.sim.catalog import is_abnormal
from clickguard.sim.generator import SimDay
from clickguard.timestamps import format_ms
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train


def columns_of(day: SimDay) -> EventColumns:
    """The day's events as training columns, exactly what parsing its NDJSON would give (without the JSON)."""
    return EventColumns(
        users=day.user_ids.tolist(),
        tokens=day.tokens(),
        ts_ms=day.ts_ms.tolist(),
        session_ids=day.session_ids.tolist(),
        event_ids=day.event_ids.tolist(),
        lines=len(day),
    )


@dataclass
class UserOutcome:
    user_id: str
    user_type: str | None  # None when the truth does not know the user
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)
    first_flag_ms: int | None = None
    mean_bits: float = 0.0  # of the flagging session (else the user's highest)
    total_bits: float = 0.0
    transitions: int = 0
    top: list[tuple[str, str, float]] = field(default_factory=list)  # (from, to, bits)
    score: float = -math.inf  # the highest detector score after any of the user's events
    signals: list[Signal] = field(default_factory=list)  # at the flag (strongest first)


@dataclass
class TypeCount:
    flagged: int = 0
    total: int = 0


@dataclass
class Quality:
    model: Model
    per_type: dict[str, TypeCount]
    precision: float
    recall: float
    true_positives: int
    false_positives: int
    false_negatives: int
    users: dict[str, UserOutcome]
    sessions: list[tuple[str, int, float, float]]  # final state per scored session: (user, n, mean, total bits)
    events_scored: int
    batches: int
    scored_columns: EventColumns | None = None  # the scored day (the report's per-signal histograms)

    def average_precision(self) -> float:
        """Of the ranking by score over the users the truth knows (a user never scored ranks last); NaN with no
        abuser among them."""
        known = [o for o in self.users.values() if o.user_type is not None]
        finite = [o.score for o in known if math.isfinite(o.score)]
        floor = (min(finite) if finite else 0.0) - 1.0
        scores = [o.score if math.isfinite(o.score) else floor for o in known]
        return average_precision([is_abnormal(o.user_type or "") for o in known], scores)

    def summary(self) -> dict[str, Any]:
        return {
            "model_version": self.model.version,
            "detector": detector_summary(self.model),
            "per_type": {k: {"flagged": v.flagged, "total": v.total} for k, v in sorted(self.per_type.items())},
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "average_precision": round(self.average_precision(), 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "events_scored": self.events_scored,
            "batches": self.batches,
        }


def detector_summary(model: Model) -> dict[str, float | str]:
    """What a person reading the demo's output or the report needs of the model's operating point."""
    fitted = detector.Detector.from_dict(model.detector) if model.detector else None
    if fitted is None:
        return {}
    return {
        "threshold": round(fitted.threshold, 4),
        "budget": fitted.budget,
        "min_events": model.params.min_events,
        "supervised part": "blended" if fitted.blend is not None else "none",
    }


def batch_bounds(ts_ms: np.ndarray, batch_seconds: float, max_records: int) -> list[tuple[int, int]]:
    """Split time-ordered events into micro-batches of one time window each, capped at ``max_records``."""
    window = np.floor_divide(ts_ms, int(batch_seconds * 1000))
    cuts = np.flatnonzero(np.diff(window)) + 1
    bounds, lo = [], 0
    for hi in [*cuts.tolist(), len(ts_ms)]:
        while hi - lo > max_records:
            bounds.append((lo, lo + max_records))
            lo += max_records
        if hi > lo:
            bounds.append((lo, hi))
        lo = hi
    return bounds


def score_stream(
    model: Model,
    users: Sequence[str],
    tokens: Sequence[str],
    ts_ms: np.ndarray,
    session_ids: Sequence[str | None],
    *,
    batch_seconds: float = 10.0,
    max_records: int = 10_000,
) -> tuple[dict[str, UserOutcome], list[tuple[str, int, float, float]], int]:
    """Score events in arrival order; returns per-user outcomes, final session states and the batch count."""
    table = detector.scoring_table(model)
    gap_ms = model.params.gap_ms
    state: dict[str, SessionState] = {}
    outcomes: dict[str, UserOutcome] = {}
    sessions: list[tuple[str, int, float, float]] = []
    bounds = batch_bounds(np.asarray(ts_ms), batch_seconds, max_records)
    ts_list = np.asarray(ts_ms).tolist()
    for lo, hi in bounds:
        batch_users = users[lo:hi]
        prior = {u: state.get(u) for u in set(batch_users)}
        batch = EventBatch(batch_users, tokens[lo:hi], ts_list[lo:hi], session_ids[lo:hi])
        result = score_batch(table, gap_ms, batch, prior)
        continued: set[str] = set()
        for seg in result.segments:
            s = seg.state
            out = outcomes.get(seg.user_key) or outcomes.setdefault(seg.user_key, UserOutcome(seg.user_key, None))
            old = prior[seg.user_key]
            if old is not None and s.first_ts_ms == old.first_ts_ms and s.transitions > old.transitions:
                continued.add(seg.user_key)
            if not out.flagged and s.transitions >= table.min_events and s.mean_bits > out.mean_bits:
                _describe(out, s)
            if not seg.is_final:
                sessions.append(_row(seg.user_key, s))
        scores = np.asarray(result.event_scores)
        for i in np.flatnonzero(np.isfinite(scores)).tolist():
            out = outcomes[batch_users[i]]
            out.score = max(out.score, float(scores[i]))
        # The consumer's rule runs on every event (not only at batch ends): the same vectorised screen it uses.
        for i in np.flatnonzero(firing_mask(result, table)).tolist():
            if not outcomes[batch_users[i]].flagged:
                _flag(
                    outcomes[batch_users[i]],
                    prior[batch_users[i]],
                    lo,
                    i,
                    users,
                    tokens,
                    ts_list,
                    session_ids,
                    table,
                    gap_ms,
                )
        # A prior session that no segment of this batch continued has ended: record its final state.
        sessions.extend(_row(u, old) for u, old in prior.items() if old is not None and u not in continued)
        state.update(result.final)
    sessions.extend(_row(u, s) for u, s in state.items())
    return outcomes, sessions, len(bounds)


def _flag(
    out: UserOutcome,
    state: SessionState | None,
    lo: int,
    i: int,
    users: Sequence[str],
    tokens: Sequence[str],
    ts: list[int],
    sids: Sequence[str | None],
    table: ScoringTable,
    gap_ms: int,
) -> None:
    """Replay the user's events of this batch up to the firing one, for the exact state the flag describes."""
    user = users[lo + i]
    for k in range(lo, lo + i + 1):
        if users[k] == user:
            state, _ = apply_event(state, tokens[k], ts[k], sids[k], table, gap_ms)
    assert state is not None
    out.signals = explain(state, table)
    out.flagged, out.reasons, out.first_flag_ms = True, list(reasons(out.signals)), state.last_ts_ms
    out.score = max(out.score, score_state(state, table))
    _describe(out, state)


def _row(user: str, s: SessionState) -> tuple[str, int, float, float]:
    return (user, s.transitions, round(s.mean_bits, 4), round(s.total_bits, 3))


def _describe(out: UserOutcome, s: SessionState) -> None:
    out.mean_bits, out.total_bits, out.transitions = s.mean_bits, s.total_bits, s.transitions
    out.top = [(t.from_token, t.to_token, round(t.bits, 3)) for t in s.top]


def tally(flagged: Collection[str], truth: Mapping[str, str]) -> tuple[dict[str, TypeCount], int, int, int]:
    """Per-type flagged/total, and true positives, false positives and false negatives on abnormal users.
    A flagged user the truth does not know counts against precision."""
    per_type: dict[str, TypeCount] = {}
    tp = fp = fn = 0
    for user, kind in truth.items():
        hit = user in flagged
        count = per_type.setdefault(kind, TypeCount())
        count.total += 1
        count.flagged += hit
        bad = is_abnormal(kind)
        tp += hit and bad
        fp += hit and not bad
        fn += (not hit) and bad
    fp += sum(1 for u in flagged if u not in truth)
    return per_type, tp, fp, fn


def precision(tp: int, fp: int) -> float:
    return tp / (tp + fp) if tp + fp else 1.0


def recall(tp: int, fn: int) -> float:
    return tp / (tp + fn) if tp + fn else 1.0


def measure(
    outcomes: Mapping[str, UserOutcome], truth: Mapping[str, str]
) -> tuple[dict[str, TypeCount], int, int, int]:
    """``tally`` over the users the scoring flagged; each outcome learns its true type for the report."""
    for user, out in outcomes.items():
        out.user_type = truth.get(user, out.user_type)
    return tally({u for u, o in outcomes.items() if o.flagged}, truth)


def precision_recall_curve(
    labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> list[tuple[float, float]]:
    """(recall, precision) at each distinct score threshold, highest score first; tied scores are one threshold."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if not y.any():
        return []
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return list(zip((tp / tp[-1]).tolist(), (tp / (tp + fp)).tolist(), strict=True))


def average_precision(labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the precision-recall steps (recall gained x precision there), as scikit-learn defines it;
    NaN with no positive."""
    curve = precision_recall_curve(labels, scores)
    if not curve:
        return math.nan
    recalls = np.array([r for r, _ in curve])
    precisions = np.array([p for _, p in curve])
    return float(np.sum(np.diff(np.r_[0.0, recalls]) * precisions))


def sample_block_list(labels: Mapping[str, str], share: float, seed: int = 0) -> list[str]:
    """Play the reviewers: a reproducible random ``share`` (drawn with ``seed``) of the abnormal users in the
    ground truth ``labels``, as the block list they would already have written. (The trainer's own reading of real
    decisions is ``clickguard.store.labels.blocked_users``.)"""
    if not 0 <= share <= 1:
        raise ValueError(f"blocked_share={share} (need 0..1)")
    abusers = sorted(u for u, t in labels.items() if is_abnormal(t))
    draws = np.random.default_rng(seed).random(len(abusers)).tolist()
    return [u for u, r in zip(abusers, draws, strict=True) if r < share]


def evaluate(
    train_day: SimDay,
    score_day: SimDay,
    params: ModelParams | None = None,
    *,
    batch_seconds: float = 10.0,
    min_sessions: int = 100,
    blocked_share: float = 0.0,
    seed: int = 0,
) -> Quality:
    """Train on ``train_day``, score ``score_day`` and measure against its ground truth.

    ``blocked_share`` plays the review loop: that share of the training day's abnormal users (drawn with
    ``seed``) were already blocked by reviewers, so training leaves them out, as the trainer does with the
    decisions under ``labels/`` (the thesis trained on good users only). 0 = a first training on raw traffic.
    """
    blocked = sample_block_list(train_day.labels, blocked_share, seed)
    return evaluate_columns(
        columns_of(train_day),
        columns_of(score_day),
        score_day.labels,
        params,
        batch_seconds=batch_seconds,
        min_sessions=min_sessions,
        exclude_users=blocked,
    )


def evaluate_columns(
    train_cols: EventColumns,
    score_cols: EventColumns,
    truth: Mapping[str, str],
    params: ModelParams | None = None,
    *,
    batch_seconds: float = 10.0,
    min_sessions: int = 100,
    exclude_users: Collection[str] = (),
) -> Quality:
    """The same on parsed event files (e.g. a simulator's NDJSON and its labels CSV)."""
    start, end = format_ms(min(train_cols.ts_ms)), format_ms(max(train_cols.ts_ms) + 1)
    model, _ = train(
        train_cols,
        params or ModelParams(),
        window_start=start,
        window_end=end,
        created_at=end,
        min_sessions=min_sessions,
        exclude_users=exclude_users,
    )
    ts = np.asarray(score_cols.ts_ms, dtype=np.int64)
    order = np.argsort(ts, kind="stable")  # arrival order of a stream fed in time order
    pick = order.tolist()
    users = [score_cols.users[i] for i in pick]
    outcomes, sessions, batches = score_stream(
        model,
        users,
        [score_cols.tokens[i] for i in pick],
        ts[order],
        [score_cols.session_ids[i] for i in pick],
        batch_seconds=batch_seconds,
    )
    per_type, tp, fp, fn = measure(outcomes, truth)
    return Quality(
        model=model,
        per_type=per_type,
        precision=precision(tp, fp),
        recall=recall(tp, fn),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        users=outcomes,
        sessions=sessions,
        events_scored=len(score_cols),
        batches=batches,
        scored_columns=score_cols,
    )
