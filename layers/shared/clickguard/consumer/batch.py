"""One Kinesis batch, end to end: parse, read states, admit, score, flag, commit, and report the checkpoint.

Commit order (crash safety). Per user, the effects of a batch are the flags it raised and its new state (with the
new last sequence numbers). They are committed in this order:

1. Rejected records go to the sink, one object per record keyed by shard and sequence number: a replay writes
   the same object again, never a second copy.
2. Campaign buckets are counted (a set union per bucket, ``consumer.campaign``) and a bucket that crossed its
   threshold sends its group flag; a bucket not counted, or whose flag was not accepted, holds its users back.
3. Flags are sent to SQS. A flag's id is stable (see ``flags``) and is the FIFO queue's deduplication id, so a
   flag re-sent after a crash or a failed state write within SQS's 5-minute window is dropped by SQS itself.
4. States are written, only for users whose flags were all accepted. The state write is the commit point: it
   records the last applied sequence number, and from then on the guard skips those records.

A user whose state read, bucket count, flag send or state write failed after retries is not committed. The
checkpoint returned in ``batchItemFailures`` is the lowest sequence number among that user's records (and the
rejected records, if the sink failed): Lambda redelivers from there, committed users skip what they already
applied, and uncommitted users replay from their unchanged state, recomputing the same flags. Everything below the
checkpoint is durable.

Poison records (a bug, not bad input: the parser rejects every malformed record with a reason). An unexpected
exception does not fail the batch: ``isolate`` re-runs it in halves, in shard order, down to single records, and
a record that still raises goes to the sink as ``internal_error`` with an error id (its payload kept, see
``store.rejected``) while the rest of the batch commits. Only a failure that no record explains (more than
``MAX_INTERNAL_ERRORS`` records failing alone: the model, the code or the environment is broken) is raised, so
Lambda retries the batch and, at the end, sends its metadata to the on-failure queue.
"""

from __future__ import annotations

import hashlib
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import count, repeat
from operator import attrgetter, itemgetter

from clickguard.consumer.admission import Admission, admit
from clickguard.consumer.campaign import model_groups, run_campaign
from clickguard.consumer.config import ConsumerConfig
from clickguard.consumer.flagging import Applied, FlagContext, find_flags
from clickguard.consumer.flags import Flag
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.network_step import run_network
from clickguard.consumer.ports import (
    FlagSink,
    GroupCounter,
    ModelProvider,
    ModelView,
    RejectedEntry,
    RejectSink,
    SessionRepo,
    StoreError,
)
from clickguard.consumer.state import LastFlag, UserState, trim_seqs
from clickguard.decoding import Decoder, Item, MissingTime, lacks_time
from clickguard.events import Event
from clickguard.model.scoring import BatchResult, EventBatch, score_batch
from clickguard.network.ports import NetworkStore
from clickguard.rejections import SKIPPED, Reason, RejectedRecord
from clickguard.review.allowlist import AllowList
from clickguard.review.ports import AllowListSource


@dataclass(frozen=True)
class _NoAllowList:
    """No reviewer has allowed anyone (tests and tools that run the consumer without the review loop)."""

    def current(self) -> AllowList:
        return AllowList()


NO_ALLOWLIST = _NoAllowList()
# Records that fail alone before the failure is taken for the batch's, not theirs.
MAX_INTERNAL_ERRORS = 10


@dataclass
class Deps:
    sessions: SessionRepo
    flags: FlagSink
    rejected: RejectSink
    model: ModelProvider
    allowlist: AllowListSource = field(default_factory=lambda: NO_ALLOWLIST)
    groups: GroupCounter | None = None  # the campaign alert's counters (``consumer.campaign``); None: no alert
    network: NetworkStore | None = None  # seed 003's state (``consumer.network_step``); None: no network rule


@dataclass(frozen=True)
class InternalError:
    sequence_number: str
    error_id: str
    error_type: str
    where: tuple[str, ...]  # file:line of the frames: never the exception's message, which may quote the payload


