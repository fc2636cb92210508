"""Which records of a batch take effect: the sequence-number guard, event-id dedupe and the late-record rule.

Rules, applied per user in shard order:

* Replay guard: a record whose sequence number is not greater than the user's last applied one on that shard is
  skipped. A retried, bisected or overlapping batch therefore never applies an event twice. A record that holds
  several events (a KPL aggregate, gzip NDJSON, a log batch) gives each its place (sequence number, ``sub``
  index): within a batch they apply in that order, each once. The state keeps the plain sequence number, which is
  enough: Lambda never splits a Kinesis record between batches, and a user's events of one batch commit together
  (one state write), so a user's events of one record are applied all or none; a half-committed aggregate (some
  users written, some not) replays only the users whose state did not move past it.
* Duplicate event: a record carrying an ``event_id`` whose event (that id, with the same time and action:
  ``events.copy_key``) is among the user's last ``RECENT_EVENT_IDS`` distinct ones (``state.RecentIds``: one sliding
  window, carried through the batch event by event and kept in state) is skipped; producers that retry PutRecords
  create such copies under new sequence numbers. An id on a different event is no copy: some producers number
  events per device or per session (Amplitude's ``event_id``). So is an event with an id dated at or before the
  window's horizon, older than every event the window remembers (``state.RecentIds``): a producer replaying from a
  checkpoint. A late event (below) takes no place in the window.
* Future times: an event time more than ``MAX_FUTURE_SKEW_MS`` after the record's arrival is clamped to arrival
  plus that skew (``timestamps.effective_time``, which the archive's transformation applies too, so the trainer
  reads the same times), so one bad clock cannot push a user's latest time ahead and make every later event look
  late.
* Late records: an event older than the user's latest event time minus the session gap belongs to a session that
  has already closed; it is counted and skipped (its sequence number still advances). An event out of order by
  less than the gap is applied in arrival order and continues the session (see ``clickguard.model.scoring``).

Skipped records still advance the user's sequence number: their effect (none) is committed with the user's state.
Every decision depends only on the user's committed state and the records themselves, never on where a batch
starts or ends, which is what makes replays from any checkpoint give identical results.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.state import RecentIds, UserState, event_digest
from clickguard.events import Event
from clickguard.model.codes import factorize
from clickguard.model.segmented import seg_running_max
from clickguard.timestamps import MAX_FUTURE_SKEW_MS, effective_time


@dataclass
class Admission:
    applied: list[int] = field(default_factory=list)  # indices into the batch's valid records, shard order
    ts_ms: list[int] = field(default_factory=list)  # effective (clamped) time of each applied record
    touched: dict[str, dict[str, int]] = field(default_factory=dict)  # user -> new per-shard last sequence numbers
    recent_ids: dict[str, RecentIds] = field(default_factory=dict)
    replayed: int = 0
    duplicate_ids: int = 0
    late: int = 0
    clamped: int = 0


def admit(
    records: Sequence[KinesisRecord],
    events: Sequence[Event],
    states: Mapping[str, UserState],
    gap_ms: int,
) -> Admission:
    """The rules above, a column at a time when the batch's places only increase (the usual batch: no record twice),
    else record by record (``admit_one_by_one``, the reference); both give the same ``Admission``."""
    if records:
        rows = _Rows.of(records, events)
        if rows is not None:
            return _admit_rows(rows, states, gap_ms)
    return admit_one_by_one(records, events, states, gap_ms)


def admit_one_by_one(
    records: Sequence[KinesisRecord],
    events: Sequence[Event],
    states: Mapping[str, UserState],
    gap_ms: int,
) -> Admission:
    out = Admission()
    latest: dict[str, int] = {}  # running max event time per user
    done: dict[tuple[str, str], tuple[int, int]] = {}  # (user, shard) -> last (seq, sub) seen in this batch
    for i, (rec, ev) in enumerate(zip(records, events, strict=True)):
        user = ev.user_key
        state = states.get(user)
        seqs = out.touched.get(user)
        place = (rec.seq, rec.sub)
        if (state is not None and rec.seq <= state.last_seq(rec.shard_id)) or (
            seqs is not None and place <= done.get((user, rec.shard_id), (-1, 0))
        ):
            out.replayed += 1
            continue
        if seqs is None:
            seqs = out.touched[user] = dict(state.seqs) if state else {}
            if state and state.session:
                latest[user] = state.session.last_ts_ms
        seqs[rec.shard_id] = rec.seq
        done[user, rec.shard_id] = place
        ts = effective_time(ev.ts_ms, rec.arrival_ms)
        prev = latest.get(user)
        late = prev is not None and ts < prev - gap_ms
        if ev.event_id is not None:
            window = out.recent_ids.get(user)
            if window is None:
                window = out.recent_ids[user] = _window(state)
            if window.seen_or_add(event_digest(ev, ts), ts, late):
                out.duplicate_ids += 1
                continue
        if ts != ev.ts_ms:
            out.clamped += 1
        if late:
            out.late += 1
            continue
        if prev is None or ts > prev:
            latest[user] = ts
        out.applied.append(i)
        out.ts_ms.append(ts)
    return out


@dataclass(frozen=True)
class _Rows:
    """The batch as columns, when its places (sequence number, sub) strictly increase in shard order: then no record
    repeats an earlier one of the batch, and each (user, shard)'s state guard skips a prefix of the batch."""

    users: list[str]
    user: np.ndarray  # user code per row (``codes.factorize``)
    shards: list[str]
    shard: np.ndarray
    seqs: list[int]
    ts: np.ndarray
    arrival: np.ndarray
    events: Sequence[Event]  # each row's, as decoded (the duplicate rule reads an event's id, time and action)

    @classmethod
    def of(cls, records: Sequence[KinesisRecord], events: Sequence[Event]) -> _Rows | None:
        seqs = list(map(_SEQ, records))
        if not all(map(operator.lt, seqs, seqs[1:])):
            places = list(zip(seqs, map(_SUB, records), strict=True))  # KPL: one sequence number, subs in order
            if not all(map(operator.lt, places, places[1:])):
                return None
        n = len(seqs)
        user, users = factorize(list(map(_USER, events)))
        shard_ids = list(map(_SHARD, records))
        one_shard = shard_ids.count(shard_ids[0]) == n  # a batch comes from one shard
        shard, shards = (np.zeros(n, np.int64), shard_ids[:1]) if one_shard else factorize(shard_ids)
        try:
            ts = np.fromiter(map(_TS, events), np.int64, n)
            arrival = np.fromiter(map(_ARRIVAL, records), np.int64, n)
        except OverflowError:  # a time past int64: the reference compares Python ints
            return None
        return cls(users, user, shards, shard, seqs, ts, arrival, events)


