"""Which records of a batch take effect: the sequence-number guard, event-id dedupe and the late-record rule.

Rules, applied per user in shard order:

* Replay guard: a record whose sequence number is not greater than the user's last applied one on that shard is
  skipped. A retried, bisected or overlapping batch therefore never applies an event twice. A record that holds
  several events (a KPL aggregate, gzip NDJSON, a log batch) gives each its place (sequence number, ``sub``
  index): within a batch they apply in that order, each once. The state keeps the plain sequence number, which is
  enough: Lambda never splits a Kinesis record between batches, and a user's events of one batch commit together
  (one state write), so a user's events of one record are applied all or none; a half-committed aggregate (some
  users written, some not) replays only the users whose state did not move past it.
* Duplicate event id: a record carrying an ``event_id`` among the user's last ``RECENT_EVENT_IDS`` distinct ids
  (``state.RecentIds``: one sliding window, carried through the batch event by event and kept in state) is
  skipped; producers that retry PutRecords create such copies under new sequence numbers.
* Future times: an event time more than ``MAX_FUTURE_SKEW_MS`` after the record's arrival is clamped to arrival
  plus that skew, so one bad clock cannot push a user's latest time ahead and make every later event look late.
* Late records: an event older than the user's latest event time minus the session gap belongs to a session that
  has already closed; it is counted and skipped (its sequence number still advances). An event out of order by
  less than the gap is applied in arrival order and continues the session (see ``clickguard.model.scoring``).

Skipped records still advance the user's sequence number: their effect (none) is committed with the user's state.
Every decision depends only on the user's committed state and the records themselves, never on where a batch
starts or ends, which is what makes replays from any checkpoint give identical results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.state import RecentIds, UserState, id_digest
from clickguard.events import Event

MAX_FUTURE_SKEW_MS = 5 * 60 * 1000


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
        if ev.event_id is not None:
            window = out.recent_ids.get(user)
            if window is None:
                window = out.recent_ids[user] = RecentIds(state.recent_event_ids if state else ())
            if window.seen_or_add(id_digest(ev.event_id)):
                out.duplicate_ids += 1
                continue
        ts = ev.ts_ms
        if ts > rec.arrival_ms + MAX_FUTURE_SKEW_MS and rec.arrival_ms > 0:
            ts = rec.arrival_ms + MAX_FUTURE_SKEW_MS
            out.clamped += 1
        prev = latest.get(user)
        if prev is not None and ts < prev - gap_ms:
            out.late += 1
            continue
        if prev is None or ts > prev:
            latest[user] = ts
        out.applied.append(i)
        out.ts_ms.append(ts)
    return out
