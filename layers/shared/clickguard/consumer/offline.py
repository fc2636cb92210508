"""Every user's score and flag decision over a file of events, offline: the consumer's own maths on one batch.

``score_users`` applies what the consumer applies, in the same order: producer duplicates (a repeated ``event_id``
per user) and late events (``model.sessions``) are dropped, the rest is scored by ``score_batch``'s maths with the
model's detector v2 (``scoring.scored_events``: batch-split invariant, so one batch gives what any batching gives).
A user's score is the highest score after any of their events, and they are flagged when it passes the model's
threshold, as the consumer would flag them, before the cooldown (which limits messages, not decisions). The signals
at that event (the session's value and the bits each added, from the row it was scored on) explain it, as a flag
message would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickguard.model import detector
from clickguard.model.live import Signal, reasons
from clickguard.model.model import Model
from clickguard.model.scoring import EventScores, EventSeries, ScoringTable, scored_events


@dataclass(frozen=True)
class UserScore:
    user_key: str
    score: float  # the highest detector score after any of the user's events (-inf: no session long enough)
    flagged: bool
    reasons: tuple[str, ...]  # the signals past 1% at that event
    events: int
    sessions: int
    signals: tuple[Signal, ...]  # at that event, in ``detector.FEATURES`` order (empty: never scored)

    CSV_FIELDS = (
        "user_key", "score", "judged", "flagged", "reasons", "user_events", "user_sessions",
        *detector.FEATURES, *(f"{name}_bits" for name in detector.FEATURES),
    )  # fmt: skip

    def row(self, floor: float) -> list[str]:
        """The CSV row; a user never judged (no session of ``min_events``) scores ``floor``, below every judged
        user: a finite number, which every tool that ranks or plots a column can read (``-inf`` is refused by
        scikit-learn's metrics, and an empty cell is NaN)."""
        values = {s.name: s for s in self.signals}
        cells = [values.get(name) for name in detector.FEATURES]
        judged = bool(np.isfinite(self.score))
        return [
            self.user_key,
            f"{self.score if judged else floor:.6f}",
            str(judged).lower(),
            str(self.flagged).lower(),
            "+".join(self.reasons),
            str(self.events),
            str(self.sessions),
            *("" if c is None or c.value is None or not np.isfinite(c.value) else f"{c.value:.6g}" for c in cells),
            *("" if c is None else f"{c.bits:.3f}" for c in cells),
        ]


def score_floor(scores: list[UserScore]) -> float:
    """The score written for users never judged: one below the lowest judged user's (or 0 - 1 when none is)."""
    judged = [s.score for s in scores if np.isfinite(s.score)]
    return float(np.floor(min(judged, default=0.0))) - 1.0


def score_users(model: Model, events: EventSeries) -> list[UserScore]:
    """Users in descending score (ties by key). Raises ValueError when the model has no usable detector v2."""
    table = detector.scoring_table(model)
    batch = detector.on_time(model, events)
    if not len(batch):
        return []
    scored = scored_events(table, model.params.gap_ms, batch)
    scores = scored.scores
    names, code = np.unique(np.asarray(batch.users, dtype=object).astype(str), return_inverse=True)
    n = len(names)
    best, at = np.full(n, -np.inf), np.full(n, -1, dtype=np.int64)
    for i in np.lexsort((np.arange(len(scores)), scores)).tolist():  # ascending: the last write is the best event
        if np.isfinite(scores[i]):
            best[code[i]], at[code[i]] = scores[i], i
    sessions = np.bincount(code, weights=scored.starts, minlength=n).astype(np.int64)
    events_per_user = np.bincount(code, minlength=n)
    threshold = table.scorer.threshold if table.scorer else np.inf
    signals = _signals_at(scored, at, table)
    out = []
    for k, name in enumerate(names.tolist()):
        flagged = bool(best[k] > threshold)
        why = reasons(list(signals[k])) if signals[k] else ()
        out.append(UserScore(name, float(best[k]), flagged, why, int(events_per_user[k]), int(sessions[k]), signals[k]))
    return sorted(out, key=lambda s: (-s.score, s.user_key))


def _signals_at(scored: EventScores, at: np.ndarray, table: ScoringTable) -> list[tuple[Signal, ...]]:
    """Per user, the signals of the session at its best event ``at`` (-1: never judged, no signals), in
    ``detector.FEATURES`` order, as a flag would explain them."""
    out: list[tuple[Signal, ...]] = [()] * len(at)
    users = np.flatnonzero(at >= 0)
    if table.scorer is None or not len(users):
        return out
    rows = at[users]
    explained = table.scorer.explain_rows(scored.features[rows], scored.llr_ubits[rows])
    for k, signals in zip(users.tolist(), explained, strict=True):
        by_name = {s.name: s for s in signals}
        out[k] = tuple(by_name[name] for name in detector.FEATURES)
    return out