_SHARD, _SEQ, _ARRIVAL, _SUB = map(attrgetter, ("shard_id", "seq", "arrival_ms", "sub"))
_USER, _TS, _EVENT_ID = map(attrgetter, ("user_key", "ts_ms", "event_id"))


def _admit_rows(rows: _Rows, states: Mapping[str, UserState], gap_ms: int) -> Admission:
    out = Admission()
    replayed = _replayed(rows, states)
    ok = ~replayed
    out.replayed = int(replayed.sum())
    out.touched = _touched(rows, ok, states)
    ts = rows.ts.copy()  # each row's ``effective_time``, vectorised
    clamp = (ts > rows.arrival + MAX_FUTURE_SKEW_MS) & (rows.arrival > 0)
    ts[clamp] = rows.arrival[clamp] + MAX_FUTURE_SKEW_MS
    # Lateness first, over every row the guard let through: a copy is dated at or before its original, so it never
    # raises its user's running maximum, and the rows the duplicate rule drops change no verdict of this one.
    late = ok & _late(rows, ts, ok, states, gap_ms)
    eligible = ok & ~_duplicates(rows, ts, ok, late, states, out)
    out.clamped = int((clamp & eligible).sum())
    out.late = int((late & eligible).sum())  # a late copy the window holds is counted as a copy
    applied = np.flatnonzero(eligible & ~late)
    out.applied, out.ts_ms = applied.tolist(), ts[applied].tolist()
    return out


