"""Detector v2, fitted and applied on event columns: the one implementation the trainer, ``clickguard score`` and
the quality benchmark share (the consumer still flags with the v1 rule until v2's streaming state is wired in).

* Sessions follow ``model.sessions`` (per user in arrival order, late events dropped); only sessions of at least
  ``min_events`` events are judged.
* Each session's features: the Markov model's peak running mean bits and total bits, and ``signals.FEATURES``.
* Unsupervised score (``tails``): the sum over features of the bits of each one's tail probability under the
  training window's own distribution, fitted robustly (the 2% most anomalous sessions trimmed, twice) on sessions
  capped per user like the calibration; a user's score is their worst session's.
* Supervised part (``supervised``): where the window has a block list, a logistic regression on each user's worst
  session's feature bits and shares of events per token, blended in only if it validates better on held-back labels.
* The cut meets an alert budget (``BUDGET`` of the window's unblocked users).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.calibration import peak_running_mean
from clickguard.model.model import Model
from clickguard.model.scoring import EventSeries
from clickguard.model.sessions import late_events, previous_states, session_starts
from clickguard.model.signals import FEATURES as SIGNALS
from clickguard.model.signals import feature_matrix, fold_batch, is_fail, token_bits
from clickguard.model.supervised import BlendFit, fit_blend
from clickguard.model.tails import TailTables, feature_bits, fit_robust, score, threshold_for_budget
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
    names: list[str]  # user key per user code
    owner: np.ndarray  # user code of each judged session
    features: np.ndarray  # (judged sessions, FEATURES)
    shares: np.ndarray  # (users, tokens + 1): share of events per vocabulary token, then log(1 + events)


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
    judged = length >= model.params.min_events
    x = np.column_stack([peak, total_bits, signals])[judged]
    counts = np.zeros((len(names), len(model.tokens)))
    np.add.at(counts, (user, states), 1.0)
    per_user = counts.sum(axis=1)
    shares = np.column_stack([counts / np.maximum(per_user, 1.0)[:, None], np.log1p(per_user)])
    return Sessions([str(u) for u in names], user[starts][judged], x, shares)


def worst_sessions(tables: TailTables, sess: Sessions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user: the score of their worst session (0 with none judged), that session's bits per feature (what
    drove the score) and its feature values (NaN with none judged)."""
    best = np.zeros(len(sess.names))
    bits_out = np.zeros((len(sess.names), len(FEATURES)))
    values = np.full((len(sess.names), len(FEATURES)), np.nan)
    if len(sess.owner):
        bits = feature_bits(tables, sess.features)
        total = bits.sum(axis=1)
        order = np.lexsort((total, sess.owner))
        last = order[np.r_[np.flatnonzero(np.diff(sess.owner[order])), len(order) - 1]]
        best[sess.owner[last]] = total[last]
        bits_out[sess.owner[last]] = bits[last]
        values[sess.owner[last]] = sess.features[last]
    return best, bits_out, values


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
    unsupervised, bits, _ = worst_sessions(tables, sess)
    blend = _fit_blend(unsupervised, np.column_stack([bits, sess.shares]), positive, seed)
    scores = blend.score(unsupervised, np.column_stack([bits, sess.shares])) if blend else unsupervised
    threshold = threshold_for_budget(scores[~positive], BUDGET)
    return Detector(tables, float(threshold), blend, BUDGET, len(rows))


def _fit_blend(unsupervised: np.ndarray, x: np.ndarray, positive: np.ndarray, seed: int) -> BlendFit | None:
    if positive.sum() < 2 or (~positive).sum() < 2:
        return None
    fitted = fit_blend(x, positive, unsupervised, seed)
    return None if fitted.refused else fitted


@dataclass(frozen=True)
class UserVerdicts:
    names: list[str]
    scores: np.ndarray  # the (blended) score per user
    flagged: np.ndarray
    bits: np.ndarray  # per user, the worst session's bits per feature: what drove the score
    values: np.ndarray  # per user, the worst session's features (NaN: no session long enough to judge)


def apply(detector: Detector, model: Model, events: EventSeries) -> UserVerdicts:
    sess = sessions_of(model, events)
    unsupervised, bits, values = worst_sessions(detector.tables, sess)
    scores = unsupervised
    if detector.blend is not None:
        scores = detector.blend.score(unsupervised, np.column_stack([bits, sess.shares]))
    return UserVerdicts(sess.names, scores, scores > detector.threshold, bits, values)


__all__ = ["BUDGET", "DIRECTIONS", "FEATURES", "Detector", "UserVerdicts", "apply", "fit", "score"]
