"""What every DynamoDB store of a Lambda invocation shares: its client and table, the pool its chunks run in, the
retry backoff, call counters for the metrics, and the rule that no write starts when less than
``min_seconds_left`` of the invocation remain (``time_left``, set per invocation), so none can land after the
next invocation's reads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from clickguard.store.retry import Backoff


class InvocationBoundStore:
    def __init__(
        self,
        client: Any,
        table: str,
        executor: Executor | None = None,
        backoff: Backoff | None = None,
        min_seconds_left: float = 0.0,
    ) -> None:
        self.client = client
        self.table = table
        self.executor = executor
        self.backoff = backoff or Backoff()
        self.min_seconds_left = min_seconds_left
        self.time_left: Callable[[], float] | None = None  # seconds left in the invocation, set per invocation
        self._lock = threading.Lock()
        self.get_calls = 0
        self.write_calls = 0

    def _may_write(self) -> bool:
        return self.time_left is None or self.time_left() >= self.min_seconds_left

    def _count(self, attr: str) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + 1)