def _replayed(rows: _Rows, states: Mapping[str, UserState]) -> np.ndarray:
    """The state guard: the rows of each (user, shard) up to its last applied sequence number, a prefix of the
    batch (sequence numbers only grow), found by bisection."""
    cut = np.zeros((len(rows.users), len(rows.shards)), dtype=np.int64)
    for u, user in enumerate(rows.users):
        state = states.get(user)
        if state is not None:
            for s, shard in enumerate(rows.shards):
                if shard in state.seqs:
                    cut[u, s] = bisect.bisect_right(rows.seqs, state.seqs[shard])
    out: np.ndarray = np.arange(len(rows.seqs)) < cut[rows.user, rows.shard]
    return out


def _touched(rows: _Rows, ok: np.ndarray, states: Mapping[str, UserState]) -> dict[str, dict[str, int]]:
    """Per user with an applied row (in order of its first), its state's sequence numbers with each shard's last."""
    idx = np.flatnonzero(ok)
    pair = (rows.user[idx] * len(rows.shards) + rows.shard[idx]).tolist()
    # dict(zip(...)): keys in order of first appearance, each with its last value
    last = dict(zip(pair, map(rows.seqs.__getitem__, idx.tolist()), strict=True))
    touched: dict[str, dict[str, int]] = {}
    for key, seq in last.items():
        user = rows.users[key // len(rows.shards)]
        seqs = touched.get(user)
        if seqs is None:
            state = states.get(user)
            seqs = touched[user] = dict(state.seqs) if state else {}
        seqs[rows.shards[key % len(rows.shards)]] = seq
    return touched


def _duplicates(
    rows: _Rows, ts: np.ndarray, ok: np.ndarray, late: np.ndarray, states: Mapping[str, UserState], out: Admission
) -> np.ndarray:
    """Rows whose event id is in the user's window (carried row by row: only rows with an id cost Python work)."""
    dup = np.zeros(len(ok), dtype=bool)
    event_ids = list(map(_EVENT_ID, rows.events))
    if event_ids.count(None) == len(event_ids):
        return dup
    for i in np.flatnonzero(ok & np.array([e is not None for e in event_ids])).tolist():
        user = rows.users[rows.user[i]]
        window = out.recent_ids.get(user)
        if window is None:
            window = out.recent_ids[user] = _window(states.get(user))
        t = int(ts[i])
        dup[i] = window.seen_or_add(event_digest(rows.events[i], t), t, bool(late[i]))
    out.duplicate_ids = int(dup.sum())
    return dup


def _window(state: UserState | None) -> RecentIds:
    if state is None:
        return RecentIds()
    return RecentIds(state.recent_ids, state.recent_times, state.id_horizon_ms, state.horizon_ids)


def _late(
    rows: _Rows, ts: np.ndarray, eligible: np.ndarray, states: Mapping[str, UserState], gap_ms: int
) -> np.ndarray:
    """Rows older than their user's latest time before them (the stored session's, then the eligible rows') minus
    the gap. A late row is below that latest time, so counting it in the running maximum changes nothing."""
    prior = [s.session.last_ts_ms if (s := states.get(u)) is not None and s.session else None for u in rows.users]
    has_prior = np.array([p is not None for p in prior], dtype=bool)
    prior_ts = np.array([p or 0 for p in prior], dtype=np.int64)
    lo = min(int(ts.min()), int(prior_ts[has_prior].min()) if has_prior.any() else int(ts.min())) - 1
    value = np.where(eligible, ts - lo, 0)  # > 0 where the row counts; 0: none
    start = np.where(has_prior, prior_ts - lo, 0)
    order = np.argsort(rows.user, kind="stable")
    group, v = rows.user[order], value[order]
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    shifted = np.append(0, v[:-1])
    shifted[first] = 0
    before = seg_running_max(shifted, group, start)  # the latest before each row (sorted by user)
    late = np.zeros(len(v), dtype=bool)
    late[order] = (before > 0) & (v > 0) & (v < before - gap_ms)
    return late
