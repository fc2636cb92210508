"""The labels reviewers' decisions give the trainer: the latest decision per user, as a block list and a list of
reviewed negatives.

Everything under ``labels/`` is NDJSON of ``{"user_key", "decision", "decided_at", ...}`` (a decision-log object
is one such line). A user's latest decision wins (by ``decided_at``; on a tie, the one read later). ``block`` and
the thesis's block statuses (scammer, spammer, fraud, offensive, other) make the user a positive: left out of the
training window and the supervised part's positive. ``allow`` (and ``cleared``, ``ok``, ``false_positive``) makes
the user a reviewed negative: someone looked and found nothing, a stronger negative than "never flagged".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from clickguard.rejections import RejectedRecord
from clickguard.review.decision import Verdict
from clickguard.timestamps import parse_timestamp

BLOCKING_DECISIONS = frozenset({Verdict.BLOCK.value, "blocked", "scammer", "spammer", "fraud", "offensive", "other"})
CLEARING_DECISIONS = frozenset({Verdict.ALLOW.value, "cleared", "ok", "false_positive"})


@dataclass(frozen=True)
class LabelSet:
    blocked: frozenset[str]  # positives: the latest decision blocks
    allowed: frozenset[str]  # reviewed negatives: the latest decision clears


def decision_lines(body: bytes) -> Iterator[tuple[str, int, str]]:
    """``(user_key, decided_at ms, decision)`` of every well-formed line with a known decision; others skipped.

    Times are compared as instants, not strings: ``...00Z`` and ``...00.000Z`` are the same moment. A line
    without a readable time counts as the oldest."""
    for line in body.splitlines():
        try:
            rec = json.loads(line)
            user, decision = str(rec["user_key"]), str(rec["decision"]).lower()
        except (ValueError, KeyError, TypeError):
            continue
        if decision not in BLOCKING_DECISIONS | CLEARING_DECISIONS:
            continue
        try:
            when = parse_timestamp(rec.get("decided_at"))
        except RejectedRecord:
            when = 0
        yield user, when, decision


def latest_labels(lines: Iterable[tuple[str, int, str]]) -> LabelSet:
    """The label of each user's latest decision, over lines in reading order."""
    latest: dict[str, tuple[int, str]] = {}
    for user, when, decision in lines:
        if user not in latest or when >= latest[user][0]:
            latest[user] = (when, decision)
    return LabelSet(
        blocked=frozenset(u for u, (_, d) in latest.items() if d in BLOCKING_DECISIONS),
        allowed=frozenset(u for u, (_, d) in latest.items() if d in CLEARING_DECISIONS),
    )
