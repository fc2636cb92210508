"""Find the batch's flags: a vectorised screen over every event, then an exact replay of the few flagged users.

``score_batch`` reports each event's running transitions and total bits; the calibrated rule runs on those arrays
for the whole batch at once. Only users with at least one firing event (about the calibrated flag rate) are walked
event by event with the reference ``apply_event``, which yields the exact session state at the firing event
(including its top transitions) for the message and applies the cooldown in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from clickguard import settings
from clickguard.consumer.flags import Flag, allows, build_flag
from clickguard.consumer.state import LastFlag
from clickguard.model.calibration import flag_reasons
from clickguard.model.model import Thresholds
from clickguard.model.scoring import BatchResult, ScoringTable, SessionState, apply_event


def firing_mask(result: BatchResult, thresholds: Thresholds) -> np.ndarray:
    trans = result.event_transitions
    total_bits = result.event_total_ubits / settings.MICROBITS_PER_BIT
    mean_bits = total_bits / np.maximum(trans, 1)
    over = (mean_bits > thresholds.mean_bits) | (total_bits > thresholds.total_bits)
    return (trans >= thresholds.min_events) & over


def find_flags(
    result: BatchResult,
    user_keys: Sequence[str],
    tokens: Sequence[str],
    ts_ms: Sequence[int],
    session_ids: Sequence[str | None],
    shard_ids: Sequence[str],
    seqs: Sequence[int],
    prior: Mapping[str, SessionState | None],
    last_flags: Mapping[str, LastFlag | None],
    table: ScoringTable,
    thresholds: Thresholds,
    gap_ms: int,
    cooldown_ms: int,
) -> tuple[list[Flag], dict[str, LastFlag]]:
    """Flags in shard order, and each flagged user's new last flag."""
    if not table.scored or result.event_transitions is None or not len(user_keys):
        return [], {}
    firing = firing_mask(result, thresholds)
    if not firing.any():
        return [], {}
    flagged_users = {user_keys[i] for i in np.flatnonzero(firing).tolist()}
    states = {u: prior.get(u) for u in flagged_users}
    last = {u: last_flags.get(u) for u in flagged_users}
    flags: list[Flag] = []
    version = table.version or ""
    for i, user in enumerate(user_keys):
        if user not in flagged_users:
            continue
        state, _ = apply_event(states[user], tokens[i], ts_ms[i], session_ids[i], table, gap_ms)
        states[user] = state
        if not firing[i]:
            continue
        reasons = tuple(flag_reasons(state.mean_bits, state.total_bits, state.transitions, thresholds))
        if reasons and allows(last[user], reasons, state.last_ts_ms, cooldown_ms):
            flag = build_flag(user, state, reasons, thresholds, version, shard_ids[i], seqs[i])
            flags.append(flag)
            last[user] = flag.last
    return flags, {u: f for u, f in last.items() if f is not None and f is not last_flags.get(u)}
