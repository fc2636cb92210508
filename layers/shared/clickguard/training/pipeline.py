"""Pure training: event columns -> vocabulary -> counts -> smoothed surprisal -> calibrated model. No AWS here."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from clickguard.model.calibration import calibrate
from clickguard.model.model import Model, ModelParams
from clickguard.model.sessions import previous_states, session_starts
from clickguard.model.transitions import (
    count_transitions,
    smoothed_probabilities,
    surprisal_bits,
    to_microbits,
)
from clickguard.model.vocabulary import OTHER_INDEX, START_INDEX, build_vocabulary, encode, index_of
from clickguard.training.dataset import EventColumns


class InsufficientData(Exception):
    """The window holds too little data to publish a trustworthy model; the previous model stays."""


@dataclass(frozen=True)
class SessionTable:
    """Every training session with its length and total micro-bits (for calibration and reports)."""

    user_codes: np.ndarray
    transitions: np.ndarray
    total_ubits: np.ndarray
    peak_mean_ubits: np.ndarray | None = None  # highest running mean over prefixes of >= min_events transitions


def _codes(values: list) -> np.ndarray:
    table: dict = {}
    return np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int64, count=len(values))


def _sid_codes(values: list[str | None]) -> np.ndarray:
    table: dict[str, int] = {}
    return np.fromiter(
        (-1 if v is None else table.setdefault(v, len(table)) for v in values), dtype=np.int64, count=len(values)
    )


def deduplicate(cols: EventColumns) -> EventColumns:
    """Drop repeats of a producer-assigned ``event_id`` per user (a retried PutRecords creates them)."""
    if not any(cols.event_ids):
        return cols
    seen: set[tuple[str, str]] = set()
    keep = []
    for i, (user, eid) in enumerate(zip(cols.users, cols.event_ids, strict=True)):
        if eid is not None:
            if (user, eid) in seen:
                continue
            seen.add((user, eid))
        keep.append(i)
    return cols.subset(keep)


def peak_running_mean(ub: np.ndarray, starts: np.ndarray, min_events: int) -> np.ndarray:
    """Per session, the highest running mean (micro-bits per transition) after any event from the
    ``min_events``-th on: what the consumer's per-event rule sees. -1 for sessions shorter than that."""
    first = np.flatnonzero(starts)
    seg = np.cumsum(starts) - 1
    cs = np.cumsum(ub, dtype=np.int64)
    before = np.concatenate(([0], cs))[first]  # running total just before each session
    pos = np.arange(len(ub)) - first[seg] + 1
    running = np.where(pos >= min_events, (cs - before[seg]) / pos, -1.0)
    return np.maximum.reduceat(running, first) if len(first) else np.empty(0)


def train(
    cols: EventColumns,
    params: ModelParams,
    *,
    window_start: str,
    window_end: str,
    created_at: str,
    min_sessions: int,
    exclude_users: Collection[str] = (),
) -> tuple[Model, SessionTable]:
    params.validate()
    n_in = len(cols)
    cols = deduplicate(cols)
    duplicates = n_in - len(cols)
    excluded_events = 0
    if exclude_users:
        excluded = frozenset(exclude_users)
        keep = [i for i, u in enumerate(cols.users) if u not in excluded]
        excluded_events = len(cols) - len(keep)
        cols = cols.subset(keep)
    if len(cols) == 0:
        raise InsufficientData("the training window holds no valid events")

    tokens = build_vocabulary(Counter(cols.tokens), params.max_states, params.min_token_count)
    index = index_of(tokens)
    n_states = len(tokens)

    ucode = _codes(cols.users)
    ts = np.asarray(cols.ts_ms, dtype=np.int64)
    order = np.lexsort((ts, ucode))  # by user, then time; stable, so ties keep arrival order
    u, ts = ucode[order], ts[order]
    states = encode(cols.tokens, index)[order]
    sids = _sid_codes(cols.session_ids)[order]

    starts = session_starts(u, ts, sids, params.gap_ms)
    prev = previous_states(states, starts, START_INDEX)
    n_sessions = int(starts.sum())
    if n_sessions < min_sessions:
        raise InsufficientData(f"{n_sessions} sessions in the window, fewer than the minimum of {min_sessions}")

    counts = count_transitions(prev, states, n_states)
    probs = smoothed_probabilities(counts, params.smoothing)
    bits = surprisal_bits(probs)
    ub = to_microbits(bits)[prev, states]
    seg = np.cumsum(starts) - 1
    sess = SessionTable(
        user_codes=u[starts],
        transitions=np.bincount(seg, minlength=n_sessions).astype(np.int64),
        total_ubits=np.bincount(seg, weights=ub, minlength=n_sessions).astype(np.int64),
        peak_mean_ubits=peak_running_mean(ub, starts, params.min_events),
    )
    thresholds = calibrate(
        sess.transitions, sess.total_ubits, params.min_events, params.mean_bits_quantile, params.total_bits_quantile,
        peak_mean_ubits=sess.peak_mean_ubits,
    )

    digest = hashlib.sha256()
    digest.update("\n".join(tokens).encode())
    digest.update(counts.tobytes())
    digest.update(repr(sorted(vars(params).items())).encode())
    digest.update(f"{window_start}|{window_end}".encode())
    compact_end = window_end.replace("-", "").replace(":", "")[:15]
    version = f"{compact_end}-{digest.hexdigest()[:10]}"

    stats = {
        "lines": cols.lines,
        "events": len(cols),
        "duplicates_dropped": duplicates,
        "excluded_users": len(frozenset(exclude_users)),
        "excluded_events": excluded_events,
        "rejected": dict(sorted(cols.rejected.items())),
        "users": int(ucode.max()) + 1,
        "sessions": n_sessions,
        "transitions": len(states),
        "vocabulary_size": n_states,
        "distinct_tokens": len(set(cols.tokens)),
        "other_share": round(float((states == OTHER_INDEX).mean()), 6),
        "mean_session_length": round(len(states) / n_sessions, 3),
    }
    model = Model(
        version=version,
        created_at=created_at,
        window_start=window_start,
        window_end=window_end,
        tokens=tokens,
        params=params,
        thresholds=thresholds,
        stats=stats,
        counts=counts,
        surprisal=bits,
        start_distribution=probs[START_INDEX].astype(np.float32),
    )
    return model, sess
