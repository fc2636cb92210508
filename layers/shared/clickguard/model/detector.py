"""Detector v2, fitted and applied on event columns: the one implementation the trainer, ``clickguard score`` and
the quality benchmark share; ``live`` compiles it for the consumer's per-event scoring (``model.live``).

* Sessions follow ``model.sessions`` (per user in arrival order, late events dropped); only sessions of at least
  ``min_events`` events are judged.
* Each session's features: the Markov model's peak running mean bits and total bits, and ``signals.FEATURES``.
* Unsupervised score (``tails``): the sum over features of the bits of each one's tail probability under the
  training window's own distribution, fitted robustly (the 2% most anomalous sessions trimmed, twice) on sessions
  capped per user like the calibration. The consumer scores a session after each of its events (from
  ``min_events`` on); a user's score is the highest of those (``peak_scores`` runs the consumer's own
  ``score_batch`` over the window), and the cut is taken on that.
* Supervised part (``supervised``): where the window has a block list, a logistic regression on each user's worst
  session's feature bits and that session's shares of events per token (linear in the shares, so the consumer
  streams it as one running sum: ``live``), blended in only if it validates better on held-back labels.
* The cut meets an alert budget (``BUDGET`` of the window's unblocked users).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.calibration import peak_running_mean
from clickguard.model.live import LiveDetector
from clickguard.model.model import Model
from clickguard.model.scoring import EventBatch, EventSeries, ScoringTable, score_batch
from clickguard.model.sessions import late_events, previous_states, session_starts
from clickguard.model.signals import FEATURES as SIGNALS
from clickguard.model.signals import feature_matrix, fold_batch, is_fail, token_bits
from clickguard.model.supervised import BlendFit, fit_blend
from clickguard.model.tails import TailTables, feature_bits, fit_robust, threshold_for_budget
from clickguard.model.tails import score as tail_score
from clickguard.model.user_cap import cap_runs
from clickguard.model.vocabulary import START_INDEX, encode, index_of

FEATURES: tuple[str, ...] = ("peak_mean_bits", "total_bits", *SIGNALS)
# Which tail is anomalous, from each feature's meaning (fixed before any measurement): +1 high, -1 low.
DIRECTIONS: tuple[int, ...] = (1, 1, 1, 1, 1, -1, 1, 1, -1)
BUDGET = 0.02  # share of the window's users the cut flags
TRIM, ROUNDS = 0.02, 2


@dataclass(frozen=True)
class Detector:
    tables: TailTables
    threshold: float  # flag when the (blended) score is above it
    blend: BlendFit | None  # None: no labels, or refused
    budget: float
    sessions: int  # training sessions the tables were fitted on

    def as_dict(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "tables": self.tables.as_dict(),
            "threshold": self.threshold,
            "blend": self.blend.as_dict() if self.blend else None,
            "budget": self.budget,
            "sessions": self.sessions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detector:
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"detector features {data.get('features')} are not this release's {list(FEATURES)}")
        blend = BlendFit.from_dict(data["blend"]) if data.get("blend") else None
        return cls(
            TailTables.from_dict(data["tables"]),
            float(data["threshold"]),
            blend,
            float(data["budget"]),
            int(data["sessions"]),
        )


@dataclass(frozen=True)
class Sessions:
    """A window's sessions as the consumer cuts them: per on-time event its session and vocabulary state, and
    per session long enough to judge (``judged``) its owner and its features at its end."""

    names: list[str]  # user key per user code
    owner: np.ndarray  # user code of each judged session
    features: np.ndarray  # (judged sessions, FEATURES)
    judged: np.ndarray  # session index (into the window's sessions) of each judged session
    seg: np.ndarray  # session index of each on-time event
    states: np.ndarray  # vocabulary state of each on-time event
    n_tokens: int

    def shares(self, rows: np.ndarray) -> np.ndarray:
        """For the judged sessions ``rows``: the share of the session's events per vocabulary token, then
        log(1 + events): the supervised part's inputs beside the feature bits (``live`` streams the same)."""
        sessions = self.judged[rows]
        pick = np.full(int(self.seg.max()) + 1 if len(self.seg) else 0, -1, dtype=np.int64)
        pick[sessions] = np.arange(len(rows))
        mine = pick[self.seg] >= 0
        counts = np.zeros((len(rows), self.n_tokens))
        np.add.at(counts, (pick[self.seg][mine], self.states[mine]), 1.0)
        events = counts.sum(axis=1)
        return np.column_stack([counts / np.maximum(events, 1.0)[:, None], np.log1p(events)])


def _codes(values: Sequence[Hashable]) -> tuple[np.ndarray, list[Any]]:
    """A code per value (first appearance order) and the distinct values: one pass in Python, the rest in numpy."""
    table: dict[Hashable, int] = {}
    codes = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(table)


