"""Shared by the review loop's tests: in-memory fakes of its ports, and flags and decisions to feed them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from clickguard.model.ports import ConditionalWriteFailed
from clickguard.review.allowlist import AllowList
from clickguard.review.decision import Decision, Verdict
from clickguard.review.ports import DecisionStoreError, RejectedDecision

T0_MS = 1_764_000_000_000  # 2025-11-24T16:00:00Z
DAY_MS = 86_400_000


def flag(user: str = "u-1", flag_id: str = "f1", reasons: tuple[str, ...] = ("mean_bits",), **extra: Any) -> dict:
    """A schema-1 flag message as the consumer sends it (strength 5.0 / 4.0 = 1.25)."""
    body = {
        "schema_version": 1,
        "flag_id": flag_id,
        "user_key": user,
        "session_id": None,
        "reasons": list(reasons),
        "mean_bits": 5.0,
        "total_bits": 30.0,
        "score": 2**-5.0,
        "transitions": 6,
        "thresholds": {"mean_bits": 4.0, "total_bits": 40.0, "min_events": 3},
        "model_version": "m-1",
        "top_transitions": [{"from": "login#fail", "to": "login#fail", "bits": 9.0, "position": 3}],
        "first_event_time": "2025-11-24T15:00:00.000Z",
        "last_event_time": "2025-11-24T15:05:00.000Z",
        "flagged_at": "2025-11-24T15:05:00.000Z",
        "source": {"shard_id": "shardId-000000000000", "sequence_number": "1"},
    }
    body.update(extra)
    return body


def flag_v2(user: str = "u-1", flag_id: str = "f2", reasons: tuple[str, ...] = ("fail_share",), **extra: Any) -> dict:
    """A schema-2 flag message (detector v2): score over threshold, signals (strength 36 / 24 = 1.5)."""
    body = {
        "schema_version": 2,
        "flag_id": flag_id,
        "user_key": user,
        "session_id": "s-1",
        "score": 36.0,
        "threshold": 24.0,
        "reasons": list(reasons),
        "signals": [
            {"name": "peak_per_minute", "value": 14.0, "typical": 3.0, "bits": 4.2},
            {"name": "fail_share", "value": 0.8, "typical": 0.02, "bits": 11.5},
            {"name": "events", "value": 40, "typical": 12, "bits": 0.4},
        ],
        "transitions": 39,
        "peak_mean_bits": 3.1,
        "total_bits": 120.0,
        "top_transitions": [{"from": "login#fail", "to": "login#fail", "bits": 7.5, "position": 2}],
        "model_version": "m-2",
        "first_event_time": "2025-11-24T15:00:00.000Z",
        "last_event_time": "2025-11-24T15:05:00.000Z",
        "flagged_at": "2025-11-24T15:05:00.000Z",
        "source": {"shard_id": "shardId-000000000000", "sequence_number": "2"},
    }
    body.update(extra)
    return body


def decision(
    user: str = "u-1",
    verdict: Verdict = Verdict.ALLOW,
    at_ms: int = T0_MS,
    flag_id: str = "f1",
    reasons: tuple[str, ...] | None = ("mean_bits",),
    strength: float | None = 1.25,
) -> Decision:
    return Decision(
        flag_id=flag_id,
        user_key=user,
        decision=verdict,
        reason="looked at the sessions",
        reviewer="alice",
        decided_at_ms=at_ms,
        model_version="m-1",
        flag_reasons=reasons,
        flag_strength=strength,
    )


@dataclass
class MemoryLog:
    """``DecisionLog``: objects by key, first write wins; ``fail`` makes the next writes raise."""

    objects: dict[str, bytes] = field(default_factory=dict)
    fail: int = 0

    def record(self, d: Decision) -> bool:
        if self.fail:
            self.fail -= 1
            raise DecisionStoreError("log down")
        key = d.log_key()
        if key in self.objects:
            return False
        self.objects[key] = (d.to_json() + "\n").encode()
        return True


@dataclass
class MemoryRejected:
    kept: dict[str, RejectedDecision] = field(default_factory=dict)
    fail: int = 0

    def put(self, rejected: RejectedDecision) -> None:
        if self.fail:
            self.fail -= 1
            raise DecisionStoreError("sink down")
        self.kept[rejected.message_id] = rejected


@dataclass
class MemoryAllowList:
    """``AllowListStore`` with S3's conditional-write semantics: every write gets a fresh entity tag.

    ``before_write`` runs once, just before the next conditional write is checked: a rival writer slips in there.
    """

    data: bytes | None = None
    etag: str | None = None
    writes: int = 0
    fail_reads: int = 0
    before_write: Callable[[], None] | None = None
    _tags: Iterator[int] = field(default_factory=itertools.count)

    def read(self) -> tuple[AllowList, str | None]:
        if self.fail_reads:
            self.fail_reads -= 1
            raise DecisionStoreError("read failed")
        if self.data is None:
            return AllowList(), None
        return AllowList.from_json(self.data), self.etag

    def write(self, allow: AllowList, expected_etag: str | None) -> None:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook()
        if expected_etag != self.etag:
            raise ConditionalWriteFailed("allowlist")
        self.put(allow)

    def put(self, allow: AllowList) -> None:
        self.data, self.etag = allow.to_json(), f'"e{next(self._tags)}"'
        self.writes += 1

    @property
    def current(self) -> AllowList:
        return AllowList.from_json(self.data) if self.data is not None else AllowList()


@dataclass
class StaticAllowList:
    """The consumer's ``AllowListSource``, fixed."""

    allow: AllowList = field(default_factory=AllowList)

    def current(self) -> AllowList:
        return self.allow


@dataclass
class ListSink:
    """``DecisionSink`` that keeps what it is sent."""

    sent: list[Decision] = field(default_factory=list)

    def send(self, d: Decision) -> None:
        self.sent.append(d)
