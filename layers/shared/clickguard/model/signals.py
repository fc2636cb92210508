"""Session signals beside the transition surprisal (issue 10): rate, timing, outcomes and diversity.

Every signal comes from O(1) accumulators per session (no event history), folded one event at a time by ``update``
(the reference) or a batch at a time by ``fold_batch`` (vectorised); both give equal integers for any split of a
session's events into batches. The transitions and micro-bits stay in ``scoring.SessionState``: this module only
adds what that state lacks.

Rules (shared by both forms):

* Events of a session are taken in arrival order. Time only moves forward through ``max_ts_ms``, the running
  maximum: an event's gap is ``ts - max_ts_ms`` before it, negative gaps (out of order) count as 0, and gaps are
  clipped at ``GAP_CLIP_MS`` (one hour; sessions break long before, so the clip only bounds the sums). With the clip
  the sum of squared gaps stays below ``GAP_CLIP_MS * (max_ts - first_ts)``: integer-exact in int64 for sessions
  shorter than 80 years.
* ``gap_cv`` is over the positive gaps (zeros carry no timing: duplicates or reordering); ``subsecond`` counts every
  gap under one second, zeros included.
* A failure is a token ending with ``#fail`` (``vocabulary``'s outcome suffix).
* Events per minute are counted in buckets of the running maximum time (``max_ts_ms // 60_000``), which never move
  backwards, so one current bucket and its count suffice; ``peak_per_minute`` is the largest count seen.
* Distinct actions: each token sets one bit (``token_bit``: a stable hash, not Python's salted ``hash``) of a 64-bit
  mask; ``distinct`` = popcount. Collisions bias it low: ``k`` distinct tokens set ``64 (1 - (1 - 1/64) ** k)`` bits
  on average (k = 5: 4.8, 10: 9.3, 20: 17.0, 40: 29.4), and never more than 64. The feature is used as a rank
  (a tail probability), so a monotone bias costs resolution only among sessions with many distinct actions.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from clickguard.model.evidence import cv_with_prior, wilson_lower
from clickguard.model.segmented import seg_cumsum, seg_running_max

MINUTE_MS = 60_000
SUBSECOND_MS = 1_000
GAP_CLIP_MS = 3_600_000
MASK_BITS = 64
FAIL_SUFFIX = "#fail"

FEATURES: tuple[str, ...] = (
    "peak_per_minute",
    "events",
    "duration_s",
    "gap_cv",
    "subsecond_share",
    "fail_share",
    "distinct_per_event",
)


@functools.lru_cache(maxsize=8192)  # a model's vocabulary and then some: the consumer hashes each token once
def token_bit(token: str) -> int:
    """The token's bit in the distinct-actions mask: stable across processes and runs."""
    return hashlib.blake2b(token.encode(), digest_size=8).digest()[0] % MASK_BITS


def token_bits(tokens: Iterable[str]) -> np.ndarray:
    return np.fromiter(map(token_bit, tokens), dtype=np.int64)


def is_fail(token: str) -> bool:
    return token.endswith(FAIL_SUFFIX)


class SignalState(NamedTuple):
    """One session's accumulators. ``events == 0`` is the empty state (no session yet). A tuple: the batch update
    builds one per session it touches, at a twelfth of a frozen dataclass's cost (0.07 against 0.87 us)."""

    events: int = 0
    first_ts_ms: int = 0
    max_ts_ms: int = 0  # running maximum of event times
    pos_gaps: int = 0  # gaps > 0
    sum_gap_ms: int = 0  # of the (clipped) gaps
    sum_sq_gap_ms: int = 0  # of the (clipped) gaps, squared
    subsecond: int = 0  # gaps < 1 s, zero gaps included
    failures: int = 0
    minute: int = 0  # current bucket: max_ts_ms // MINUTE_MS
    minute_count: int = 0  # events in the current bucket
    peak_per_minute: int = 0
    token_mask: int = 0  # 64-bit mask of token_bit(token)


