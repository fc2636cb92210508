"""What the review loop needs from the outside world; ``clickguard.store.decisions`` and
``clickguard.store.allowlist`` implement these over SQS and S3, ``tests/review_support.py`` in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clickguard.review.allowlist import AllowList
from clickguard.review.decision import Decision


class DecisionStoreError(RuntimeError):
    """A call to a store that failed (throttling, timeouts, service errors): the message is retried."""


@dataclass(frozen=True)
class RejectedDecision:
    """A message that is not a decision, kept for an operator to fix and send again."""

    message_id: str
    reason: str  # one of decision.REASONS
    detail: str
    body: str
    received_at_ms: int


class DecisionSink(Protocol):
    def send(self, decision: Decision) -> None:
        """Hand a decision to the one recording path (the decisions queue), or raise ``DecisionStoreError``."""
        ...


class DecisionLog(Protocol):
    def record(self, decision: Decision) -> bool:
        """Store the decision durably under its own key; False when that key was already there (a redelivery)."""
        ...


class RejectedDecisions(Protocol):
    def put(self, rejected: RejectedDecision) -> None:
        """Keep a malformed message (one object per message id), or raise ``DecisionStoreError``."""
        ...


class AllowListStore(Protocol):
    """The decisions Lambda's read-modify-write of the allow-list."""

    def read(self) -> tuple[AllowList, str | None]:
        """The list and its entity tag (None: no list yet, an empty one is returned)."""
        ...

    def write(self, allow: AllowList, expected_etag: str | None) -> None:
        """Replace the list only if it is still ``expected_etag`` (None: only if absent); else raise
        ``clickguard.model.ports.ConditionalWriteFailed``."""
        ...


class AllowListSource(Protocol):
    """The consumer's view of the allow-list."""

    def current(self) -> AllowList:
        """The list to consult; never raises (no list, or an unreadable one: the last good list, else empty)."""
        ...
