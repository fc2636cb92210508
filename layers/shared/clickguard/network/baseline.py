"""The rule on the baseline, exactly: population mean and sd (divide by N) of the network's last T purchases; a
purchase is anomalous when amount > mean + 3 sd; mean and sd are reported truncated (not rounded) to 2 decimals.

All in integer cents. With N amounts, S their sum and Q the sum of squares, the population variance times N**2 is
``V = N*Q - S**2`` (an integer >= 0), so

* amount > mean + 3 sd  <=>  N*amount - S > 3*sqrt(V)  <=>  d = N*amount - S > 0 and d**2 > 9*V;
* the mean truncated to cents is S // N, the sd truncated to cents is isqrt(V) // N
  (floor(sqrt(V) / N) = floor(floor(sqrt(V)) / N) for a positive integer N).

No float takes part in a decision or in a reported figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from clickguard.network.money import format_cents

SIGMAS = 3
MIN_PURCHASES = 2  # with 0 or 1 purchase in the network nothing is flagged


@dataclass(frozen=True)
class Baseline:
    count: int
    total: int  # cents
    total_sq: int  # cents squared

    @classmethod
    def of(cls, amounts: Iterable[int]) -> Baseline | None:
        """The baseline of these amounts (cents), or None when there are fewer than ``MIN_PURCHASES``."""
        n = s = q = 0
        for a in amounts:
            n += 1
            s += a
            q += a * a
        return cls(n, s, q) if n >= MIN_PURCHASES else None

    @property
    def scaled_variance(self) -> int:
        """N**2 times the population variance: N*Q - S**2."""
        return self.count * self.total_sq - self.total * self.total

    def exceeds(self, cents: int) -> bool:
        """amount > mean + 3 sd, exactly."""
        d = self.count * cents - self.total
        return d > 0 and d * d > SIGMAS * SIGMAS * self.scaled_variance

    @property
    def mean_cents(self) -> int:
        """The mean truncated to whole cents (amounts are never negative, so floor is truncation)."""
        return self.total // self.count

    @property
    def sd_cents(self) -> int:
        """The population standard deviation truncated to whole cents."""
        return math.isqrt(self.scaled_variance) // self.count

    @property
    def mean_text(self) -> str:
        return format_cents(self.mean_cents)

    @property
    def sd_text(self) -> str:
        return format_cents(self.sd_cents)