@dataclass
class BatchOutcome:
    failures: list[str] = field(default_factory=list)  # at most one sequence number: the checkpoint
    records_in: int = 0
    events_in: int = 0  # the records' events and rejected parts (a KPL aggregate, a gzip payload: several a record)
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_log: list[tuple[str, str]] = field(default_factory=list)  # (sequence number, reason)
    internal_errors: list[InternalError] = field(default_factory=list)
    sink_failed: bool = False
    users: int = 0
    applied: int = 0
    unscored: int = 0
    replayed: int = 0
    duplicate_ids: int = 0
    late: int = 0
    clamped: int = 0
    timed_by_arrival: int = 0  # records whose events carried no time, read at their arrival (``missing_time``)
    flags_sent: int = 0
    flags_suppressed: int = 0  # silenced by the reviewers' allow-list
    network_events: int = 0  # purchase / befriend / unfriend events through seed 003's rule
    network_incomplete: int = 0  # network events without their amount or friend: left to the session rules
    network_flags_sent: int = 0
    network_flags_failed: int = 0
    flags_failed: int = 0
    group_buckets: int = 0  # campaign buckets counted (one UpdateItem each)
    group_flags_sent: int = 0
    users_failed: int = 0
    model_version: str | None = None
    model_age_seconds: float | None = None

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failures]}

    def add(self, other: BatchOutcome) -> None:
        """Fold in the outcome of a later part of the same batch (sums, and the earliest checkpoint)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "failures":
                continue
            if isinstance(mine, Counter | list):
                mine += theirs
            elif isinstance(mine, int) and not isinstance(mine, bool):
                setattr(self, f.name, mine + theirs)
        self.sink_failed |= other.sink_failed
        self.model_version = other.model_version or self.model_version
        self.model_age_seconds = other.model_age_seconds
        if other.failures and not self.failures:
            self.failures = list(other.failures)


@dataclass(frozen=True)
class Parsed:
    """The batch decoded: one entry per event (a record that holds several events, such as a KPL aggregate or a
    gzip NDJSON payload, gives one per event, each a copy of the record with its ``sub`` index and, for a KPL
    sub-record, its own partition key), in shard order; and the rejections (a whole record, or one part of it)."""

    records: list[KinesisRecord]  # the valid ones, shard order
    events: list[Event]
    rejected: list[RejectedEntry]
    timed_by_arrival: int = 0


def parse_all(records: Sequence[KinesisRecord], config: ConsumerConfig) -> Parsed:
    decoder = Decoder(config.decoding)
    decoded = decoder.decode_many(list(map(_DATA, records)))
    if set(map(type, decoded)) <= {Event}:  # the usual batch: one valid event per record
        return Parsed(list(records), decoded, [])  # type: ignore[arg-type]  # every entry an Event
    by_arrival = config.missing_time is MissingTime.ARRIVAL
    untimed = [k for k, result in enumerate(decoded) if by_arrival and lacks_time(result)]
    for k in untimed:  # events with no time at all: read at their record's arrival (``missing_time``)
        decoded[k] = decoder.decode_at(records[k].data, records[k].arrival_ms)
    parsed = Parsed([], [], [], sum(not lacks_time(decoded[k]) for k in untimed))
    for rec, result in zip(records, decoded, strict=True):
        if isinstance(result, Event):
            parsed.events.append(result)
            parsed.records.append(rec)
        elif isinstance(result, RejectedRecord):
            parsed.rejected.append(RejectedEntry(rec, result.reason, result.detail))
        else:
            _add_parts(parsed, rec, result)
    return parsed


_DATA = attrgetter("data")
_RESULT, _KEY, _ITEM_DATA = itemgetter(0), itemgetter(1), itemgetter(2)


def _add_parts(parsed: Parsed, rec: KinesisRecord, items: list[Item]) -> None:
    """The events and rejections of a record that holds several, each part its own record (``_part``)."""
    results = list(map(_RESULT, items))
    keys = list(map(_KEY, items))
    if set(map(type, results)) <= {Event} and all(keys) and items and not any(map(_ITEM_DATA, items)):
        # A KPL aggregate of valid events, each with its own partition key: the parts built in C (tuple.__new__).
        fields = (repeat(rec.shard_id), repeat(rec.seq), repeat(rec.seq_str), keys, repeat(rec.data))
        parsed.records.extend(map(tuple.__new__, repeat(KinesisRecord), zip(*fields, repeat(rec.arrival_ms), count())))
        parsed.events.extend(results)
        return
    for k, item in enumerate(items):
        part = _part(rec, k, item.partition_key, item.data)
        if isinstance(item.result, RejectedRecord):
            parsed.rejected.append(RejectedEntry(part, item.result.reason, item.result.detail))
        else:
            parsed.events.append(item.result)
            parsed.records.append(part)


def _part(rec: KinesisRecord, sub: int, partition_key: str | None, data: bytes | None) -> KinesisRecord:
    """The record of one event of a record that holds several (tuple.__new__: thousands per aggregate)."""
    return tuple.__new__(
        KinesisRecord,
        (rec.shard_id, rec.seq, rec.seq_str, partition_key or rec.partition_key, data or rec.data, rec.arrival_ms, sub),
    )


def process_batch(records: Sequence[KinesisRecord], deps: Deps, config: ConsumerConfig) -> BatchOutcome:
    """The partial-batch outcome of one invocation; raises only when the failure is not any one record's."""
    try:
        return run_batch(records, deps, config)
    except Exception:
        out = BatchOutcome(records_in=len(records))
        isolate(records, deps, config, out)
        return out


