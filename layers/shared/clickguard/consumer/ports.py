"""What the orchestrator needs from the outside world; ``clickguard.store`` implements these over AWS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from clickguard.alerts import FlagSink as FlagSink
from clickguard.consumer.buckets import Bucket, GroupCount, GroupUpdate
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.state import UserState
from clickguard.model.model import Model
from clickguard.model.scoring import ScoringTable
from clickguard.rejections import Reason


class StoreError(RuntimeError):
    """A call that still failed after its retries (throttling, timeouts, service errors)."""


class RejectedEntry(NamedTuple):
    record: KinesisRecord
    reason: Reason
    detail: str


@dataclass(frozen=True)
class ModelView:
    table: ScoringTable  # ScoringTable.unscored() while no model is published
    model: Model | None
    age_seconds: float | None = None  # since the model's creation

    @property
    def scored(self) -> bool:
        return self.model is not None


class SessionRepo(Protocol):
    def get_many(self, user_keys: Sequence[str]) -> tuple[dict[str, UserState], set[str]]:
        """States found (absent = new user) and the keys that could not be read."""
        ...

    def put_many(self, states: Sequence[UserState]) -> set[str]:
        """Write states; returns the user keys whose write did not succeed."""
        ...


class GroupCounter(Protocol):
    """The campaign alert's counts (``consumer.campaign``); ``store.groups`` keeps them in the session table."""

    def add(self, updates: Sequence[GroupUpdate]) -> dict[Bucket, GroupCount]:
        """Apply each update (a set union); the buckets missing from the answer could not be counted."""
        ...

    def mark_alerted(self, buckets: Sequence[Bucket]) -> set[Bucket]:
        """Record that these buckets' group flags went out; returns the buckets not marked."""
        ...


class RejectSink(Protocol):
    def put(self, entries: Sequence[RejectedEntry]) -> None:
        """Store rejected records durably or raise ``StoreError``."""
        ...


class ModelProvider(Protocol):
    def current(self) -> ModelView:
        """The model to score with; never raises (no model -> an unscored view)."""
        ...
