"""What the API needs from the outside world: read-only views of the session table, the current model and the
reviewers' allow-list (the consumer's own ports for the last two)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from clickguard.consumer.ports import ModelProvider
from clickguard.consumer.state import UserState
from clickguard.review.ports import AllowListSource

__all__ = ["AllowListSource", "ModelProvider", "SessionReader"]


class SessionReader(Protocol):
    """The consumer's ``SessionRepo`` without its write: the API reads state and never writes it."""

    def get_many(self, user_keys: Sequence[str]) -> tuple[dict[str, UserState], set[str]]:
        """States found (absent = no item) and the keys that could not be read."""
        ...