def update(state: SignalState, token: str, ts_ms: int) -> SignalState:
    """Reference: fold one event into the session's state."""
    return update_raw(state, ts_ms, is_fail(token), token_bit(token))


def update_raw(state: SignalState, ts_ms: int, fail: bool, bit: int) -> SignalState:
    """``update`` with the token already reduced to its failure flag and mask bit."""
    mask = state.token_mask | (1 << bit)
    if state.events == 0:
        minute = ts_ms // MINUTE_MS
        return SignalState(1, ts_ms, ts_ms, 0, 0, 0, 0, int(fail), minute, 1, 1, mask)
    gap = min(max(ts_ms - state.max_ts_ms, 0), GAP_CLIP_MS)
    max_ts = max(state.max_ts_ms, ts_ms)
    minute = max_ts // MINUTE_MS
    count = state.minute_count + 1 if minute == state.minute else 1
    return SignalState(
        events=state.events + 1,
        first_ts_ms=state.first_ts_ms,
        max_ts_ms=max_ts,
        pos_gaps=state.pos_gaps + int(gap > 0),
        sum_gap_ms=state.sum_gap_ms + gap,
        sum_sq_gap_ms=state.sum_sq_gap_ms + gap * gap,
        subsecond=state.subsecond + int(gap < SUBSECOND_MS),
        failures=state.failures + int(fail),
        minute=minute,
        minute_count=count,
        peak_per_minute=max(state.peak_per_minute, count),
        token_mask=mask,
    )


