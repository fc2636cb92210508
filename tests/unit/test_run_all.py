"""``store.retry.run_all``: the pool's calls, in order, at most ``IN_FLIGHT`` at once, every one finished first."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from clickguard.store.retry import IN_FLIGHT, run_all


class Gauge:
    """Counts the calls running at once and the most seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.calls: list[int] = []

    def call(self, i: int) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.calls.append(i)
        time.sleep(0.01)
        with self.lock:
            self.now -= 1
        return i * i


def test_results_come_back_in_item_order_each_item_called_once_with_in_flight_calls_at_once():
    gauge = Gauge()
    with ThreadPoolExecutor(16) as pool:  # a wider pool still gets IN_FLIGHT calls at once
        assert run_all(pool, gauge.call, list(range(40))) == [i * i for i in range(40)]
    assert sorted(gauge.calls) == list(range(40))
    assert gauge.most == IN_FLIGHT


def test_the_first_error_in_item_order_is_raised_once_every_call_has_finished():
    gauge = Gauge()

    def call(i: int) -> int:
        if i in (3, 7):
            raise ValueError(f"item {i}")
        return gauge.call(i)

    with ThreadPoolExecutor(IN_FLIGHT) as pool, pytest.raises(ValueError, match="item 3"):
        run_all(pool, call, list(range(20)))
    assert sorted(gauge.calls) == [i for i in range(20) if i not in (3, 7)]
    assert gauge.now == 0


def test_without_a_pool_the_calls_run_in_order_in_the_caller():
    seen: list[int] = []
    assert run_all(None, lambda i: seen.append(i) or i, [2, 1, 3]) == [2, 1, 3]
    assert seen == [2, 1, 3]