class SystemicFailure(RuntimeError):
    """More records failed alone than any one bad record explains: the batch is retried as a whole."""


def isolate(records: Sequence[KinesisRecord], deps: Deps, config: ConsumerConfig, out: BatchOutcome) -> None:
    """Run ``records`` in halves (shard order kept), down to single records; a lone failing record is sunk."""
    if len(records) == 1:
        _sink_internal_error(records[0], deps, config, out)
        return
    mid = len(records) // 2
    for part in (records[:mid], records[mid:]):
        try:
            part_out = run_batch(part, deps, config)
        except Exception:
            isolate(part, deps, config, out)
        else:
            part_out.records_in = 0  # counted once, by the caller
            out.add(part_out)
        if out.failures:  # an uncommitted part: everything after it replays from its checkpoint
            return


def _sink_internal_error(rec: KinesisRecord, deps: Deps, config: ConsumerConfig, out: BatchOutcome) -> None:
    try:
        single = run_batch([rec], deps, config)  # raises again, where the error can be described
    except Exception as exc:
        if len(out.internal_errors) >= MAX_INTERNAL_ERRORS:
            raise SystemicFailure(f"more than {MAX_INTERNAL_ERRORS} records failed alone") from exc
        error = _describe(rec, exc)
        out.internal_errors.append(error)
        out.rejected[Reason.INTERNAL_ERROR.value] += 1
        out.events_in += 1  # the record, whatever it held, is one rejection
        out.rejected_log.append((rec.seq_str, Reason.INTERNAL_ERROR.value))
        entry = RejectedEntry(rec, Reason.INTERNAL_ERROR, f"{error.error_type} (error id {error.error_id})")
        try:
            deps.rejected.put([entry])
        except StoreError:
            out.sink_failed = True
            out.failures = [rec.seq_str]
        return
    single.records_in = 0  # it passed this time (a transient fault) and committed
    out.add(single)


def _describe(rec: KinesisRecord, exc: BaseException) -> InternalError:
    frames = tuple(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__))
    key = f"{rec.shard_id}:{rec.seq_str}:{type(exc).__name__}:{'|'.join(frames[-3:])}"
    error_id = hashlib.sha256(key.encode()).hexdigest()[:16]
    return InternalError(rec.seq_str, error_id, type(exc).__name__, frames[-5:])


