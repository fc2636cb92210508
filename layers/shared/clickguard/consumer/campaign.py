"""The campaign alert (seed 000's aim to "anticipate groups of attackers"): many users at once whose sessions fit
none of the training window's behaviour groups, and alike among themselves.

Rule, per event alone (so batching, replays and bisection never change it): when a session's length reaches a
checkpoint (``groups.is_checkpoint``) and its profile fits no group of the model (distance above the limit), its
user joins the bucket of (the session's ``signature``, the hour of that event). A bucket whose distinct users reach
``threshold`` = max(``campaign_min_users``, ``campaign_growth`` x the signature's peak hourly users in the training
window) raises one group flag.

Counting is exactly-once by construction: each bucket is one item of the session table whose members are a set of
8-byte user digests, grown with UpdateItem ADD (a replay adds what is already there; shards add in any order), one
call per bucket the batch touches. The set is capped (``cap``) so a huge campaign can never outgrow an item.
Commit order: buckets are counted before anything of the batch is committed; a bucket that crossed its threshold
and holds no ``alerted`` mark sends its group flag (``flag_id`` from signature and hour: the FIFO queue drops a
repeat within five minutes), then marks the bucket. A failed count or send leaves that bucket's users of the batch
uncommitted, so the replay counts and sends again; a failed mark only allows a later batch to send the same flag
again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.consumer.buckets import HOUR_MS, KIND, Bucket, GroupCount, GroupUpdate
from clickguard.consumer.campaign_config import CampaignConfig
from clickguard.consumer.flagging import Applied
from clickguard.consumer.flags import Flag
from clickguard.consumer.ports import FlagSink, GroupCounter, ModelView
from clickguard.consumer.state import LastFlag, id_digest
from clickguard.model.codes import factorize
from clickguard.model.groups import Groups, Profiles, groups_of, is_checkpoint, signatures
from clickguard.model.scoring import TOKEN_NAME, TOKEN_UBITS, BatchResult, ScoringTable, SessionState
from clickguard.timestamps import format_ms

SCHEMA_VERSION = 1
SAMPLE = 10  # user keys a group flag shows
MAX_THRESHOLD = int(settings.CAMPAIGN_RANGES["campaign_min_users"][1])
MESSAGE_FIELDS = (
    "schema_version", "kind", "flag_id", "signature", "members", "threshold", "training_peak", "sample_user_keys",
    "bucket_start", "bucket_end", "model_version", "flagged_at",
)  # fmt: skip


def emerging(
    result: BatchResult,
    applied: Applied,
    prior: Mapping[str, SessionState | None],
    groups: Groups,
    table: ScoringTable,
) -> dict[Bucket, set[str]]:
    """The users of this batch that join each bucket (see the module docstring)."""
    if result.event_transitions is None or result.event_total_ubits is None or not groups.usable:
        return {}
    pos, total = result.event_transitions, result.event_total_ubits
    users = applied.events.users
    ck = np.flatnonzero(is_checkpoint(pos, groups.first_checkpoint))
    if not len(ck):
        return {}
    prof, rows = _checkpoint_profiles(ck, pos, total, applied, prior, table, len(groups.tokens))
    _, dist = groups.place(prof)
    out = np.flatnonzero(dist > groups.limit)
    sigs = signatures(prof.subset(out), list(range(len(out))), groups.tokens)
    buckets: dict[Bucket, set[str]] = {}
    ts = applied.events.ts_ms
    for k, sig in zip(out.tolist(), sigs, strict=True):
        i = int(rows[k])
        buckets.setdefault(Bucket(sig, ts[i] // HOUR_MS * HOUR_MS), set()).add(users[i])
    return buckets


def _checkpoint_profiles(
    ck: np.ndarray,
    pos: np.ndarray,
    total: np.ndarray,
    applied: Applied,
    prior: Mapping[str, SessionState | None],
    table: ScoringTable,
    v: int,
) -> tuple[Profiles, np.ndarray]:
    """Each checkpoint event's session profile right after it: the continued session's stored tokens plus this
    batch's events of the session up to it. Only users with a checkpoint are looked at."""
    users = applied.events.users
    ucode, names = factorize(users)  # one pass over the batch; everything after is numpy
    idx = np.flatnonzero(np.isin(ucode, ucode[ck]))
    idx = idx[np.argsort(ucode[idx], kind="stable")]  # users with a checkpoint, each in arrival order
    code = ucode[idx]
    starts = np.ones(len(idx), dtype=bool)
    starts[1:] = code[1:] != code[:-1]
    starts |= pos[idx] == 1
    seg_first = np.maximum.accumulate(np.where(starts, np.arange(len(idx)), 0))
    before = np.empty(len(idx), dtype=np.int64)  # the session's micro-bits before each event
    before[1:] = total[idx[:-1]]
    before[starts] = 0
    continued = np.flatnonzero(starts & (pos[idx] > 1))  # a batch's first event of a session begun earlier
    before[continued] = [_prior_total(prior.get(names[c])) for c in code[continued].tolist()]
    ub = total[idx] - before
    tcode, distinct = factorize(applied.events.tokens)
    token = np.array([table.state_of(t) for t in distinct], dtype=np.int64)[tcode[idx]]
    u_of = [names[c] for c in code.tolist()]
    cks = np.flatnonzero(np.isin(idx, ck))  # rows of idx that are checkpoints
    length = cks - seg_first[cks] + 1
    rows = np.repeat(np.arange(len(cks)), length)
    ev = np.repeat(seg_first[cks], length) + (np.arange(len(rows)) - np.repeat(np.cumsum(length) - length, length))
    # The stored tokens of each checkpoint's session begun before this batch, all of them at once.
    began_before = (pos[idx[seg_first[cks]]] > 1).tolist()
    states = [prior.get(u_of[c]) if b else None for c, b in zip(cks.tolist(), began_before, strict=True)]
    bags = [s.tokens if s is not None else () for s in states]
    stored = list(chain.from_iterable(bags))
    n = len(stored)
    prof = Profiles.of(
        np.concatenate([rows, np.repeat(np.arange(len(cks)), list(map(len, bags)))]),
        np.concatenate([token[ev], np.fromiter(map(table.state_of, map(TOKEN_NAME, stored)), np.int64, n)]),
        np.concatenate([ub[ev], np.fromiter(map(TOKEN_UBITS, stored), np.int64, n)]) / settings.MICROBITS_PER_BIT,
        len(cks),
        v,
    )
    return prof, idx[cks]


