"""Session scoring: running state per user and a vectorised batch update.

Rules (shared by ``apply_event``, the reference, and ``score_batch``, the vectorised form):

* Arrival order is the truth. A user's events are applied in the order given (Kinesis keeps order per partition
  key); timestamps only decide where sessions break.
* ``last_ts_ms`` is the user's latest event time (a running maximum), so a late or out-of-order event never moves
  it backwards and never opens a session by itself: the gap is ``ts - last_ts_ms`` and a negative gap continues.
* A session breaks when that gap exceeds ``gap_ms``, or when the event carries a session id that differs from the
  last session id the user sent (a missing id never breaks a session).
* Every event is one transition: ``START -> first token`` opens a session, so ``transitions`` equals the number of
  events in the session. Surprisal accumulates as integer micro-bits: exact, so any batching gives equal states.
* ``top`` keeps the three most surprising transitions, ordered by bits (desc) then position in the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from clickguard import settings
from clickguard.model.model import Model
from clickguard.model.vocabulary import OTHER_INDEX, RESERVED, START, START_INDEX, index_of

TOP_K = 3
_MB = settings.MICROBITS_PER_BIT


@dataclass(frozen=True)
class TopTransition:
    ubits: int
    position: int  # 1-based transition number within the session
    from_token: str
    to_token: str

    @property
    def bits(self) -> float:
        return self.ubits / _MB


@dataclass(frozen=True)
class SessionState:
    session_id: str | None  # the last session id the user sent (None if never)
    last_token: str
    first_ts_ms: int
    last_ts_ms: int
    transitions: int
    total_ubits: int
    top: tuple[TopTransition, ...] = ()

    @property
    def total_bits(self) -> float:
        return self.total_ubits / _MB

    @property
    def mean_bits(self) -> float:
        return self.total_ubits / _MB / self.transitions if self.transitions else 0.0

    @property
    def score(self) -> float:
        """The thesis's score ``exp(mean ln p)`` = ``2 ** -mean_bits``: low is suspicious."""
        return 2.0 ** (-self.mean_bits)


class ScoringTable:
    """What scoring needs from a model: token -> state index and the micro-bit surprisal matrix."""

    def __init__(self, tokens: Sequence[str], microbits: np.ndarray, version: str | None) -> None:
        self.index = index_of(tokens)
        self.microbits = microbits
        self.version = version

    @classmethod
    def from_model(cls, model: Model) -> ScoringTable:
        return cls(model.tokens, model.microbits, model.version)

    @classmethod
    def unscored(cls) -> ScoringTable:
        """No model yet: sessions are still tracked, every transition costs zero bits."""
        return cls(RESERVED, np.zeros((len(RESERVED), len(RESERVED)), dtype=np.int64), None)

    @property
    def scored(self) -> bool:
        return self.version is not None

    def state_of(self, token: str) -> int:
        return self.index.get(token, OTHER_INDEX)


def _merge_top(top: Sequence[TopTransition], extra: TopTransition) -> tuple[TopTransition, ...]:
    return tuple(sorted((*top, extra), key=lambda t: (-t.ubits, t.position))[:TOP_K])


def apply_event(
    state: SessionState | None,
    token: str,
    ts_ms: int,
    session_id: str | None,
    table: ScoringTable,
    gap_ms: int,
) -> tuple[SessionState, bool]:
    """Reference, one event at a time. Returns the new state and whether this event opened a session."""
    if state is not None:
        breaks = ts_ms - state.last_ts_ms > gap_ms or (
            session_id is not None and state.session_id is not None and session_id != state.session_id
        )
    if state is None or breaks:
        ub = int(table.microbits[START_INDEX, table.state_of(token)])
        top = (TopTransition(ub, 1, START, token),) if ub > 0 else ()
        last_ts = ts_ms if state is None else max(state.last_ts_ms, ts_ms)
        sid = session_id if session_id is not None else (state.session_id if state else None)
        return SessionState(sid, token, ts_ms, last_ts, 1, ub, top), True
    ub = int(table.microbits[table.state_of(state.last_token), table.state_of(token)])
    position = state.transitions + 1
    top = _merge_top(state.top, TopTransition(ub, position, state.last_token, token)) if ub > 0 else state.top
    return (
        replace(
            state,
            session_id=session_id if session_id is not None else state.session_id,
            last_token=token,
            last_ts_ms=max(state.last_ts_ms, ts_ms),
            transitions=position,
            total_ubits=state.total_ubits + ub,
            top=top,
        ),
        False,
    )


