"""Session scoring: running state per user and a vectorised batch update.

Rules (shared by ``apply_event``, the reference, and ``score_batch``, the vectorised form):

* Sessions follow ``clickguard.model.sessions`` (the one rule, shared with training): arrival order per user,
  gaps from the user's latest time (``last_ts_ms``, a running maximum), session ids carried across events without.
* Every event is one transition: ``START -> first token`` opens a session, so ``transitions`` equals the number of
  events in the session. Surprisal accumulates as integer micro-bits: exact, so any batching gives equal states.
* ``top`` keeps the three most surprising transitions, ordered by bits (desc) then position in the session.
* The user's visit rhythm (``model.visits``) is carried from session to session within a UTC day: a session
  shorter than ``min_events`` is judged (on that rhythm alone) once the user has ``min_events`` gaps between visits.
* Detector v2's state rides along (O(1) per session): ``peak_mean_ubits`` (the highest running mean, in whole
  micro-bits, after any event from the model's ``min_events`` on), ``signals`` (``model.signals``) and
  ``tokens`` (events and micro-bits per vocabulary token: the supervised part's token shares, the behaviour
  profile). After
  every event ``score_batch`` evaluates the table's ``RowScorer`` on that event's features, so a flag never
  depends on where a batch starts or ends: every input to the score is an integer accumulator, and the score is
  the same elementwise function of them whichever batch computes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress, pairwise, repeat
from operator import attrgetter, itemgetter
from typing import NamedTuple, Protocol

import numpy as np

from clickguard import settings
from clickguard.model.codes import factorize, factorize_optional
from clickguard.model.live import Signal
from clickguard.model.model import Model
from clickguard.model.segmented import seg_cumsum, seg_running_max
from clickguard.model.sessions import SESSION_ID_QUIET_MS, Breaks, session_breaks
from clickguard.model.signals import (
    SignalColumns,
    SignalState,
    feature_matrix,
    fold_with_prefix,
    is_fail,
    token_bits,
    update_raw,
)
from clickguard.model.signals import token_bit as signal_bit
from clickguard.model.visits import VisitColumns, VisitState
from clickguard.model.visits import gap_cv as visit_gap_cv
from clickguard.model.visits import prefix as visit_prefix
from clickguard.model.visits import update as visit_update
from clickguard.model.vocabulary import OTHER_INDEX, RESERVED, START, START_INDEX, index_of

TOP_K = 3
_MB = settings.MICROBITS_PER_BIT


class TopTransition(NamedTuple):
    """A tuple: the batch update builds up to ``TOP_K`` per session it touches, at a fifth of a frozen dataclass's
    cost (0.06 against 0.34 us)."""

    ubits: int
    position: int  # 1-based transition number within the session
    from_token: str
    to_token: str

    @property
    def bits(self) -> float:
        return self.ubits / _MB


# The fields of a row of ``SessionState.tokens``: (token, events, micro-bits).
TOKEN_NAME, TOKEN_EVENTS, TOKEN_UBITS = itemgetter(0), itemgetter(1), itemgetter(2)


class SessionState(NamedTuple):
    """A user's session so far. A tuple: the batch update builds one per session it touches, and the state item
    stores it as an array (``store.session_item``)."""

    session_id: str | None  # the last session id the user sent (None if never)
    last_token: str
    first_ts_ms: int
    last_ts_ms: int
    transitions: int
    total_ubits: int
    top: tuple[TopTransition, ...] = ()
    peak_mean_ubits: int = -1  # highest floor(total_ubits / transitions) from min_events on; -1: not yet
    signals: SignalState = SignalState()
    # Per vocabulary token (sorted by token): the session's events of it and the micro-bits of the transitions into
    # it (the notebook's per-action surprisal profile; the counts feed the supervised part's token shares).
    tokens: tuple[tuple[str, int, int], ...] = ()
    # The thesis's "blocked vs good" log-likelihood ratio of the session's path so far (``model.llr``), in micro-bits;
    # 0 while the model has none.
    llr_ubits: int = 0
    # The user's rhythm across sessions (``model.visits``): carried from session to session within a UTC day.
    visits: VisitState = VisitState()

    @property
    def peak_mean_bits(self) -> float:
        return max(self.peak_mean_ubits, 0) / _MB

    @property
    def total_bits(self) -> float:
        return self.total_ubits / _MB

    @property
    def mean_bits(self) -> float:
        return self.total_ubits / _MB / self.transitions if self.transitions else 0.0

    @property
    def score(self) -> float:
        """The thesis's score ``exp(mean ln p)`` = ``2 ** -mean_bits``: low is suspicious."""
        return float(2.0 ** (-self.mean_bits))