def _prior_total(state: SessionState | None) -> int:
    return state.total_ubits if state is not None else 0


def threshold(groups: Groups, signature: str, config: CampaignConfig) -> int:
    """Users a bucket needs to alert, at most ``MAX_THRESHOLD`` (a bucket's set then stays under 160 KB of digests,
    well inside an item's 400 KB, whatever the training peak)."""
    wanted = max(config.min_users, int(np.ceil(config.growth * groups.baseline.get(signature, 0))))
    return min(wanted, MAX_THRESHOLD)


def updates_of(buckets: Mapping[Bucket, set[str]], groups: Groups, config: CampaignConfig) -> list[GroupUpdate]:
    out = []
    for bucket, members in sorted(buckets.items(), key=lambda kv: (kv[0].hour_ms, kv[0].signature)):
        limit = threshold(groups, bucket.signature, config)
        out.append(
            GroupUpdate(
                bucket,
                tuple(sorted(id_digest(u) for u in members)),
                tuple(sorted(members)[:SAMPLE]),
                cap=2 * limit,
                expires_at=(bucket.hour_ms + HOUR_MS) // 1000 + config.ttl_seconds,
            )
        )
    return out


def group_flag(
    bucket: Bucket, count: GroupCount, members: set[str], groups: Groups, config: CampaignConfig, model_version: str
) -> Flag:
    """The message (``MESSAGE_FIELDS``; the README documents each) as the consumer's ``Flag``, so the same FIFO
    queue carries it, grouped apart from every user's flags."""
    sample = sorted(set(count.sample) | members)[:SAMPLE]
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "flag_id": bucket.flag_id,
        "signature": bucket.signature,  # the rarest action the members share (``groups.signatures``)
        "members": count.members,
        "threshold": threshold(groups, bucket.signature, config),
        "training_peak": groups.baseline.get(bucket.signature, 0),
        "sample_user_keys": sample,
        "bucket_start": format_ms(bucket.hour_ms),
        "bucket_end": format_ms(bucket.hour_ms + HOUR_MS),
        "model_version": model_version,
        "flagged_at": format_ms(bucket.hour_ms),  # the bucket, not the clock: a repeat says the same thing
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    last = LastFlag(bucket.hour_ms, model_version, bucket.flag_id, (KIND,))
    return Flag(bucket.flag_id, bucket.message_group, text, last)


@dataclass
class CampaignResult:
    failed_users: set[str] = field(default_factory=set)  # users of buckets not counted or whose flag did not go out
    buckets: int = 0  # UpdateItem calls' worth: buckets the batch touched
    flags_sent: int = 0
    flags_failed: int = 0
    marks_failed: int = 0


def campaign_step(
    buckets: Mapping[Bucket, set[str]],
    groups: Groups,
    config: CampaignConfig,
    model_version: str,
    counter: GroupCounter,
    sender: FlagSink,
) -> CampaignResult:
    """Count the batch's buckets, send the group flags of those that crossed, mark them (see the docstring)."""
    out = CampaignResult(buckets=len(buckets))
    if not buckets:
        return out
    counts = counter.add(updates_of(buckets, groups, config))
    due: list[tuple[Bucket, Flag]] = []
    for bucket, members in buckets.items():
        count = counts.get(bucket)
        if count is None:
            out.failed_users |= members
        elif count.members >= threshold(groups, bucket.signature, config) and not count.alerted:
            due.append((bucket, group_flag(bucket, count, members, groups, config, model_version)))
    if not due:
        return out
    failed_ids = sender.send([f for _, f in due])
    sent = [b for b, f in due if f.flag_id not in failed_ids]
    for bucket, f in due:
        if f.flag_id in failed_ids:
            out.failed_users |= buckets[bucket]
    out.flags_sent, out.flags_failed = len(sent), len(due) - len(sent)
    out.marks_failed = len(counter.mark_alerted(sent)) if sent else 0
    return out


def run_campaign(
    result: BatchResult,
    applied: Applied,
    prior: Mapping[str, SessionState | None],
    view: ModelView,
    counter: GroupCounter | None,
    sender: FlagSink,
    config: CampaignConfig,
) -> CampaignResult:
    """The batch's step of the alert: nothing without a model that carries groups or without a counter."""
    groups = model_groups(view)
    if groups is None or counter is None or view.model is None:
        return CampaignResult()
    buckets = emerging(result, applied, prior, groups, view.table)
    return campaign_step(buckets, groups, config, view.model.version, counter, sender)


def model_groups(view: ModelView) -> Groups | None:
    """The current model's behaviour groups (parsed once per model), None when it has none."""
    model = view.model
    return groups_of(model.groups, model.tokens, model.version) if model is not None else None