def run_batch(records: Sequence[KinesisRecord], deps: Deps, config: ConsumerConfig) -> BatchOutcome:
    """The batch as named steps; an unexpected exception propagates to ``process_batch``."""
    out = BatchOutcome(records_in=len(records))
    if not records:
        return out
    parsed = parse_all(records, config)
    out.events_in = len(parsed.events) + len(parsed.rejected)
    out.timed_by_arrival = parsed.timed_by_arrival
    failing = store_rejected(parsed.rejected, deps, out)
    failing.extend(network_rule(parsed, deps, config, out))
    view = read_model(deps, out)
    gap_ms = view.model.params.gap_ms if view.model else config.session_gap_seconds * 1000
    recs, events, states, read_failed = read_states(parsed, deps, out, failing)
    adm = admit(recs, events, states, gap_ms)
    out.replayed, out.duplicate_ids, out.late, out.clamped = adm.replayed, adm.duplicate_ids, adm.late, adm.clamped
    applied = applied_columns(recs, events, adm)
    prior = {u: (s.session if (s := states.get(u)) else None) for u in adm.touched}
    result = score_batch(view.table, gap_ms, applied.events, prior)
    out.applied = len(adm.applied)
    out.unscored = 0 if view.scored else len(adm.applied)
    flags: list[Flag] = []
    new_last: dict[str, LastFlag] = {}
    if view.model is not None:
        last_flags = {u: (s.last_flag if (s := states.get(u)) else None) for u in adm.touched}
        # The allow-list is read once per batch (a cached object, re-checked like the model), never per user.
        cooldown_ms, allow = config.flag_cooldown_seconds * 1000, deps.allowlist.current()
        ctx = FlagContext(view.table, gap_ms, cooldown_ms, allow, groups=model_groups(view))
        flags, new_last = find_flags(result, applied, prior, last_flags, ctx)
        out.flags_suppressed = len(ctx.suppressed)
    new_states = next_states(recs, events, adm, states, result, new_last, config)
    # Campaign buckets are counted (and their group flags sent) before anything commits: a bucket that failed
    # holds its users of this batch back, so the replay counts it again (``consumer.campaign``).
    camp = run_campaign(result, applied, prior, view, deps.groups, deps.flags, config.campaign)
    out.group_buckets, out.group_flags_sent = camp.buckets, camp.flags_sent
    new_states = [s for s in new_states if s.user_key not in camp.failed_users]
    failed_users = commit(flags, new_states, deps, out) | camp.failed_users
    if failed_users:
        failing.extend(rec for rec, ev in zip(recs, events, strict=True) if ev.user_key in failed_users)
    out.users_failed = len(failed_users | read_failed)
    if failing:
        out.failures = [min(failing, key=lambda r: r.seq).seq_str]
    return out


def network_rule(parsed: Parsed, deps: Deps, config: ConsumerConfig, out: BatchOutcome) -> list[KinesisRecord]:
    """Seed 003's purchases-in-a-network rule over the batch; returns the records to replay if it could not commit."""
    if deps.network is None or config.network is None:
        return []
    net = run_network(parsed.records, parsed.events, deps.network, deps.flags, config.network)
    out.network_events, out.network_incomplete = net.events, net.incomplete
    out.network_flags_sent, out.network_flags_failed = net.flags_sent, net.flags_failed
    return list(net.failing)


def store_rejected(rejected: list[RejectedEntry], deps: Deps, out: BatchOutcome) -> list[KinesisRecord]:
    """Count the rejects and sink them (``SKIPPED`` reasons are only counted); returns the records to replay if the
    sink failed."""
    if not rejected:
        return []
    out.rejected.update(e.reason.value for e in rejected)
    kept = [e for e in rejected if e.reason not in SKIPPED]
    if not kept:
        return []
    out.rejected_log = [(e.record.seq_str, e.reason.value) for e in kept]
    try:
        deps.rejected.put(kept)
    except StoreError:
        out.sink_failed = True
        return [e.record for e in kept]
    return []


def read_model(deps: Deps, out: BatchOutcome) -> ModelView:
    view = deps.model.current()
    out.model_version = view.model.version if view.model else None
    out.model_age_seconds = view.age_seconds
    return view