@dataclass(frozen=True)
class Segment:
    """One session's state after this batch touched it (a user may close a session and open another in a batch)."""

    user_key: str
    state: SessionState
    is_final: bool  # the user's current session after the batch
    events_in_batch: int


@dataclass(frozen=True)
class BatchResult:
    final: dict[str, SessionState]
    segments: list[Segment]
    # Per input event (input order): the session's transitions and total micro-bits right after that event.
    # The consumer evaluates its flag rule per event with these, so a flag never depends on batch boundaries.
    event_transitions: np.ndarray | None = None
    event_total_ubits: np.ndarray | None = None


def score_batch(
    table: ScoringTable,
    gap_ms: int,
    user_keys: Sequence[str],
    tokens: Sequence[str],
    ts_ms: Sequence[int],
    session_ids: Sequence[str | None],
    prior: Mapping[str, SessionState | None],
) -> BatchResult:
    """Apply a batch of events (in arrival order) to the users' prior states in one vectorised pass.

    Each user's prior state enters as a *virtual* event placed before that user's events, so session breaks,
    previous tokens and carried session ids follow from the same array operations as the batch's own events.
    """
    n = len(user_keys)
    if n == 0:
        return BatchResult({}, [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    codes: dict[str, int] = {}
    ucode = np.fromiter((codes.setdefault(u, len(codes)) for u in user_keys), dtype=np.int64, count=n)
    users = list(codes)

    sid_codes: dict[str, int] = {}

    def sid_code(sid: str | None) -> int:
        return -1 if sid is None else sid_codes.setdefault(sid, len(sid_codes))

    # Virtual prior events: one per user with a prior state, ahead of the user's real events.
    prior_states = [prior.get(u) for u in users]
    pv = [i for i, s in enumerate(prior_states) if s is not None]
    v_user = np.asarray(pv, dtype=np.int64)
    v_ts = np.fromiter((prior_states[i].last_ts_ms for i in pv), dtype=np.int64, count=len(pv))
    v_sid = np.fromiter((sid_code(prior_states[i].session_id) for i in pv), dtype=np.int64, count=len(pv))
    v_tok = [prior_states[i].last_token for i in pv]

    all_user = np.concatenate([v_user, ucode])
    # Stable sort on (user, real-after-virtual) keeps each user's events in arrival order behind its prior.
    order = np.lexsort((np.arange(len(all_user)), np.concatenate([np.zeros(len(pv)), np.ones(n)]), all_user))
    u = all_user[order]
    ts = np.concatenate([v_ts, np.asarray(ts_ms, dtype=np.int64)])[order]
    sid = np.concatenate([v_sid, np.fromiter((sid_code(s) for s in session_ids), dtype=np.int64, count=n)])[order]
    tok_str = np.asarray(v_tok + list(tokens), dtype=object)[order]
    state_of = table.state_of
    tok = np.fromiter((state_of(t) for t in tok_str), dtype=np.int64, count=len(tok_str))
    real = order >= len(pv)
    m = len(u)
    pos = np.arange(m)

    first = np.ones(m, dtype=bool)
    first[1:] = u[1:] != u[:-1]
    group_start = np.maximum.accumulate(np.where(first, pos, 0))

    # Running max of time per user: offset each user's times so one accumulate never crosses users.
    base = int(ts.min())
    offset = int(ts.max()) - base + 1
    run_max = np.maximum.accumulate(u * offset + (ts - base)) - u * offset + base
    # Last session id the user sent, carried forward within the user.
    has_sid = np.where(sid >= 0, pos, -1)
    last_sid_pos = np.maximum.accumulate(has_sid)
    carried_sid = np.where(last_sid_pos >= group_start, sid[np.maximum(last_sid_pos, 0)], -1)

    starts = first.copy()
    prev_max, prev_sid = run_max[:-1], carried_sid[:-1]
    starts[1:] |= (ts[1:] - prev_max) > gap_ms
    starts[1:] |= (sid[1:] >= 0) & (prev_sid >= 0) & (sid[1:] != prev_sid)

    prev_tok = np.empty(m, dtype=np.int64)
    prev_tok[0] = START_INDEX
    prev_tok[1:] = tok[:-1]
    prev_tok[starts] = START_INDEX
    ub = table.microbits[prev_tok, tok]
    ub[~real] = 0

    seg = np.cumsum(starts) - 1
    n_seg = int(seg[-1]) + 1
    seg_first = np.flatnonzero(starts)
    seg_last = np.append(seg_first[1:] - 1, m - 1)
    seg_real = np.bincount(seg, weights=real, minlength=n_seg).astype(np.int64)
    seg_ub = np.bincount(seg, weights=ub, minlength=n_seg).astype(np.int64)  # exact: sums < 2**53
    # Position of each real transition in its session; a continued prior session starts counting after it.
    seg_continues_prior = ~real[seg_first]
    prior_of_seg = [prior_states[u[f]] if c else None for f, c in zip(seg_first, seg_continues_prior, strict=True)]
    prior_trans = np.fromiter((s.transitions if s else 0 for s in prior_of_seg), dtype=np.int64, count=n_seg)
    position = np.cumsum(real) - np.append(0, np.cumsum(real))[seg_first][seg] + prior_trans[seg]

    # Top-K candidates: this batch's transitions, plus the kept top of each continued prior session.
    cand = np.flatnonzero(real & (ub > 0))
    c_seg = [*seg[cand].tolist()]
    c_ub = [*ub[cand].tolist()]
    c_pos = [*position[cand].tolist()]
    prev_str = np.empty(m, dtype=object)
    prev_str[1:] = tok_str[:-1]
    prev_str[starts] = START
    c_from = [*prev_str[cand].tolist()]
    c_to = [*tok_str[cand].tolist()]
    for s_idx, s in enumerate(prior_of_seg):
        if s is not None and seg_real[s_idx]:
            for t in s.top:
                c_seg.append(s_idx)
                c_ub.append(t.ubits)
                c_pos.append(t.position)
                c_from.append(t.from_token)
                c_to.append(t.to_token)
    tops: list[list[TopTransition]] = [[] for _ in range(n_seg)]
    if c_seg:
        c_order = np.lexsort((np.asarray(c_pos), -np.asarray(c_ub), np.asarray(c_seg)))
        for k in c_order.tolist():
            bucket = tops[c_seg[k]]
            if len(bucket) < TOP_K:
                bucket.append(TopTransition(c_ub[k], c_pos[k], c_from[k], c_to[k]))

    sid_names = list(sid_codes)
    final: dict[str, SessionState] = {}
    segments: list[Segment] = []
    group_last_seg = seg[np.append(np.flatnonzero(first)[1:] - 1, m - 1)]
    is_final_seg = np.zeros(n_seg, dtype=bool)
    is_final_seg[group_last_seg] = True
    for s_idx in np.flatnonzero(seg_real > 0).tolist():
        f, last = int(seg_first[s_idx]), int(seg_last[s_idx])
        p = prior_of_seg[s_idx]
        csid = int(carried_sid[last])
        state = SessionState(
            session_id=sid_names[csid] if csid >= 0 else None,
            last_token=tok_str[last],
            first_ts_ms=p.first_ts_ms if p else int(ts[f]),
            last_ts_ms=int(run_max[last]),
            transitions=int(prior_trans[s_idx] + seg_real[s_idx]),
            total_ubits=(p.total_ubits if p else 0) + int(seg_ub[s_idx]),
            top=tuple(tops[s_idx]),
        )
        user = users[int(u[f])]
        final_flag = bool(is_final_seg[s_idx])
        segments.append(Segment(user, state, final_flag, int(seg_real[s_idx])))
        if final_flag:
            final[user] = state
    # Running values per event: cumulative micro-bits within the segment, plus the continued prior's total.
    cum_ub = np.cumsum(ub)
    prior_total = np.fromiter((s.total_ubits if s else 0 for s in prior_of_seg), dtype=np.int64, count=n_seg)
    run_total = cum_ub - (cum_ub - ub)[seg_first][seg] + prior_total[seg]
    real_at = np.flatnonzero(real)
    input_pos = order[real_at] - len(pv)
    ev_trans = np.empty(n, dtype=np.int64)
    ev_total = np.empty(n, dtype=np.int64)
    ev_trans[input_pos] = position[real_at]
    ev_total[input_pos] = run_total[real_at]
    return BatchResult(final, segments, ev_trans, ev_total)
