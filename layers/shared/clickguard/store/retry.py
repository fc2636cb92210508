"""Backoff with full jitter for the partial failures batch APIs return (unprocessed items, failed entries).

botocore's own retries (standard mode) cover throttled *calls*; this covers the items a successful call hands
back. Full jitter spreads the retries of concurrent shards instead of letting them collide again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


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


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# Calls a store keeps in flight at once: the width of the consumer's pool (``lambdas/consumer/handler.py``).
IN_FLIGHT = 4


def run_all(executor: Executor | None, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``fn`` over ``items`` (in the pool when there is one), results in order; returns only when every call has
    finished, and only then raises the first error (in item order). A call left running past its invocation could
    land a stale write after the next invocation's newer one.

    At most ``IN_FLIGHT`` tasks go to the pool, each taking the next item until none is left: as many calls in
    flight as one task per item gave, at a tenth of the hand-offs (a 10,000-record batch has 50 chunks or more)."""
    if executor is None or len(items) < 2:
        return [fn(item) for item in items]
    results: list[R | None] = [None] * len(items)
    errors: dict[int, Exception] = {}
    todo: SimpleQueue[int] = SimpleQueue()
    for i in range(len(items)):
        todo.put(i)

    def worker() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except Empty:
                return
            try:
                results[i] = fn(items[i])
            except Exception as exc:
                errors[i] = exc

    workers = [executor.submit(worker) for _ in range(min(IN_FLIGHT, len(items)))]
    wait(workers)
    for w in workers:
        w.result()  # what no item caught (a BaseException)
    if errors:
        raise errors[min(errors)]
    return results  # type: ignore[return-value]  # every slot filled: no error
