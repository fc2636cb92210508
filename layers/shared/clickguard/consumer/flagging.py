"""Find the batch's flags: a vectorised screen over every event, then an exact replay of the few flagged users.

``score_batch`` reports each event's running transitions and total bits; ``rule.firing_mask`` runs the rule on
those arrays for the whole batch at once. Only users with at least one firing event (about the calibrated flag
rate) are walked event by event with the reference ``apply_event``, which yields the exact session state at the
firing event (including its top transitions) for the message and applies the cooldown in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from clickguard.consumer.flags import Flag, build_flag
from clickguard.consumer.rule import allows, firing_mask, flag_reasons
from clickguard.consumer.state import LastFlag
from clickguard.model.model import Thresholds
from clickguard.model.scoring import BatchResult, EventBatch, ScoringTable, SessionState, apply_event


@dataclass(frozen=True)
class Applied:
    """The records that take effect, as columns in shard order: the events and where each came from."""

    events: EventBatch  # user keys, tokens, effective (clamped) times, session ids
    shard_ids: Sequence[str]
    seqs: Sequence[int]


@dataclass(frozen=True)
class FlagContext:
    """What the rule needs besides the batch: the model's table and thresholds, the session gap, the cooldown."""

    table: ScoringTable
    thresholds: Thresholds
    gap_ms: int
    cooldown_ms: int


def find_flags(
    result: BatchResult,
    applied: Applied,
    prior: Mapping[str, SessionState | None],
    last_flags: Mapping[str, LastFlag | None],
    ctx: FlagContext,
) -> tuple[list[Flag], dict[str, LastFlag]]:
    """Flags in shard order, and each flagged user's new last flag."""
    if not ctx.table.scored or not len(applied.events):
        return [], {}
    firing = firing_mask(result, ctx.thresholds)
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


def _maybe_flag(
    user: str, state: SessionState, last: LastFlag | None, applied: Applied, i: int, ctx: FlagContext
) -> Flag | None:
    reasons = tuple(flag_reasons(state.mean_bits, state.total_bits, state.transitions, ctx.thresholds))
    if not reasons or not allows(last, reasons, state.last_ts_ms, ctx.cooldown_ms):
        return None
    version = ctx.table.version or ""
    return build_flag(user, state, reasons, ctx.thresholds, version, applied.shard_ids[i], applied.seqs[i])
