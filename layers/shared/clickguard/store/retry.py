"""Backoff with full jitter for the partial failures batch APIs return (unprocessed items, failed entries).

botocore's own retries (standard mode) cover throttled *calls*; this covers the items a successful call hands
back. Full jitter spreads the retries of concurrent shards instead of letting them collide again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Backoff:
    attempts: int = 6  # calls per chunk in total, the first included
    base_s: float = 0.025
    cap_s: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def pauses(self) -> Iterator[None]:
        """Yields once per attempt; sleeps before every attempt but the first."""
        for i in range(self.attempts):
            if i:
                self.sleep(self.rand() * min(self.cap_s, self.base_s * 2 ** (i - 1)))
            yield None


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]