class RowScorer(Protocol):
    """Detector v2 compiled for scoring (``model.live.LiveDetector``): a score per event from its features."""

    threshold: float  # a session whose score passes it fires

    def score_rows(self, features: np.ndarray, llr_ubits: np.ndarray) -> np.ndarray:
        """Per row (an event's session so far): its ``FEATURES`` and its log-likelihood ratio in micro-bits."""
        ...

    def explain(self, features: np.ndarray, llr_ubits: int = 0, supervised: bool = True) -> list[Signal]:
        """One session's signals (its feature row), the strongest first; with ``supervised``, the supervised part's
        logit last (no reason for a flag: ``live.reasons`` passes it over)."""
        ...

    def explain_rows(self, features: np.ndarray, llr_ubits: np.ndarray, supervised: bool = True) -> list[list[Signal]]:
        """``explain`` of many rows at once."""
        ...


class ScoringTable:
    """What scoring needs from a model: token -> state index, the micro-bit surprisal matrix, the minimum session
    length a score is judged at, and detector v2 (``scorer``; None: no detector, every event scores -inf)."""

    def __init__(
        self,
        tokens: Sequence[str],
        microbits: np.ndarray,
        version: str | None,
        min_events: int = settings.DEFAULT_MIN_EVENTS,
        scorer: RowScorer | None = None,
        llr: np.ndarray | None = None,
    ) -> None:
        self.tokens = tuple(tokens)
        self.llr = llr  # [V, V] signed micro-bits (``model.llr``), or None
        self.index = index_of(tokens)
        self.microbits = microbits
        self.version = version
        self.min_events = min_events
        self.scorer = scorer

    @functools.cached_property
    def sorted_tokens(self) -> tuple[list[str], dict[str, int], np.ndarray]:
        """The vocabulary sorted by name, each name's rank in it, and each state's rank (the token profile's order)."""
        names = sorted(self.tokens)
        rank = dict(zip(names, range(len(names)), strict=True))
        return names, rank, np.fromiter(map(rank.__getitem__, self.tokens), np.int64, len(self.tokens))

    @classmethod
    def from_model(cls, model: Model, scorer: RowScorer | None = None, llr: np.ndarray | None = None) -> ScoringTable:
        return cls(model.tokens, model.microbits, model.version, model.params.min_events, scorer, llr)

    def llr_of(self, prev: int, cur: int) -> int:
        return 0 if self.llr is None else int(self.llr[prev, cur])

    @classmethod
    def unscored(cls) -> ScoringTable:
        """No model yet: sessions are still tracked, every transition costs zero bits."""
        return cls(RESERVED, np.zeros((len(RESERVED), len(RESERVED)), dtype=np.int64), None)

    @property
    def scored(self) -> bool:
        return self.version is not None

    def state_of(self, token: str) -> int:
        return self.index.get(token, OTHER_INDEX)

    def vocabulary_token(self, token: str) -> str:
        """The token as the model knows it (anything outside the vocabulary counts as ``OTHER``)."""
        return self.tokens[self.state_of(token)]


def _count_token(tokens: tuple[tuple[str, int, int], ...], token: str, ub: int) -> tuple[tuple[str, int, int], ...]:
    bag = {t: (n, b) for t, n, b in tokens}
    n, b = bag.get(token, (0, 0))
    bag[token] = (n + 1, b + ub)
    return tuple((t, n, b) for t, (n, b) in sorted(bag.items()))


def _merge_top(top: Sequence[TopTransition], extra: TopTransition) -> tuple[TopTransition, ...]:
    return tuple(sorted((*top, extra), key=lambda t: (-t.ubits, t.position))[:TOP_K])