def sessions_of(model: Model, events: EventSeries) -> Sessions:
    """Every user's sessions as the consumer cuts them, with their features (those long enough to judge)."""
    ucode, names = _codes(events.users)
    tcode, distinct = _codes(events.tokens)
    scode, sids = _codes(events.session_ids)
    order = np.argsort(ucode, kind="stable")
    user, ts = ucode[order], np.asarray(events.ts_ms, dtype=np.int64)[order]
    on_time = ~late_events(user, ts, model.params.gap_ms)
    order, user, ts = order[on_time], user[on_time], ts[on_time]
    no_sid = np.array([s is None for s in sids], dtype=bool)
    sid = np.where(no_sid[scode[order]], -1, scode[order])
    starts = session_starts(user, ts, sid, model.params.gap_ms)
    tok = tcode[order]
    states = encode(distinct, index_of(model.tokens))[tok]
    ub = model.microbits[previous_states(states, starts, START_INDEX), states]
    seg = np.cumsum(starts) - 1
    n = int(starts.sum())
    length = np.bincount(seg, minlength=n)
    total_bits = np.bincount(seg, weights=ub, minlength=n) / settings.MICROBITS_PER_BIT
    peak = peak_running_mean(ub, starts, model.params.min_events) / settings.MICROBITS_PER_BIT
    fail = np.array([is_fail(t) for t in distinct], dtype=bool)[tok]
    signals = feature_matrix(fold_batch(seg, ts, fail, token_bits(distinct)[tok], n))
    judged = np.flatnonzero(length >= model.params.min_events)
    x = np.column_stack([peak, total_bits, signals])[judged]
    return Sessions([str(u) for u in names], user[starts][judged], x, judged, seg, states, len(model.tokens))


@dataclass(frozen=True)
class Worst:
    """Per user, their worst session at its end under the tail tables (0 / NaN with no judged session)."""

    score: np.ndarray
    bits: np.ndarray  # that session's bits per feature: what drove the score
    values: np.ndarray  # that session's features
    row: np.ndarray  # that session's judged row (-1: none)


def worst_sessions(tables: TailTables, sess: Sessions) -> Worst:
    n_users = len(sess.names)
    best = np.zeros(n_users)
    bits_out = np.zeros((n_users, len(FEATURES)))
    values = np.full((n_users, len(FEATURES)), np.nan)
    row = np.full(n_users, -1, dtype=np.int64)
    if len(sess.owner):
        bits = feature_bits(tables, sess.features)
        total = tail_score(tables, sess.features)
        order = np.lexsort((total, sess.owner))
        last = order[np.r_[np.flatnonzero(np.diff(sess.owner[order])), len(order) - 1]]
        best[sess.owner[last]] = total[last]
        bits_out[sess.owner[last]] = bits[last]
        values[sess.owner[last]] = sess.features[last]
        row[sess.owner[last]] = last
    return Worst(best, bits_out, values, row)


def supervised_inputs(sess: Sessions, worst: Worst) -> np.ndarray:
    """Per user: the worst session's feature bits and token shares (zeros with no judged session)."""
    x = np.zeros((len(sess.names), len(FEATURES) + sess.n_tokens + 1))
    has = worst.row >= 0
    x[:, : len(FEATURES)] = worst.bits
    if has.any():
        x[has, len(FEATURES) :] = sess.shares(worst.row[has])
    return x


def live(detector: Detector, model: Model) -> LiveDetector:
    """The detector compiled for per-event scoring against ``model``'s vocabulary."""
    return LiveDetector(FEATURES, detector.tables, detector.blend, len(model.tokens), detector.threshold)


def scoring_table(model: Model) -> ScoringTable:
    """The consumer's scoring table for ``model``: its Markov surprisal and detector v2. Raises ValueError when the
    model carries no detector or one this release cannot read (the consumer then keeps its last good model)."""
    if model.detector is None:
        raise ValueError(f"model {model.version} has no detector v2 (trained by an older release): retrain it")
    fitted = Detector.from_dict(model.detector)
    return ScoringTable.from_model(model, live(fitted, model))


# Events scored per call when a whole window is scored as the consumer would: bounds the arrays per call.
CHUNK_EVENTS = 250_000


def _user_chunks(ucode: np.ndarray, n_users: int) -> list[np.ndarray]:
    """Event indices (arrival order kept) of groups of whole users, about ``CHUNK_EVENTS`` events each."""
    per_user = np.bincount(ucode, minlength=n_users)
    group = np.cumsum(per_user) // CHUNK_EVENTS
    event_group = group[ucode]
    order = np.argsort(event_group, kind="stable")
    bounds = np.flatnonzero(np.diff(event_group[order])) + 1
    return np.split(order, bounds)


