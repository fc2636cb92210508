"""One Kinesis batch, end to end: parse, read states, admit, score, flag, commit, and report the checkpoint.

Commit order (crash safety). Per user, the effects of a batch are the flags it raised and its new state (with the
new last sequence numbers). They are committed in this order:

1. Rejected records go to the S3 sink (one object, key derived from the records: a replay overwrites it).
2. Flags are sent to SQS. A flag's id is stable (see ``flags``), so a flag re-sent after a crash or a failed state
   write is a duplicate message with the same ``flag_id``, which reviewers drop; never a new flag.
3. States are written, only for users whose flags were all accepted. The state write is the commit point: it
   records the last applied sequence number, and from then on the guard skips those records.

A user whose state read, flag send or state write failed after retries is not committed. The checkpoint returned
in ``batchItemFailures`` is the lowest sequence number among that user's records (and the rejected records, if
the sink failed): Lambda redelivers from there, committed users skip what they already applied, and uncommitted
users replay from their unchanged state, recomputing the same flags. Everything below the checkpoint is durable.

Unexpected exceptions (bugs) propagate: the whole batch fails and the event source mapping's bisection isolates
the record, instead of a partial response that would retry it forever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from clickguard.consumer.admission import admit
from clickguard.consumer.config import ConsumerConfig
from clickguard.consumer.flagging import find_flags
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.ports import (
    FlagSink,
    ModelProvider,
    RejectedEntry,
    RejectSink,
    SessionRepo,
    StoreError,
)
from clickguard.consumer.state import UserState, trim_seqs
from clickguard.events import Event, RejectedRecord, parse_record
from clickguard.model.scoring import score_batch


@dataclass
class Deps:
    sessions: SessionRepo
    flags: FlagSink
    rejected: RejectSink
    model: ModelProvider


@dataclass
class BatchOutcome:
    failures: list[str] = field(default_factory=list)  # at most one sequence number: the checkpoint
    records_in: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_log: list[tuple[str, str, str]] = field(default_factory=list)  # (sequence number, reason, detail)
    sink_failed: bool = False
    users: int = 0
    applied: int = 0
    unscored: int = 0
    replayed: int = 0
    duplicate_ids: int = 0
    late: int = 0
    clamped: int = 0
    flags_sent: int = 0
    flags_failed: int = 0
    users_failed: int = 0
    model_version: str | None = None
    model_age_seconds: float | None = None

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failures]}


def parse_all(
    records: Sequence[KinesisRecord], config: ConsumerConfig
) -> tuple[list[KinesisRecord], list[Event], list[RejectedEntry]]:
    ok_recs, events, rejected = [], [], []
    source = config.user_key_source
    for rec in records:
        try:
            events.append(parse_record(rec.data, source))
            ok_recs.append(rec)
        except RejectedRecord as exc:
            rejected.append(RejectedEntry(rec, exc.reason, exc.detail))
    return ok_recs, events, rejected


def process_batch(records: Sequence[KinesisRecord], deps: Deps, config: ConsumerConfig) -> BatchOutcome:
    out = BatchOutcome(records_in=len(records))
    if not records:
        return out
    recs, events, rejected = parse_all(records, config)
    failing_seqs: list[KinesisRecord] = []
    if rejected:
        out.rejected.update(e.reason.value for e in rejected)
        out.rejected_log = [(e.record.seq_str, e.reason.value, e.detail) for e in rejected]
        try:
            deps.rejected.put(rejected)
        except StoreError:
            out.sink_failed = True
            failing_seqs.extend(e.record for e in rejected)

    view = deps.model.current()
    out.model_version = view.model.version if view.model else None
    out.model_age_seconds = view.age_seconds
    gap_ms = view.model.params.gap_ms if view.model else config.session_gap_seconds * 1000

    users = list(dict.fromkeys(ev.user_key for ev in events))
    out.users = len(users)
    states, read_failed = deps.sessions.get_many(users) if users else ({}, set())
    if read_failed:
        keep = [i for i, ev in enumerate(events) if ev.user_key not in read_failed]
        failing_seqs.extend(recs[i] for i, ev in enumerate(events) if ev.user_key in read_failed)
        recs, events = [recs[i] for i in keep], [events[i] for i in keep]

    adm = admit(recs, events, states, gap_ms)
    out.replayed, out.duplicate_ids, out.late, out.clamped = adm.replayed, adm.duplicate_ids, adm.late, adm.clamped
    idx = adm.applied
    a_users = [events[i].user_key for i in idx]
    a_tokens = [events[i].token for i in idx]
    a_sids = [events[i].session_id for i in idx]
    prior = {u: (s.session if (s := states.get(u)) else None) for u in adm.touched}
    result = score_batch(view.table, gap_ms, a_users, a_tokens, adm.ts_ms, a_sids, prior)
    out.applied = len(idx)
    if not view.scored:
        out.unscored = len(idx)

    flags, new_last = [], {}
    if view.model is not None:
        flags, new_last = find_flags(
            result,
            a_users,
            a_tokens,
            adm.ts_ms,
            a_sids,
            [recs[i].shard_id for i in idx],
            [recs[i].seq for i in idx],
            prior,
            {u: (s.last_flag if (s := states.get(u)) else None) for u in adm.touched},
            view.table,
            view.model.thresholds,
            gap_ms,
            config.flag_cooldown_seconds * 1000,
        )

    # Newest arrival per user: TTL counts from the later of it and the last event, so backfills are kept too.
    arrival: dict[str, int] = {}
    for rec, ev in zip(recs, events, strict=True):
        if rec.arrival_ms > arrival.get(ev.user_key, 0):
            arrival[ev.user_key] = rec.arrival_ms
    ttl_s = config.state_ttl_days * 86400
    new_states = []
    for user, seqs in adm.touched.items():
        old = states.get(user)
        session = result.final.get(user) or (old.session if old else None)
        last_ms = max(session.last_ts_ms if session else 0, arrival.get(user, 0))
        new_states.append(
            UserState(
                user_key=user,
                session=session,
                seqs=trim_seqs(seqs),
                recent_event_ids=adm.recent_ids.get(user, ()),
                last_flag=new_last.get(user) or (old.last_flag if old else None),
                expires_at=max(last_ms // 1000 + ttl_s, old.expires_at if old else 0),  # never moves back
            )
        )

    # Commit: flags first, then states of users whose flags all went out (see the module docstring).
    failed_ids = deps.flags.send(flags) if flags else set()
    flag_failed_users = {f.user_key for f in flags if f.flag_id in failed_ids}
    out.flags_failed = sum(1 for f in flags if f.flag_id in failed_ids)
    out.flags_sent = len(flags) - out.flags_failed
    to_write = [s for s in new_states if s.user_key not in flag_failed_users]
    write_failed = deps.sessions.put_many(to_write) if to_write else set()

    failed_users = flag_failed_users | write_failed
    if failed_users:
        failing_seqs.extend(rec for rec, ev in zip(recs, events, strict=True) if ev.user_key in failed_users)
    out.users_failed = len(failed_users | read_failed)
    if failing_seqs:
        out.failures = [min(failing_seqs, key=lambda r: r.seq).seq_str]
    return out
