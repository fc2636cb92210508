"""Every user's score and flag decision over a file of events, offline: the consumer's own maths on one batch.

``score_users`` applies what the consumer applies, in the same order: producer duplicates (a repeated ``event_id``
per user) and late events (``model.sessions``) are dropped, the rest is scored by ``score_batch`` (batch-split
invariant, so one batch gives what any batching gives), and ``rule.rule_ratio`` turns each event into the rule as a
number. A user is flagged when the rule fires after any of their events (ratio > 1), as the consumer would flag
them, before the cooldown (which limits messages, not decisions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickguard import settings
from clickguard.consumer.rule import flag_reasons, rule_ratio
from clickguard.model.model import Model
from clickguard.model.scoring import EventBatch, EventSeries, ScoringTable, score_batch
from clickguard.model.sessions import late_events


@dataclass(frozen=True)
class UserScore:
    user_key: str
    score: float  # the highest rule ratio after any of the user's events: above 1 the rule fires
    flagged: bool
    reasons: tuple[str, ...]  # what fired at the highest-scoring event
    events: int
    sessions: int
    peak_mean_bits: float  # the highest running mean over sessions' prefixes of at least min_events transitions
    max_total_bits: float

    CSV_FIELDS = ("user_key", "score", "flagged", "reasons", "events", "sessions", "peak_mean_bits", "max_total_bits")

    def row(self) -> list[str]:
        return [
            self.user_key,
            f"{self.score:.6f}",
            str(self.flagged).lower(),
            "+".join(self.reasons),
            str(self.events),
            str(self.sessions),
            f"{self.peak_mean_bits:.6f}",
            f"{self.max_total_bits:.6f}",
        ]


def without_late(events: EventSeries, gap_ms: int) -> EventBatch:
    """The events the consumer would apply: per user in arrival order, late ones dropped."""
    codes: dict[str, int] = {}
    ucode = np.fromiter((codes.setdefault(u, len(codes)) for u in events.users), dtype=np.int64)
    order = np.argsort(ucode, kind="stable")
    late = np.zeros(len(ucode), dtype=bool)
    late[order] = late_events(ucode[order], np.asarray(events.ts_ms, dtype=np.int64)[order], gap_ms)
    keep = np.flatnonzero(~late).tolist()
    return EventBatch(
        [events.users[i] for i in keep],
        [events.tokens[i] for i in keep],
        [int(events.ts_ms[i]) for i in keep],
        [events.session_ids[i] for i in keep],
    )


def score_users(model: Model, events: EventSeries) -> list[UserScore]:
    """Users in descending score (ties by key)."""
    batch = without_late(events, model.params.gap_ms)
    if not len(batch):
        return []
    th = model.thresholds
    result = score_batch(ScoringTable.from_model(model), model.params.gap_ms, batch, {})
    ratio = rule_ratio(result, th)
    trans = np.asarray(result.event_transitions)
    total = np.asarray(result.event_total_ubits) / settings.MICROBITS_PER_BIT
    mean = np.where(trans >= th.min_events, total / np.maximum(trans, 1), 0.0)
    names, code = np.unique(np.asarray(batch.users, dtype=object).astype(str), return_inverse=True)
    n = len(names)
    best, peak_mean, max_total = np.full(n, -1.0), np.zeros(n), np.zeros(n)
    np.maximum.at(peak_mean, code, mean)
    np.maximum.at(max_total, code, total)
    at = np.zeros(n, dtype=np.int64)
    for i in np.lexsort((np.arange(len(ratio)), ratio)).tolist():  # ascending: the last write is the best event
        best[code[i]], at[code[i]] = ratio[i], i
    sessions = np.bincount([int(np.searchsorted(names, s.user_key)) for s in result.segments], minlength=n)
    events_per_user = np.bincount(code, minlength=n)
    out = []
    for k, name in enumerate(names.tolist()):
        i = int(at[k])
        reasons = flag_reasons(float(mean[i]), float(total[i]), int(trans[i]), th)
        out.append(
            UserScore(
                name,
                float(best[k]),
                bool(best[k] > 1),
                tuple(reasons),
                int(events_per_user[k]),
                int(sessions[k]),
                float(peak_mean[k]),
                float(max_total[k]),
            )
        )
    return sorted(out, key=lambda s: (-s.score, s.user_key))
