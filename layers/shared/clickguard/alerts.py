"""What every rule that raises a flag shares: the message envelope and where it goes. The session rule
(``consumer``), the purchases-in-a-network rule (``network``) and the campaign alert all send ``Flag`` objects to one
``FlagSink`` (the FIFO flag queue, ``store.flags``); this module depends on nothing, so none of them depends on
another for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LastFlag:
    ts_ms: int  # event time the flag fired at (the session's latest event time): cooldown runs on event time
    model_version: str  # the model (or the rule) that raised it
    flag_id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Flag:
    flag_id: str  # stable for one decision: the FIFO queue's deduplication id
    user_key: str  # the message group
    body: str  # the JSON message, deterministic for a given flag
    last: LastFlag  # what the user's state remembers


class FlagSink(Protocol):
    def send(self, flags: Sequence[Flag]) -> set[str]:
        """Send flags; returns the flag ids that were not accepted."""
        ...