def read_states(
    parsed: Parsed, deps: Deps, out: BatchOutcome, failing: list[KinesisRecord]
) -> tuple[list[KinesisRecord], list[Event], dict[str, UserState], set[str]]:
    """Users' states; records of users whose read failed leave the batch (and join ``failing``)."""
    recs, events = parsed.records, parsed.events
    users = list(dict.fromkeys(map(_USER, events)))
    out.users = len(users)
    states, read_failed = deps.sessions.get_many(users) if users else ({}, set())
    if read_failed:
        keep = [i for i, ev in enumerate(events) if ev.user_key not in read_failed]
        failing.extend(recs[i] for i, ev in enumerate(events) if ev.user_key in read_failed)
        recs, events = [recs[i] for i in keep], [events[i] for i in keep]
    return recs, events, states, read_failed


def applied_columns(recs: Sequence[KinesisRecord], events: Sequence[Event], adm: Admission) -> Applied:
    idx = adm.applied
    if len(idx) < len(events):
        recs, events = list(map(recs.__getitem__, idx)), list(map(events.__getitem__, idx))
    batch = EventBatch(list(map(_USER, events)), list(map(_TOKEN, events)), adm.ts_ms, list(map(_SESSION, events)))
    return Applied(batch, list(map(_SHARD, recs)), list(map(_SEQ, recs)), list(map(_SUB, recs)))


# Columns of records and events, each read in one C loop (``map``).
_USER, _TOKEN, _SESSION = attrgetter("user_key"), attrgetter("token"), attrgetter("session_id")
_SHARD, _SEQ, _SUB, _ARRIVAL = attrgetter("shard_id"), attrgetter("seq"), attrgetter("sub"), attrgetter("arrival_ms")


def latest_arrival(recs: Sequence[KinesisRecord], events: Sequence[Event]) -> dict[str, int]:
    """Each user's newest arrival time: the records sorted by arrival, so the dict keeps each user's last (largest)."""
    arrival = list(map(_ARRIVAL, recs))
    order = sorted(range(len(arrival)), key=arrival.__getitem__)
    return dict(zip(map(_USER, map(events.__getitem__, order)), map(arrival.__getitem__, order), strict=True))


def next_states(
    recs: Sequence[KinesisRecord],
    events: Sequence[Event],
    adm: Admission,
    states: dict[str, UserState],
    result: BatchResult,
    new_last: dict[str, LastFlag],
    config: ConsumerConfig,
) -> list[UserState]:
    # Newest arrival per user: TTL counts from the later of it and the last event, so backfills are kept too.
    arrival = latest_arrival(recs, events)
    ttl_s = config.state_ttl_days * 86400
    out = []
    for user, seqs in adm.touched.items():
        old = states.get(user)
        window = adm.recent_ids.get(user)
        session = result.final.get(user) or (old.session if old else None)
        last_ms = max(session.last_ts_ms if session else 0, arrival.get(user, 0))
        out.append(
            UserState(
                user_key=user,
                session=session,
                seqs=trim_seqs(seqs),
                recent_ids=window.packed() if window else (old.recent_ids if old else b""),
                recent_times=window.packed_times() if window else (old.recent_times if old else b""),
                id_horizon_ms=window.horizon_ms if window else (old.id_horizon_ms if old else 0),
                horizon_ids=window.packed_at_horizon() if window else (old.horizon_ids if old else b""),
                last_flag=new_last.get(user) or (old.last_flag if old else None),
                expires_at=max(last_ms // 1000 + ttl_s, old.expires_at if old else 0),  # never moves back
                version=(old.version if old else 0) + 1,
            )
        )
    return out


def commit(flags: list[Flag], new_states: list[UserState], deps: Deps, out: BatchOutcome) -> set[str]:
    """Flags first, then the states of users whose flags all went out; returns the users left uncommitted."""
    failed_ids = deps.flags.send(flags) if flags else set()
    flag_failed_users = {f.user_key for f in flags if f.flag_id in failed_ids}
    out.flags_failed = sum(1 for f in flags if f.flag_id in failed_ids)
    out.flags_sent = len(flags) - out.flags_failed
    to_write = [s for s in new_states if s.user_key not in flag_failed_users]
    write_failed = deps.sessions.put_many(to_write) if to_write else set()
    return flag_failed_users | write_failed
