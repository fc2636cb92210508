"""The decisions Lambda's logic: validate each message, record it in the decision log, keep the allow-list.

Per batch (SQS gives up to 10 messages, in order per message group, i.e. per user):

1. each message is parsed (``review.decision``). A malformed one is kept under the rejected prefix and counted,
   and never fails: it would only come back the same. A valid one is written to the decision log under its own
   key, once (a redelivery finds it there and is counted as a duplicate);
2. the allow-list is read once, every valid decision of the batch is applied in order (``review.allowlist``) and
   the result is written back only if it changed, with a conditional write: on a conflict (another batch wrote
   meanwhile) it is read again and re-applied, up to ``ALLOWLIST_ATTEMPTS`` times;
3. whatever failed is reported back as batch item failures. A message that fails makes every later message of
   its group fail untried, so a user's decisions are never applied out of order (what a FIFO queue needs).
   Decisions whose allow-list write failed are all reported: their log objects exist already, and applying a
   decision twice gives the same list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clickguard.model.ports import ConditionalWriteFailed
from clickguard.review import allowlist
from clickguard.review.allowlist import AllowListError
from clickguard.review.decision import Decision, InvalidDecision, parse_decision
from clickguard.review.ports import (
    AllowListStore,
    DecisionLog,
    DecisionStoreError,
    RejectedDecision,
    RejectedDecisions,
)

ALLOWLIST_ATTEMPTS = 5


@dataclass(frozen=True)
class Inbound:
    message_id: str
    body: str
    group_id: str | None = None  # FIFO message group (the user key); None on a standard queue


@dataclass(frozen=True)
class RecorderDeps:
    log: DecisionLog
    rejected: RejectedDecisions
    allowlist: AllowListStore


@dataclass(frozen=True)
class AllowPolicy:
    days: int  # an entry expires this long after its decision
    margin: float  # review.rule: "stronger" means above strength * (1 + margin)


@dataclass
class RecordOutcome:
    recorded: Counter[str] = field(default_factory=Counter)  # new log objects, by decision
    duplicates: int = 0  # decisions already in the log (redeliveries)
    rejected: Counter[str] = field(default_factory=Counter)  # malformed messages kept, by reason
    failed: list[str] = field(default_factory=list)  # message ids to retry, in batch order
    allowlist_entries: int | None = None  # after this batch; None when it was not read
    allowlist_written: bool = False
    allowlist_conflicts: int = 0
    errors: list[str] = field(default_factory=list)  # error types, for the log (never a message's content)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed]}


def record_batch(messages: Sequence[Inbound], deps: RecorderDeps, policy: AllowPolicy, now_ms: int) -> RecordOutcome:
    out = RecordOutcome()
    failed_groups: set[str] = set()
    decided: list[tuple[Inbound, Decision]] = []
    for message in messages:
        if message.group_id is not None and message.group_id in failed_groups:
            out.failed.append(message.message_id)
            continue
        if not _take(message, deps, now_ms, out, decided):
            out.failed.append(message.message_id)
            if message.group_id is not None:
                failed_groups.add(message.group_id)
    if decided and not _update_allowlist([d for _, d in decided], deps.allowlist, policy, now_ms, out):
        order = {m.message_id: i for i, m in enumerate(messages)}
        out.failed = sorted([*out.failed, *(m.message_id for m, _ in decided)], key=order.__getitem__)
    return out


def _take(
    message: Inbound, deps: RecorderDeps, now_ms: int, out: RecordOutcome, decided: list[tuple[Inbound, Decision]]
) -> bool:
    """Step 1 for one message; False when a store failed (the message is retried)."""
    try:
        decision = parse_decision(message.body, now_ms)
    except InvalidDecision as bad:
        try:
            deps.rejected.put(RejectedDecision(message.message_id, bad.reason, bad.detail, message.body, now_ms))
        except DecisionStoreError as exc:
            out.errors.append(type(exc.__cause__ or exc).__name__)
            return False
        out.rejected[bad.reason] += 1
        return True
    try:
        new = deps.log.record(decision)
    except DecisionStoreError as exc:
        out.errors.append(type(exc.__cause__ or exc).__name__)
        return False
    if new:
        out.recorded[decision.decision.value] += 1
    else:
        out.duplicates += 1
    decided.append((message, decision))
    return True


def _update_allowlist(
    decisions: list[Decision], store: AllowListStore, policy: AllowPolicy, now_ms: int, out: RecordOutcome
) -> bool:
    """Step 2: read, apply, conditional write; re-read on a conflict. False when it could not be written."""
    for _ in range(ALLOWLIST_ATTEMPTS):
        try:
            current, etag = store.read()
            updated = allowlist.apply(current, decisions, days=policy.days, margin=policy.margin, now_ms=now_ms)
            out.allowlist_entries = len(updated)
            if updated.to_json() == current.to_json():
                return True  # nothing to change (a block of a user never allowed, an allow already applied)
            store.write(updated, etag)
            out.allowlist_written = True
            return True
        except ConditionalWriteFailed:
            out.allowlist_conflicts += 1
        except (DecisionStoreError, AllowListError) as exc:
            out.errors.append(type(exc.__cause__ or exc).__name__)
            return False
    out.errors.append("AllowListConflicts")
    return False
