"""One user scored now: the stored session state, the request's events applied on top, nothing written.

The request's events take the consumer's own steps, in the consumer's order, so the answer is what the consumer
would compute if those events came next on the stream:

1. admission (``consumer.admission.admit``): an event whose ``event_id`` is among the user's last 128 ids is a
   duplicate, an event older than the user's latest time minus the session gap is late (both dropped, and counted),
   and a time more than 5 minutes past the request's arrival is clamped to it;
2. ``model.scoring.score_batch`` on top of the stored session (the vectorised pass: its per-event scores);
3. the flag rule (``consumer.rule``, walked as ``consumer.flagging.find_flags`` walks it): the rule fires after an
   event whose score passes the model's threshold, and a flag goes out unless the cooldown since the user's last
   flag holds it back, or a reviewer allowed the user for the same reasons (``review.rule``, the allow-list the
   consumer reads). The walk stops at the first flag: explaining every later firing event, as the consumer must to
   send each of them, would cost a few hundred microseconds each for an answer that names only the first.
   Without events (or when none applied) the stored session is judged as it stands.

The request's events get places on a shard of their own (``REQUEST_SHARD``, sequence number = position + 1), so
the replay guard never mistakes them for records already applied.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from clickguard.api.request import ScoreRequest
from clickguard.consumer.admission import Admission, admit
from clickguard.consumer.batch import applied_columns
from clickguard.consumer.flagging import Applied, explain
from clickguard.consumer.flags import rounded
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.rule import allows, firing_mask
from clickguard.consumer.state import LastFlag, UserState
from clickguard.model.live import Signal, reasons
from clickguard.model.scoring import (
    BatchResult,
    ScoringTable,
    SessionState,
    apply_event,
    score_batch,
    score_state,
)
from clickguard.review.allowlist import AllowEntry, AllowList
from clickguard.review.rule import suppressed
from clickguard.review.strength import score_strength

REQUEST_SHARD = "score-request"


class HeldBy(enum.StrEnum):
    """What keeps a flag in when the rule fires, checked in the consumer's order (``consumer.flagging``)."""

    COOLDOWN = "cooldown"  # the user's last flag is less than the cooldown old and these reasons add nothing
    ALLOW_LIST = "allow_list"  # a reviewer allowed the user for these reasons, and the behaviour is not stronger


@dataclass(frozen=True)
class Decision:
    """Would the rule fire now, and would a flag go out?"""

    fires: bool  # after one of the request's events (without any: the stored session as it stands)
    first_firing_event: int | None  # index into the request's events
    would_flag: bool
    flag_event: int | None  # index of the event a flag would go out on (None: no flag, or judged without events)
    held_by: HeldBy | None  # what held the flag back the first time the rule fired (None: it went out)
    reasons: tuple[str, ...]  # the flag's, or at the first firing state when it is held back


@dataclass(frozen=True)
class Admitted:
    received: int
    applied: int
    duplicates: int
    late: int
    clamped: int


@dataclass(frozen=True)
class UserScore:
    user_key: str
    stored: UserState | None  # what the table held (None: no item)
    stored_score: float  # the stored session's score (-inf: none, or shorter than min_events)
    session: SessionState | None  # after the request's events
    score: float  # of ``session`` (-inf: none, or shorter than min_events)
    signals: tuple[Signal, ...]  # of ``session``, strongest first
    reasons: tuple[str, ...]
    decision: Decision
    events: Admitted
    allowed: AllowEntry | None = None  # the user's allow-list entry, if a reviewer allowed them


@dataclass(frozen=True)
class Rule:
    """What the rule needs besides the user: the model's table (with detector v2), its session gap, the cooldown
    and the reviewers' allow-list."""

    table: ScoringTable
    gap_ms: int
    cooldown_ms: int
    allow: AllowList = field(default_factory=AllowList)  # the users reviewers allowed

    @property
    def threshold(self) -> float:
        assert self.table.scorer is not None, "a table without detector v2 never reaches scoring (503)"
        return self.table.scorer.threshold