def _running_peak(peak: int, total_ubits: int, transitions: int, min_events: int) -> int:
    return max(peak, total_ubits // transitions) if transitions >= min_events else peak


def apply_event(
    state: SessionState | None,
    token: str,
    ts_ms: int,
    session_id: str | None,
    table: ScoringTable,
    gap_ms: int,
) -> tuple[SessionState, bool]:
    """Reference, one event at a time. Returns the new state and whether this event opened a session."""
    fail, bit, vocab = is_fail(token), signal_bit(token), table.vocabulary_token(token)
    if state is not None:
        gap = ts_ms - state.last_ts_ms
        new_id = session_id is not None and state.session_id is not None and session_id != state.session_id
        breaks = gap > gap_ms or (new_id and gap >= SESSION_ID_QUIET_MS)
    if state is None or breaks:
        ub = int(table.microbits[START_INDEX, table.state_of(token)])
        opened: tuple[TopTransition, ...] = (TopTransition(ub, 1, START, token),) if ub > 0 else ()
        last_ts = ts_ms if state is None else max(state.last_ts_ms, ts_ms)
        sid = session_id if session_id is not None else (state.session_id if state else None)
        peak = _running_peak(-1, ub, 1, table.min_events)
        signals = update_raw(SignalState(), ts_ms, fail, bit)
        llr = table.llr_of(START_INDEX, table.state_of(token))
        visits = visit_update(state.visits, ts_ms, state.first_ts_ms) if state is not None else VisitState()
        tokens = ((vocab, 1, ub),)
        return SessionState(sid, token, ts_ms, last_ts, 1, ub, opened, peak, signals, tokens, llr, visits), True
    ub = int(table.microbits[table.state_of(state.last_token), table.state_of(token)])
    position = state.transitions + 1
    top = _merge_top(state.top, TopTransition(ub, position, state.last_token, token)) if ub > 0 else state.top
    total = state.total_ubits + ub
    return (
        state._replace(
            session_id=session_id if session_id is not None else state.session_id,
            last_token=token,
            last_ts_ms=max(state.last_ts_ms, ts_ms),
            transitions=position,
            total_ubits=total,
            top=top,
            peak_mean_ubits=_running_peak(state.peak_mean_ubits, total, position, table.min_events),
            signals=update_raw(state.signals, ts_ms, fail, bit),
            tokens=_count_token(state.tokens, vocab, ub),
            llr_ubits=state.llr_ubits + table.llr_of(table.state_of(state.last_token), table.state_of(token)),
        ),
        False,
    )


def judged(transitions: np.ndarray, visit_gaps: np.ndarray, min_events: int) -> np.ndarray:
    """Which rows the detector judges: a session of ``min_events`` events, or a user with ``min_events`` gaps
    between visits (whose short session is then judged on its rhythm alone)."""
    out: np.ndarray = (transitions >= min_events) | (visit_gaps >= min_events)
    return out


def is_judged(state: SessionState, min_events: int) -> bool:
    """``judged`` for one stored session."""
    return bool(judged(np.array([state.transitions]), np.array([state.visits.gaps]), min_events)[0])


def feature_rows(session: np.ndarray, transitions: np.ndarray, visits: VisitColumns, min_events: int) -> np.ndarray:
    """The detector's rows (``detector.FEATURES``): the session's features (NaN, no evidence, while the session is
    shorter than ``min_events``) and the user's visit rhythm."""
    x = np.column_stack([session, visit_gap_cv(visits)])
    x[transitions < min_events, : session.shape[1]] = np.nan
    return x


def state_features(state: SessionState, min_events: int) -> np.ndarray:
    """The session's detector features as one row (``detector.FEATURES``): what ``score_batch`` computes after
    the session's latest event."""
    signals = feature_matrix(SignalColumns.of_states([state.signals]))[0]
    session = np.concatenate([[state.peak_mean_ubits / _MB, state.total_ubits / _MB], signals])[None, :]
    visits = VisitColumns.of_states([state.visits])
    out: np.ndarray = feature_rows(session, np.array([state.transitions]), visits, min_events)[0]
    return out


def score_state(state: SessionState, table: ScoringTable) -> float:
    """Detector v2's score of a session as it stands (``-inf`` without a scorer or before it is judged): the
    number ``score_batch`` reported after the session's latest event."""
    if table.scorer is None or not is_judged(state, table.min_events):
        return float("-inf")
    llr = np.array([state.llr_ubits], dtype=np.int64)
    return float(table.scorer.score_rows(state_features(state, table.min_events)[None, :], llr)[0])


class Segment(NamedTuple):
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
    # Per input event: detector v2's score of the session right after it (-inf: no scorer, or fewer than the
    # model's min_events transitions).
    event_scores: np.ndarray | None = None


class EventSeries(Protocol):
    """Events as columns, in arrival order: what scoring reads (the trainer's columns and the consumer's batch)."""

    @property
    def users(self) -> Sequence[str]: ...
    @property
    def tokens(self) -> Sequence[str]: ...
    @property
    def ts_ms(self) -> Sequence[int]: ...
    @property
    def session_ids(self) -> Sequence[str | None]: ...


@dataclass(frozen=True)
class EventBatch:
    """The plain ``EventSeries``."""

    users: Sequence[str]
    tokens: Sequence[str]
    ts_ms: Sequence[int]
    session_ids: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class _Lanes:
    """The batch's events and each user's prior (as a *virtual* event ahead of the user's own), sorted by user
    with arrival order kept: one row per event, so every rule below is an array operation."""

    users: list[str]  # user code -> key
    prior: list[SessionState | None]  # per user code
    known: list[SessionState]  # the stored states, in the order of the virtual rows
    sid_names: list[str]  # session id code -> id
    order: np.ndarray  # row -> index into [virtual priors..., input events...]
    n_virtual: int
    u: np.ndarray  # user code per row
    ts: np.ndarray
    sid: np.ndarray  # session id code per row, -1 when absent
    tok_str: np.ndarray  # token per row (object)
    tok: np.ndarray  # state index per row
    fail: np.ndarray  # the row's token is a failure
    bit: np.ndarray  # the row's token's bit in the distinct-actions mask (``signals.token_bit``)
    real: np.ndarray  # row is an input event, not a virtual prior


def _sid_codes(sids: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """``codes.factorize_optional`` (-1 where there is none), answered at once when no event has one (the usual)."""
    if sids.count(None) == len(sids):
        return np.full(len(sids), -1, dtype=np.int64), []
    return factorize_optional(sids)


def _lanes(table: ScoringTable, events: EventSeries, prior: Mapping[str, SessionState | None]) -> _Lanes:
    n = len(events.users)
    ucode, users = factorize(events.users)
    prior_states = [prior.get(u) for u in users]
    pv = [i for i, st in enumerate(prior_states) if st is not None]
    known = [st for st in prior_states if st is not None]
    v_ts = np.fromiter((st.last_ts_ms for st in known), dtype=np.int64, count=len(pv))
    all_user = np.concatenate([np.asarray(pv, dtype=np.int64), ucode])
    # Stable sort on (user, real-after-virtual) keeps each user's events in arrival order behind its prior.
    real = np.concatenate([np.zeros(len(pv), np.int64), np.ones(n, np.int64)])
    order = np.argsort(all_user * 2 + real, kind="stable")
    # Without stored sessions (a window scored from scratch) the columns are used as they are: their codes are cached.
    sid, sid_names = _sid_codes(
        [st.session_id for st in known] + list(events.session_ids) if known else events.session_ids
    )
    all_tokens = [st.last_token for st in known] + list(events.tokens) if known else events.tokens
    tcode, distinct = factorize(all_tokens)
    tcode = tcode[order]
    return _Lanes(
        users=users,
        prior=prior_states,
        known=known,
        sid_names=sid_names,
        order=order,
        n_virtual=len(pv),
        u=all_user[order],
        ts=np.concatenate([v_ts, np.asarray(events.ts_ms, dtype=np.int64)])[order],
        sid=sid[order],
        tok_str=np.asarray(all_tokens, dtype=object)[order],
        tok=np.fromiter(map(table.state_of, distinct), dtype=np.int64, count=len(distinct))[tcode],
        fail=np.fromiter(map(is_fail, distinct), dtype=bool, count=len(distinct))[tcode],
        bit=token_bits(distinct)[tcode],
        real=order >= len(pv),
    )


@dataclass
class _Segments:
    """Sessions touched by the batch (a continued prior session is one segment with its virtual row)."""

    ub: np.ndarray  # micro-bits of each row's transition (0 for virtual rows)
    seg: np.ndarray  # segment of each row
    first: np.ndarray  # first row of each segment
    last: np.ndarray  # last row of each segment
    real: np.ndarray  # input events per segment
    ubits: np.ndarray  # micro-bits added by the batch per segment
    prior: list[SessionState | None]  # the continued prior session of each segment, if any
    cont: np.ndarray  # the segments that continue a prior session
    continued: list[SessionState]  # their prior sessions, in the order of ``cont``
    prior_tokens: _PriorTokens
    position: np.ndarray  # each row's transition number within its session
    prev: np.ndarray  # each row's previous state (START where it opens a session)


def _segments(table: ScoringTable, lanes: _Lanes, br: Breaks) -> _Segments:
    m = len(lanes.u)
    prev_tok = np.empty(m, dtype=np.int64)
    prev_tok[0] = START_INDEX
    prev_tok[1:] = lanes.tok[:-1]
    prev_tok[br.starts] = START_INDEX
    ub = table.microbits[prev_tok, lanes.tok]
    ub[~lanes.real] = 0
    seg = np.cumsum(br.starts) - 1
    n_seg = int(seg[-1]) + 1
    seg_first = np.flatnonzero(br.starts)
    seg_real = np.bincount(seg, weights=lanes.real, minlength=n_seg).astype(np.int64)
    seg_ub = np.bincount(seg, weights=ub, minlength=n_seg).astype(np.int64)  # exact: sums < 2**53
    # Position of each real transition in its session; a continued prior session starts counting after it. A stored
    # session that the batch does not continue (it ended) is a segment of its virtual row alone, never read again:
    # only the continued ones' stored fields (token counts, top, signals) are read.
    virtual_first = np.flatnonzero(~lanes.real[seg_first])
    cont = virtual_first[seg_real[virtual_first] > 0]  # segments that continue a stored session
    prior: list[SessionState | None] = [None] * n_seg
    continued = list(map(lanes.known.__getitem__, lanes.order[seg_first[cont]].tolist()))  # its virtual row's
    for i, state in zip(cont.tolist(), continued, strict=True):
        prior[i] = state
    last = np.append(seg_first[1:] - 1, m - 1)
    tokens = _PriorTokens.of(cont, continued)
    sg = _Segments(ub, seg, seg_first, last, seg_real, seg_ub, prior, cont, continued, tokens, ub, prev_tok)
    real = lanes.real
    prior_trans = _from_prior(sg, _TRANSITIONS, 0)
    sg.position = np.cumsum(real) - np.append(0, np.cumsum(real))[seg_first][seg] + prior_trans[seg]
    return sg


def _from_prior(sg: _Segments, get: Callable[[SessionState], int], default: int) -> np.ndarray:
    """Per segment: ``get`` of the stored session it continues, ``default`` for a new one (only the continued
    segments are read: a window scored from scratch has none)."""
    out = np.full(len(sg.first), default, dtype=np.int64)
    if len(sg.cont):
        out[sg.cont] = np.fromiter(map(get, sg.continued), np.int64, len(sg.cont))
    return out


_TRANSITIONS, _TOTAL = attrgetter("transitions"), attrgetter("total_ubits")
_PEAK, _LLR = attrgetter("peak_mean_ubits"), attrgetter("llr_ubits")


@dataclass(frozen=True)
class _PriorTokens:
    """The token counts of the stored sessions the batch continues, one row per (segment, token)."""

    seg: np.ndarray
    names: list[str]
    events: np.ndarray
    ubits: np.ndarray

    @classmethod
    def of(cls, cont: np.ndarray, continued: list[SessionState]) -> _PriorTokens:
        bags = [p.tokens for p in continued]
        seg = np.repeat(cont, [len(b) for b in bags])
        rows = list(chain.from_iterable(bags))
        n = len(rows)
        events, ubits = (np.fromiter(map(get, rows), np.int64, n) for get in (TOKEN_EVENTS, TOKEN_UBITS))
        return cls(seg, list(map(TOKEN_NAME, rows)), events, ubits)


def _tops(lanes: _Lanes, br: Breaks, sg: _Segments) -> list[tuple[TopTransition, ...]]:
    """Top-K per segment: this batch's transitions, plus the kept top of each continued prior session."""
    cand = np.flatnonzero(lanes.real & (sg.ub > 0))
    starts = np.zeros(len(lanes.u), dtype=bool)
    starts[br.starts] = True
    cand_from = lanes.tok_str[cand - 1]  # (a row 0 is a start: its wrapped neighbour is replaced)
    cand_from[starts[cand]] = START
    tops = [p.top for p in sg.continued]
    kept = list(chain.from_iterable(tops))  # the continued sessions' kept top transitions
    k_seg = np.repeat(sg.cont, [len(t) for t in tops])
    k_ub, k_pos, k_from, k_to = (list(map(get, kept)) for get in _TOP_FIELDS)
    c_seg = np.concatenate([sg.seg[cand], k_seg])
    c_ub = np.concatenate([sg.ub[cand], np.array(k_ub, np.int64)])
    c_pos = np.concatenate([sg.position[cand], np.array(k_pos, np.int64)])
    c_from = np.concatenate([cand_from, np.array(k_from, dtype=object)])
    c_to = np.concatenate([lanes.tok_str[cand], np.array(k_to, dtype=object)])
    if not len(c_seg):
        return [()] * len(sg.first)
    c_order = _order_by_segment_then_bits(c_seg, c_ub, c_pos)
    best = c_order[_rank_in_group(c_seg[c_order]) < TOP_K]  # each segment's first TOP_K, best first
    fields = zip(*(c[best].tolist() for c in (c_ub, c_pos, c_from, c_to)), strict=True)
    rows = tuple(map(tuple.__new__, repeat(TopTransition), fields))  # without NamedTuple's Python-level __new__
    bounds = np.searchsorted(c_seg[best], np.arange(len(sg.first) + 1)).tolist()
    return [rows[lo:hi] for lo, hi in pairwise(bounds)]


_TOP_FIELDS = tuple(map(attrgetter, ("ubits", "position", "from_token", "to_token")))


def _order_by_segment_then_bits(seg: np.ndarray, ubits: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``np.lexsort((position, -ubits, seg))``: one sort of the three packed into one int64 when they fit (a tenth of
    the time), else the lexsort. Micro-bits and positions are positive, so packing keeps the order exactly."""
    u, p = int(ubits.max()) + 1, int(position.max()) + 1
    if int(seg.max()) * u * p + (u - 1) * p + p >= 2**63 or int(ubits.min()) < 1 or int(position.min()) < 0:
        return np.lexsort((position, -ubits, seg))
    return np.argsort((seg * u + (u - 1 - ubits)) * p + position, kind="stable")


def _rank_in_group(groups: np.ndarray) -> np.ndarray:
    """Each row's place (0, 1, ...) among the rows of its group; ``groups`` holds each group's rows together."""
    pos = np.arange(len(groups))
    starts = np.ones(len(groups), dtype=bool)
    starts[1:] = groups[1:] != groups[:-1]
    out: np.ndarray = pos - np.maximum.accumulate(np.where(starts, pos, 0))
    return out


def _states(
    table: ScoringTable, lanes: _Lanes, br: Breaks, sg: _Segments, rows: _ScoredRows
) -> tuple[dict[str, SessionState], list[Segment]]:
    """Each touched segment's state after the batch, a field at a time (the continued session's totals added)."""
    tops = _tops(lanes, br, sg)
    stats = _token_stats(table, lanes, sg, rows.real_rows)
    is_final = np.zeros(len(sg.first), dtype=bool)
    is_final[sg.seg[np.append(np.flatnonzero(br.first)[1:] - 1, len(lanes.u) - 1)]] = True
    continued = np.zeros(len(sg.first), dtype=bool)
    continued[sg.cont] = True
    first_ts = np.where(continued, _from_prior(sg, _FIRST_TS, 0), lanes.ts[sg.first])
    touched = np.flatnonzero(sg.real > 0)
    seg_list, last = touched.tolist(), sg.last[touched]
    sid_names = np.array([*lanes.sid_names, None], dtype=object)  # code -1: the last, None
    fields = zip(
        sid_names[br.carried_sid[last]].tolist(),
        lanes.tok_str[last].tolist(),
        first_ts[touched].tolist(),
        br.run_max[last].tolist(),
        (_from_prior(sg, _TRANSITIONS, 0) + sg.real)[touched].tolist(),
        (_from_prior(sg, _TOTAL, 0) + sg.ubits)[touched].tolist(),
        map(tops.__getitem__, seg_list),
        rows.peak[touched].tolist(),
        rows.signals.states(touched),
        map(stats.__getitem__, seg_list),
        rows.llr[touched].tolist(),
        rows.visits.states(last),
        strict=True,
    )
    states = list(map(tuple.__new__, repeat(SessionState), fields))  # without NamedTuple's Python-level __new__
    users = list(map(lanes.users.__getitem__, lanes.u[sg.first[touched]].tolist()))
    finals = is_final[touched].tolist()
    parts = zip(users, states, finals, sg.real[touched].tolist(), strict=True)
    segments = list(map(tuple.__new__, repeat(Segment), parts))
    return dict(compress(zip(users, states, strict=True), finals)), segments


_FIRST_TS = attrgetter("first_ts_ms")


def _token_stats(
    table: ScoringTable, lanes: _Lanes, sg: _Segments, r: np.ndarray
) -> list[tuple[tuple[str, int, int], ...]]:
    """Per segment, its events and micro-bits per token after the batch: the continued session's plus the batch's,
    summed per (segment, token name) in one sort, so each segment's run comes out sorted by name."""
    pt = sg.prior_tokens
    names, rank, vocab_rank = table.sorted_tokens
    if not rank.keys() >= set(pt.names):  # a stored session holds a token the model does not know
        names = sorted(set(table.tokens).union(pt.names))
        rank = dict(zip(names, range(len(names)), strict=True))
        vocab_rank = np.fromiter(map(rank.__getitem__, table.tokens), np.int64, len(table.tokens))
    prior_rank = np.fromiter(map(rank.__getitem__, pt.names), np.int64, len(pt.names))
    key = np.concatenate([sg.seg[r], pt.seg]) * len(names) + np.concatenate([vocab_rank[lanes.tok[r]], prior_rank])
    order = np.argsort(key, kind="stable")
    key = key[order]
    if not len(key):
        return [() for _ in sg.prior]
    starts = np.flatnonzero(np.append(True, key[1:] != key[:-1]))
    events = np.concatenate([np.ones(len(r), np.int64), pt.events])[order]
    ubits = np.concatenate([sg.ub[r], pt.ubits])[order]
    unique = key[starts]
    triples = list(
        zip(
            np.asarray(names, dtype=object)[unique % len(names)].tolist(),
            np.add.reduceat(events, starts).tolist(),
            np.add.reduceat(ubits, starts).tolist(),  # integers: exact at any size
            strict=True,
        )
    )
    bounds = np.searchsorted(unique // len(names), np.arange(len(sg.prior) + 1)).tolist()
    return [tuple(triples[lo:hi]) for lo, hi in pairwise(bounds)]


@dataclass
class _ScoredRows:
    """Detector v2's per-event view of a batch: its real rows (lane order), their scores, and the signal columns
    and peak mean each session ends the batch with."""

    real_rows: np.ndarray
    scores: np.ndarray
    features: np.ndarray  # per real row: the detector's row it was scored on (``feature_rows``; NaN where unjudged)
    row_llr: np.ndarray  # per real row: the session's LLR micro-bits right after it
    signals: SignalColumns  # per segment
    peak: np.ndarray  # per segment: peak_mean_ubits after the batch
    llr: np.ndarray  # per segment: llr_ubits after the batch
    visits: VisitColumns  # per lane row: the user's visit rhythm after it


def _visit_rows(lanes: _Lanes, br: Breaks) -> VisitColumns:
    """Per lane row, the user's visit state after it (``visits.prefix``): a stored session enters as its virtual
    row, a start at that session's start time, with the user's stored visit state as the prior."""
    start_ms = lanes.ts.copy()
    virtual = np.flatnonzero(~lanes.real)
    start_ms[virtual] = np.fromiter(map(_FIRST_TS, lanes.known), np.int64, len(lanes.known))[lanes.order[virtual]]
    users = lanes.u[br.first].tolist()
    prior = [lanes.prior[u].visits if lanes.prior[u] is not None else VisitState() for u in users]
    return visit_prefix(br.first, br.starts, start_ms, VisitColumns.of_states(prior))


def _scored_rows(table: ScoringTable, lanes: _Lanes, br: Breaks, sg: _Segments, run_total: np.ndarray) -> _ScoredRows:
    r = np.flatnonzero(lanes.real)
    seg, n_seg = sg.seg[r], len(sg.first)
    seg_first = np.minimum(np.searchsorted(seg, np.arange(n_seg)), len(r) - 1)  # (only read where rows exist)
    has_rows = np.bincount(seg, minlength=n_seg) > 0
    last_row = np.maximum(np.searchsorted(seg, np.arange(n_seg), side="right") - 1, 0)
    prior_cols = SignalColumns.empty(n_seg).with_rows(sg.cont, [p.signals for p in sg.continued])
    final, signal_x = fold_with_prefix(seg, lanes.ts[r], lanes.fail[r], lanes.bit[r], n_seg, prior_cols)
    position, total = sg.position[r], run_total[r]
    mean = np.where(position >= table.min_events, total // np.maximum(position, 1), -1)
    prior_peak = _from_prior(sg, _PEAK, -1)
    peak = seg_running_max(mean, seg, prior_peak)
    prior_llr = _from_prior(sg, _LLR, 0)
    step_llr = table.llr[sg.prev[r], lanes.tok[r]] if table.llr is not None else np.zeros(len(r), dtype=np.int64)
    llr = seg_cumsum(step_llr, seg, seg_first, prior_llr)
    visits = _visit_rows(lanes, br)
    vr = visits.take(r)
    scored = judged(position, vr.gaps, table.min_events)
    scores = np.full(len(r), -np.inf)
    x = np.empty((0, 0))
    if table.scorer is not None and scored.any():
        x = feature_rows(np.column_stack([peak / _MB, total / _MB, signal_x]), position, vr, table.min_events)
        scores[scored] = table.scorer.score_rows(x[scored], llr[scored])
    final_peak = np.where(has_rows, peak[last_row], prior_peak)
    final_llr = np.where(has_rows, llr[last_row], prior_llr)
    return _ScoredRows(r, scores, x, llr, final, final_peak, final_llr, visits)


def _run_total(sg: _Segments) -> np.ndarray:
    """Per lane row: the session's total micro-bits right after it."""
    cum_ub = np.cumsum(sg.ub)
    prior_total = _from_prior(sg, _TOTAL, 0)
    out: np.ndarray = cum_ub - (cum_ub - sg.ub)[sg.first][sg.seg] + prior_total[sg.seg]
    return out


def _per_input(lanes: _Lanes, rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Lane-row values (for the real ``rows``; a row each, or a vector each) put back in input order."""
    out = np.empty((n, *values.shape[1:]), dtype=values.dtype)
    out[lanes.order[rows] - lanes.n_virtual] = values
    return out


def _score(
    table: ScoringTable, gap_ms: int, events: EventSeries, prior: Mapping[str, SessionState | None]
) -> tuple[_Lanes, Breaks, _Segments, np.ndarray, _ScoredRows]:
    lanes = _lanes(table, events, prior)
    br = session_breaks(lanes.u, lanes.ts, lanes.sid, gap_ms)
    sg = _segments(table, lanes, br)
    run_total = _run_total(sg)
    return lanes, br, sg, run_total, _scored_rows(table, lanes, br, sg, run_total)


def event_scores(
    table: ScoringTable, gap_ms: int, events: EventSeries, prior: Mapping[str, SessionState | None]
) -> np.ndarray:
    """``score_batch(...).event_scores`` without building the new states: what calibration needs of a window
    (``scored_events`` keeps each score's explanation too, for the offline scorer)."""
    if len(events.users) == 0:
        return np.zeros(0)
    lanes, _, _, _, rows = _score(table, gap_ms, events, prior)
    return _per_input(lanes, rows.real_rows, rows.scores, len(events.users))


class EventScores(NamedTuple):
    """Per input event (input order): detector v2's score of the session right after it, the detector's row it was
    scored on and the session's LLR micro-bits there (what ``Scorer.explain_rows`` explains), and whether it opened
    a session."""

    scores: np.ndarray
    features: np.ndarray  # (events, features); empty when no event was judged
    llr_ubits: np.ndarray
    starts: np.ndarray


def scored_events(table: ScoringTable, gap_ms: int, events: EventSeries) -> EventScores:
    """A whole series scored from no prior state, with what explains each score: the offline scorer's view
    (``clickguard score``), one pass where replaying each user's session for its explanation would be another."""
    n = len(events.users)
    if n == 0:
        empty = np.zeros(0)
        return EventScores(empty, np.zeros((0, 0)), empty.astype(np.int64), empty.astype(bool))
    lanes, br, _, _, rows = _score(table, gap_ms, events, {})
    r = rows.real_rows
    features = _per_input(lanes, r, rows.features, n) if len(rows.features) else rows.features
    return EventScores(
        _per_input(lanes, r, rows.scores, n),
        features,
        _per_input(lanes, r, rows.row_llr, n),
        _per_input(lanes, r, br.starts[r], n),
    )


def score_batch(
    table: ScoringTable,
    gap_ms: int,
    events: EventSeries,
    prior: Mapping[str, SessionState | None],
) -> BatchResult:
    """Apply a batch of events (in arrival order) to the users' prior states in one vectorised pass.

    Each user's prior state enters as a *virtual* event placed before that user's events, so session breaks,
    previous tokens and carried session ids follow from the same array operations as the batch's own events.
    """
    n = len(events.users)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return BatchResult({}, [], empty, empty, np.zeros(0))
    lanes, br, sg, run_total, rows = _score(table, gap_ms, events, prior)
    final, segments = _states(table, lanes, br, sg, rows)
    r = rows.real_rows
    return BatchResult(
        final,
        segments,
        _per_input(lanes, r, sg.position[r], n),
        _per_input(lanes, r, run_total[r], n),
        _per_input(lanes, r, rows.scores, n),
    )