@dataclass(frozen=True)
class SignalColumns:
    """``SignalState`` for many sessions, one array per field (int64; ``token_mask`` uint64)."""

    events: np.ndarray
    first_ts_ms: np.ndarray
    max_ts_ms: np.ndarray
    pos_gaps: np.ndarray
    sum_gap_ms: np.ndarray
    sum_sq_gap_ms: np.ndarray
    subsecond: np.ndarray
    failures: np.ndarray
    minute: np.ndarray
    minute_count: np.ndarray
    peak_per_minute: np.ndarray
    token_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.events)

    @classmethod
    def empty(cls, n: int) -> SignalColumns:
        cols = {f.name: np.zeros(n, dtype=np.int64) for f in fields(cls)}
        cols["token_mask"] = np.zeros(n, dtype=np.uint64)
        return cls(**cols)

    @classmethod
    def of_states(cls, states: Iterable[SignalState]) -> SignalColumns:
        rows = list(states)
        # the mask is unsigned: a token on bit 63 does not fit an int64
        cols = {
            f.name: np.fromiter(map(attrgetter(f.name), rows), np.uint64 if f.name == "token_mask" else np.int64)
            for f in fields(cls)
        }
        return cls(**cols)

    def with_rows(self, rows: np.ndarray, states: Sequence[SignalState]) -> SignalColumns:
        """These columns with ``states`` written at ``rows`` (in place; returned for chaining)."""
        if len(states):
            part = SignalColumns.of_states(states)
            for f in fields(self):
                getattr(self, f.name)[rows] = getattr(part, f.name)
        return self

    def copy(self) -> SignalColumns:
        return SignalColumns(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def state(self, i: int) -> SignalState:
        return SignalState(**{f.name: int(getattr(self, f.name)[i]) for f in fields(self)})

    def states(self, rows: np.ndarray) -> list[SignalState]:
        """``state`` of each of ``rows``: a column at a time (in ``SignalState``'s field order, its arguments')."""
        columns = zip(*(getattr(self, name)[rows].tolist() for name in SignalState._fields), strict=True)
        return list(map(tuple.__new__, repeat(SignalState), columns))


@dataclass(frozen=True)
class _Rows:
    """A batch's events sorted by session (arrival order kept), with each row's running maximum and gap."""

    seg: np.ndarray  # dense segment (= touched session) per row
    sessions: np.ndarray  # session index per segment
    first: np.ndarray  # first row of each segment
    rm: np.ndarray  # running maximum after the row (prior session included)
    gap: np.ndarray  # clipped gap, 0 where the row has no predecessor
    has_gap: np.ndarray  # the row follows an earlier event of its session
    prior_events: np.ndarray  # per segment


def _rows(session: np.ndarray, ts: np.ndarray, prior: SignalColumns) -> _Rows:
    m = len(session)
    starts = np.ones(m, dtype=bool)
    starts[1:] = session[1:] != session[:-1]
    seg = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    sessions = session[first]
    base = int(ts.min())
    offset = int(ts.max()) - base + 1
    local_rm = np.maximum.accumulate(seg * offset + (ts - base)) - seg * offset + base
    prior_events = prior.events[sessions]
    prior_max = np.where(prior_events > 0, prior.max_ts_ms[sessions], np.iinfo(np.int64).min)
    rm = np.maximum(local_rm, prior_max[seg])
    prev_rm = np.empty(m, dtype=np.int64)
    prev_rm[1:] = rm[:-1]
    prev_rm[first] = prior_max
    has_gap = ~starts
    has_gap[first] = prior_events > 0
    gap = np.where(has_gap, np.clip(ts - np.where(has_gap, prev_rm, ts), 0, GAP_CLIP_MS), 0)
    return _Rows(seg, sessions, first, rm, gap, has_gap, prior_events)


@dataclass(frozen=True)
class _Sorted:
    """A batch sorted by session once, shared by the fold and the per-event prefix features."""

    order: np.ndarray  # input row of each sorted row
    rows: _Rows
    ts: np.ndarray
    fail: np.ndarray
    bit: np.ndarray


def _sort(session: np.ndarray, ts_ms: np.ndarray, fail: np.ndarray, bit: np.ndarray, prior: SignalColumns) -> _Sorted:
    order = np.argsort(session, kind="stable")
    ts = np.asarray(ts_ms, np.int64)[order]
    rows = _rows(np.asarray(session, np.int64)[order], ts, prior)
    return _Sorted(order, rows, ts, np.asarray(fail, bool)[order], np.asarray(bit, np.int64)[order])


@dataclass(frozen=True)
class _MinuteRuns:
    """Runs of rows in one minute bucket (non-decreasing within a session), the prior session's count carried in."""

    bucket: np.ndarray
    start: np.ndarray  # the row opens a run
    run: np.ndarray  # run index per row
    carry: np.ndarray  # per segment: the prior count carried into its first run
    prior_peak: np.ndarray  # per segment


def _minute_runs(rows: _Rows, prior: SignalColumns) -> _MinuteRuns:
    bucket = rows.rm // MINUTE_MS
    start = np.ones(len(bucket), dtype=bool)
    start[1:] = (rows.seg[1:] != rows.seg[:-1]) | (bucket[1:] != bucket[:-1])
    s, had = rows.sessions, rows.prior_events > 0
    carries = had & (bucket[rows.first] == prior.minute[s])
    carry = np.where(carries, prior.minute_count[s], 0)
    prior_peak = np.where(had, prior.peak_per_minute[s], 0)
    return _MinuteRuns(bucket, start, np.cumsum(start) - 1, carry, prior_peak)


def _minutes(rows: _Rows, prior: SignalColumns, out: SignalColumns) -> None:
    """Current bucket, its count and the peak per minute after the batch."""
    runs = _minute_runs(rows, prior)
    lengths = np.bincount(runs.run).astype(np.int64)
    lengths[runs.run[rows.first]] += runs.carry
    peak = runs.prior_peak  # fresh per call: safe to update in place
    np.maximum.at(peak, rows.seg[runs.start], lengths)
    last = np.append(rows.first[1:] - 1, len(runs.bucket) - 1)
    s = rows.sessions
    out.minute[s] = runs.bucket[last]
    out.minute_count[s] = lengths[runs.run[last]]
    out.peak_per_minute[s] = peak


def _fold(b: _Sorted, prior: SignalColumns) -> SignalColumns:
    rows = b.rows
    s, seg, k, gap = rows.sessions, rows.seg, len(rows.sessions), rows.gap

    def per_seg(values: np.ndarray) -> np.ndarray:
        return np.bincount(seg, weights=values, minlength=k).astype(np.int64)  # exact below 2**53

    out = prior.copy()
    out.events[s] += np.bincount(seg, minlength=k)
    out.first_ts_ms[s] = np.where(rows.prior_events > 0, prior.first_ts_ms[s], b.ts[rows.first])
    out.max_ts_ms[s] = np.maximum.reduceat(rows.rm, rows.first)
    out.pos_gaps[s] += per_seg(gap > 0)
    out.sum_gap_ms[s] += per_seg(gap)
    out.sum_sq_gap_ms[s] += np.add.reduceat(gap * gap, rows.first)  # integer: squares may pass 2**53
    out.subsecond[s] += per_seg(rows.has_gap & (gap < SUBSECOND_MS))
    out.failures[s] += per_seg(b.fail)
    masks = np.left_shift(np.uint64(1), b.bit.astype(np.uint64))
    out.token_mask[s] |= np.bitwise_or.reduceat(masks, rows.first)
    _minutes(rows, prior, out)
    return out


def fold_batch(
    session: np.ndarray,
    ts_ms: np.ndarray,
    fail: np.ndarray,
    bit: np.ndarray,
    n_sessions: int,
    prior: SignalColumns | None = None,
) -> SignalColumns:
    """Vectorised ``update`` over a batch: events (arrival order) with their session index in ``[0, n_sessions)``,
    folded into ``prior`` (one row per session; ``events == 0`` = no prior). Returns the state of every session
    (untouched ones as they were). Equal to folding ``update_raw`` event by event, for any batch split."""
    prior = prior if prior is not None else SignalColumns.empty(n_sessions)
    if len(session) == 0:
        return prior.copy()
    return _fold(_sort(session, ts_ms, fail, bit, prior), prior)


def _features(
    peak: np.ndarray,
    events: np.ndarray,
    duration_ms: np.ndarray,
    pos_gaps: np.ndarray,
    sum_gap: np.ndarray,
    sum_sq: np.ndarray,
    subsecond: np.ndarray,
    failures: np.ndarray,
    distinct: np.ndarray,
) -> np.ndarray:
    """The ``FEATURES`` from the accumulators (one row per session or per event prefix), float64."""
    ev = events.astype(np.float64)
    n_gaps = np.maximum(ev - 1, 0)
    gap_cv = cv_with_prior(pos_gaps, sum_gap, sum_sq)
    sub = np.where(n_gaps > 0, wilson_lower(subsecond, n_gaps), np.nan)
    fail = np.where(ev > 0, wilson_lower(failures, ev), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(ev > 0, distinct / ev, np.nan)
    return np.column_stack([peak.astype(np.float64), ev, duration_ms / 1000.0, gap_cv, sub, fail, dist])


def feature_matrix(cols: SignalColumns) -> np.ndarray:
    """Per session (rows) the ``FEATURES`` (columns), float64. NaN = undefined for this session (no evidence):
    ``gap_cv`` with fewer than 2 positive gaps, ``subsecond_share`` with no gap, every share with no event."""
    return _features(
        cols.peak_per_minute,
        cols.events,
        cols.max_ts_ms - cols.first_ts_ms,
        cols.pos_gaps,
        cols.sum_gap_ms,
        cols.sum_sq_gap_ms,
        cols.subsecond,
        cols.failures,
        np.bitwise_count(cols.token_mask),
    )


def _seg_cumsum(values: np.ndarray, rows: _Rows, prior: np.ndarray) -> np.ndarray:
    return seg_cumsum(values, rows.seg, rows.first, prior)


def _new_bits(rows: _Rows, bits: np.ndarray, prior_mask: np.ndarray) -> np.ndarray:
    """Per row: its token's bit was not yet in the session's mask (prior or earlier in the batch)."""
    key = rows.seg.astype(np.int64) * MASK_BITS + bits
    _, first_at = np.unique(key, return_index=True)
    first = np.zeros(len(key), dtype=bool)
    first[first_at] = True
    seen = (prior_mask[rows.seg] >> bits.astype(np.uint64)) & np.uint64(1)
    out: np.ndarray = first & (seen == 0)
    return out


def fold_with_prefix(
    session: np.ndarray,
    ts_ms: np.ndarray,
    fail: np.ndarray,
    bit: np.ndarray,
    n_sessions: int,
    prior: SignalColumns | None = None,
) -> tuple[SignalColumns, np.ndarray]:
    """``fold_batch``, plus each event's ``FEATURES`` right after it (rows in input order): what the consumer's
    per-event rule reads. Row ``i`` equals ``feature_matrix`` of the state folded up to and including event ``i``."""
    prior = prior if prior is not None else SignalColumns.empty(n_sessions)
    if len(session) == 0:
        return prior.copy(), np.zeros((0, len(FEATURES)))
    b = _sort(session, ts_ms, fail, bit, prior)
    rows = b.rows
    s, had, gap = rows.sessions, rows.prior_events > 0, rows.gap
    first_ts = np.where(had, prior.first_ts_ms[s], b.ts[rows.first])[rows.seg]
    distinct = _seg_cumsum(_new_bits(rows, b.bit, prior.token_mask[s]).astype(np.int64), rows, _popcount(prior, s))
    x = _features(
        _prefix_peak(rows, prior),
        _seg_cumsum(np.ones(len(b.ts), dtype=np.int64), rows, prior.events[s]),
        rows.rm - first_ts,
        _seg_cumsum((gap > 0).astype(np.int64), rows, prior.pos_gaps[s]),
        _seg_cumsum(gap, rows, prior.sum_gap_ms[s]),
        _seg_cumsum(gap * gap, rows, prior.sum_sq_gap_ms[s]),
        _seg_cumsum((rows.has_gap & (gap < SUBSECOND_MS)).astype(np.int64), rows, prior.subsecond[s]),
        _seg_cumsum(b.fail.astype(np.int64), rows, prior.failures[s]),
        distinct,
    )
    features = np.empty_like(x)
    features[b.order] = x
    return _fold(b, prior), features


def _popcount(cols: SignalColumns, s: np.ndarray) -> np.ndarray:
    counts: np.ndarray = np.bitwise_count(cols.token_mask[s]).astype(np.int64)
    return counts


def _prefix_peak(rows: _Rows, prior: SignalColumns) -> np.ndarray:
    """Per row, the peak events per minute so far: the count in the row's minute run (prior count carried in),
    then its running maximum with the prior peak."""
    runs = _minute_runs(rows, prior)
    run_first = np.flatnonzero(runs.start)
    count = np.arange(len(runs.bucket)) - run_first[runs.run] + 1
    carry = np.zeros(len(run_first), dtype=np.int64)
    carry[runs.run[rows.first]] = runs.carry
    return seg_running_max(count + carry[runs.run], rows.seg, runs.prior_peak)


def signal_values(state: SignalState) -> dict[str, float]:
    """One session's ``FEATURES`` by name (the same numbers ``feature_matrix`` gives)."""
    row = feature_matrix(SignalColumns.of_states([state]))[0]
    return dict(zip(FEATURES, row.tolist(), strict=True))


def session_features(
    session: np.ndarray, ts_ms: np.ndarray, tokens: Iterable[str], n_sessions: int
) -> tuple[SignalColumns, np.ndarray]:
    """Convenience: fold a whole set of sessions from token strings; the states and their feature matrix."""
    toks = list(tokens)
    fail = np.fromiter((is_fail(t) for t in toks), dtype=bool, count=len(toks))
    cols = fold_batch(session, ts_ms, fail, token_bits(toks), n_sessions)
    return cols, feature_matrix(cols)