def score_user(request: ScoreRequest, stored: UserState | None, rule: Rule, now_ms: int) -> UserScore:
    user = request.user_key
    prior = stored.session if stored else None
    recs = [_place(user, i, now_ms) for i in range(len(request.events))]
    adm = admit(recs, request.events, {user: stored} if stored else {}, rule.gap_ms)
    applied = applied_columns(recs, request.events, adm)
    result = score_batch(rule.table, rule.gap_ms, applied.events, {user: prior})
    session = result.final.get(user, prior)
    score = _score(session, rule.table)
    signals = tuple(explain(session, rule.table)) if session else ()
    if adm.applied:
        decision = _decide_events(result, applied, prior, stored, rule)
    else:
        decision = _decide_stored(prior, stored, rule)
    return UserScore(
        user_key=user,
        stored=stored,
        stored_score=_score(prior, rule.table),
        session=session,
        score=score,
        signals=signals,
        # the signals past 1% of a score: a session too short to have one is explained, but has no reason
        reasons=reasons(list(signals)) if np.isfinite(score) else (),
        decision=decision,
        events=_counts(len(request.events), adm),
        allowed=rule.allow.entry(user),
    )


def _place(user: str, i: int, now_ms: int) -> KinesisRecord:
    return KinesisRecord(REQUEST_SHARD, i + 1, str(i + 1), user, b"", now_ms)


def _score(session: SessionState | None, table: ScoringTable) -> float:
    return score_state(session, table) if session else float("-inf")


def _counts(received: int, adm: Admission) -> Admitted:
    return Admitted(received, len(adm.applied), adm.duplicate_ids, adm.late, adm.clamped)


def _decide_events(
    result: BatchResult, applied: Applied, prior: SessionState | None, stored: UserState | None, rule: Rule
) -> Decision:
    """The consumer's walk of ``flagging.find_flags`` for one user, stopped at the first flag (the answer needs
    no later one): the firing screen over the batch's per-event scores, then, at each firing event in order, the
    exact state there (the reference ``apply_event``) and ``held_by``'s two checks against the last flag as stored."""
    firing = np.flatnonzero(firing_mask(result, rule.table)).tolist()
    if not firing:
        return Decision(False, None, False, None, None, ())
    user = applied.events.users[0]
    last = stored.last_flag if stored else None
    first: tuple[int, HeldBy | None, tuple[str, ...]] | None = None
    state, done = prior, 0
    for i in firing:
        state = _advance(state, applied, done, i + 1, rule)
        done = i + 1
        held, why = held_by(user, state, last, rule)
        first = first or (i, held, why)
        if held is None:
            return Decision(True, _position(applied, first[0]), True, _position(applied, i), first[1], why)
    assert first is not None
    return Decision(True, _position(applied, first[0]), False, None, first[1], first[2])


def _position(applied: Applied, i: int) -> int:
    """The request's event behind applied event ``i`` (its sequence number is its position + 1)."""
    return applied.seqs[i] - 1


def _advance(state: SessionState | None, applied: Applied, start: int, stop: int, rule: Rule) -> SessionState:
    """The session state after applied events ``start`` to ``stop - 1``, one at a time (the reference)."""
    ev = applied.events
    for i in range(start, stop):
        state, _ = apply_event(state, ev.tokens[i], ev.ts_ms[i], ev.session_ids[i], rule.table, rule.gap_ms)
    assert state is not None
    return state


def _decide_stored(session: SessionState | None, stored: UserState | None, rule: Rule) -> Decision:
    """No event applied: does the stored session, as it stands, pass the threshold, and would a flag go out?"""
    if session is None or not _score(session, rule.table) > rule.threshold:
        return Decision(False, None, False, None, None, ())
    held, why = held_by(stored.user_key if stored else "", session, stored.last_flag if stored else None, rule)
    return Decision(True, None, held is None, None, held, why)


def held_by(user: str, state: SessionState, last: LastFlag | None, rule: Rule) -> tuple[HeldBy | None, tuple[str, ...]]:
    """What would keep the flag of a firing ``state`` in, and its reasons: the two checks of the consumer's
    ``flagging._maybe_flag``, with the same rule functions, in the same order and on the same rounded numbers."""
    why = reasons(explain(state, rule.table))
    if not allows(last, why, state.last_ts_ms, rule.cooldown_ms):
        return HeldBy.COOLDOWN, why
    strength = score_strength(rounded(score_state(state, rule.table)), rounded(rule.threshold))
    if strength is not None and suppressed(rule.allow.entry(user), why, strength, state.last_ts_ms):
        return HeldBy.ALLOW_LIST, why
    return None, why
