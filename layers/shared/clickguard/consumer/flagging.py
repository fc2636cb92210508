"""Find the batch's flags: a vectorised screen over every event, then an exact replay of the few flagged users.

``score_batch`` reports each event's detector score; ``rule.firing_mask`` compares the whole batch with the
threshold at once. Only users with at least one firing event (about the alert budget) are walked event by event
with the reference ``apply_event``, which yields the exact session state at the firing event (its signals, top
transitions and token counts) for the message and its explanation, and applies the cooldown in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from clickguard.consumer.flags import Flag, build_flag, rounded
from clickguard.consumer.rule import allows, firing_mask
from clickguard.consumer.state import LastFlag
from clickguard.model.groups import Groups
from clickguard.model.live import Signal, reasons
from clickguard.model.scoring import (
    BatchResult,
    EventBatch,
    ScoringTable,
    SessionState,
    apply_event,
    score_state,
    state_features,
)
from clickguard.review.allowlist import AllowList
from clickguard.review.rule import suppressed
from clickguard.review.strength import score_strength


@dataclass(frozen=True)
class Applied:
    """The records that take effect, as columns in shard order: the events and where each came from."""

    events: EventBatch  # user keys, tokens, effective (clamped) times, session ids
    shard_ids: Sequence[str]
    seqs: Sequence[int]
    subs: Sequence[int]  # the event's part of its record (KPL sub-record, NDJSON line); 0 for a one-event record


@dataclass(frozen=True)
class FlagContext:
    """What the rule needs besides the batch: the model's table (with detector v2), the session gap, the cooldown,
    and the users reviewers allowed (``review.rule``: their flags for the same reasons stay silent)."""

    table: ScoringTable
    gap_ms: int
    cooldown_ms: int
    allow: AllowList = field(default_factory=AllowList)
    suppressed: list[str] = field(default_factory=list)  # filled in: users whose flag the allow-list silenced
    groups: Groups | None = None  # the model's behaviour groups: each flag says the user's nearest


def find_flags(
    result: BatchResult,
    applied: Applied,
    prior: Mapping[str, SessionState | None],
    last_flags: Mapping[str, LastFlag | None],
    ctx: FlagContext,
) -> tuple[list[Flag], dict[str, LastFlag]]:
    """Flags in shard order, and each flagged user's new last flag."""
    if not ctx.table.scored or ctx.table.scorer is None or not len(applied.events):
        return [], {}
    firing = firing_mask(result, ctx.table)
    if not firing.any():
        return [], {}
    users = applied.events.users
    flagged_users = {users[i] for i in np.flatnonzero(firing).tolist()}
    states = {u: prior.get(u) for u in flagged_users}
    last = {u: last_flags.get(u) for u in flagged_users}
    flags: list[Flag] = []
    for i, user in enumerate(users):
        if user not in flagged_users:
            continue
        state = states[user] = _advance(states[user], applied.events, i, ctx)
        if firing[i]:
            flag = _maybe_flag(user, state, last[user], applied, i, ctx)
            if flag is not None:
                flags.append(flag)
                last[user] = flag.last
    return flags, {u: f for u, f in last.items() if f is not None and f is not last_flags.get(u)}


def _advance(state: SessionState | None, events: EventBatch, i: int, ctx: FlagContext) -> SessionState:
    new, _ = apply_event(state, events.tokens[i], events.ts_ms[i], events.session_ids[i], ctx.table, ctx.gap_ms)
    return new


def explain(state: SessionState, table: ScoringTable, supervised: bool = True) -> list[Signal]:
    """The session's signals as the flag explains them (strongest first)."""
    assert table.scorer is not None
    return table.scorer.explain(state_features(state, table.min_events), state.llr_ubits, supervised)


def _maybe_flag(
    user: str, state: SessionState, last: LastFlag | None, applied: Applied, i: int, ctx: FlagContext
) -> Flag | None:
    # The reasons first, without the supervised part's logit, which is none of them: a flagged user's every later
    # firing event is held by the cooldown here, and the forest's pass was 12% of the demo's CPU.
    why = reasons(explain(state, ctx.table, supervised=False))
    if not allows(last, why, state.last_ts_ms, ctx.cooldown_ms):
        return None
    scorer = ctx.table.scorer
    assert scorer is not None
    score = score_state(state, ctx.table)
    strength = score_strength(rounded(score), rounded(scorer.threshold))  # as the allowed flag's message said
    if strength is not None and suppressed(ctx.allow.entry(user), why, strength, state.last_ts_ms):
        ctx.suppressed.append(user)
        return None  # a reviewer allowed this behaviour: the last flag stays as it was
    return build_flag(
        user,
        state,
        why,
        score,
        scorer.threshold,
        explain(state, ctx.table),
        ctx.table.version or "",
        applied.shard_ids[i],
        applied.seqs[i],
        applied.subs[i],
        group=ctx.groups.tag(state.tokens) if ctx.groups else None,
    )