def peak_scores(table: ScoringTable, gap_ms: int, events: EventSeries) -> tuple[list[str], np.ndarray]:
    """Per user (first appearance order), the highest score the consumer would see after any of their events:
    ``score_batch`` itself over the window, whole users per call (late events must already be dropped)."""
    ucode, names = _codes(events.users)
    best = np.full(len(names), -np.inf)
    users, tokens = np.asarray(events.users, dtype=object), np.asarray(events.tokens, dtype=object)
    ts, sids = np.asarray(events.ts_ms, dtype=np.int64), np.asarray(events.session_ids, dtype=object)
    for idx in _user_chunks(ucode, len(names)):
        batch = EventBatch(users[idx].tolist(), tokens[idx].tolist(), ts[idx].tolist(), sids[idx].tolist())
        result = score_batch(table, gap_ms, batch, {})
        assert result.event_scores is not None
        np.maximum.at(best, ucode[idx], result.event_scores)
    return [str(u) for u in names], best


def on_time(model: Model, events: EventSeries) -> EventBatch:
    """The events the consumer would apply: late ones (``sessions.late_events``) dropped, arrival order kept."""
    ucode, _ = _codes(events.users)
    order = np.argsort(ucode, kind="stable")
    late = np.zeros(len(order), dtype=bool)
    late[order] = late_events(ucode[order], np.asarray(events.ts_ms, dtype=np.int64)[order], model.params.gap_ms)
    keep = np.flatnonzero(~late)
    rows = keep.tolist()
    return EventBatch(
        [events.users[i] for i in rows],
        [events.tokens[i] for i in rows],
        [events.ts_ms[i] for i in rows],
        [events.session_ids[i] for i in rows],
    )


def fit(model: Model, events: EventSeries, blocked: Collection[str] = (), seed: int = 0) -> Detector:
    """Fit on the window's events; ``blocked`` users are left out of the tables and are the supervised positives.
    Raises ValueError when the window has no session long enough to judge."""
    sess = sessions_of(model, events)
    positive = np.array([u in set(blocked) for u in sess.names], dtype=bool)
    clean = ~positive[sess.owner]
    capped, _ = cap_runs(sess.owner[clean], model.params.max_user_share)
    rows = sess.features[clean] if capped is None else sess.features[clean][capped]
    if not len(rows):
        raise ValueError("no session in the window is long enough to fit detector v2")
    tables = fit_robust(rows, DIRECTIONS, trim=TRIM, rounds=ROUNDS)
    worst = worst_sessions(tables, sess)
    blend = _fit_blend(worst.score, supervised_inputs(sess, worst), positive, seed)
    unthresholded = Detector(tables, float("inf"), blend, BUDGET, len(rows))
    # The cut is taken on what the consumer will see: each user's highest score after any event.
    table = ScoringTable.from_model(model, live(unthresholded, model))
    names, peaks = peak_scores(table, model.params.gap_ms, on_time(model, events))
    unblocked = np.array([u not in set(blocked) for u in names], dtype=bool)
    threshold = threshold_for_budget(peaks[unblocked], BUDGET)
    return Detector(tables, float(threshold), blend, BUDGET, len(rows))


def _fit_blend(unsupervised: np.ndarray, x: np.ndarray, positive: np.ndarray, seed: int) -> BlendFit | None:
    if positive.sum() < 2 or (~positive).sum() < 2:
        return None
    fitted = fit_blend(x, positive, unsupervised, seed)
    return None if fitted.refused else fitted


@dataclass(frozen=True)
class UserVerdicts:
    names: list[str]
    scores: np.ndarray  # per user: the highest score after any of their events (what the consumer flags on)
    flagged: np.ndarray
    bits: np.ndarray  # per user, the worst session's bits per feature at its end: what drove the score
    values: np.ndarray  # per user, the worst session's features (NaN: no session long enough to judge)


def apply(detector: Detector, model: Model, events: EventSeries) -> UserVerdicts:
    """Every user of ``events`` scored as the consumer scores them (``score_batch`` with the live detector)."""
    table = ScoringTable.from_model(model, live(detector, model))
    names, scores = peak_scores(table, model.params.gap_ms, on_time(model, events))
    sess = sessions_of(model, events)
    worst = worst_sessions(detector.tables, sess)
    where = {u: i for i, u in enumerate(sess.names)}
    pick = np.array([where[u] for u in names], dtype=np.int64)
    return UserVerdicts(names, scores, scores > detector.threshold, worst.bits[pick], worst.values[pick])


__all__ = ["BUDGET", "DIRECTIONS", "FEATURES", "Detector", "UserVerdicts", "apply", "fit", "live", "scoring_table"]
