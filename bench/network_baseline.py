"""The naive network rule (issue 12): everything kept, everything recomputed. Not production code.

The benchmark's baseline and the tests' oracle, written apart from ``clickguard.network`` on purpose: every
purchase of every user is kept; a purchase walks the graph level by level with plain sets, sorts the whole
purchase history of its network, takes the last T and computes the population mean and sd in 60-digit decimals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal, localcontext

from clickguard.network.step import Kind, NetworkEvent

CENT = Decimal("0.01")


class NaiveNetwork:
    def __init__(self, degree: int, window: int) -> None:
        self.degree, self.window = degree, window
        self.friends: dict[str, set[str]] = defaultdict(set)
        self.history: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # (ts_ms, seq, cents)
        self.purchases_read = 0  # purchases looked at, summed over scored purchases

    def members(self, buyer: str) -> set[str]:
        seen, frontier = {buyer}, {buyer}
        for _ in range(self.degree):
            frontier = {f for u in frontier for f in self.friends.get(u, ())} - seen
            seen |= frontier
        return seen - {buyer}

    def baseline(self, buyer: str) -> list[int]:
        everything = sorted(p for m in self.members(buyer) for p in self.history.get(m, ()))
        self.purchases_read += len(everything)
        return [cents for _, _, cents in everything[-self.window :]]

    def apply(self, ev: NetworkEvent, score: bool) -> tuple[str, str] | None:
        """(mean, sd) as the challenge prints them when the purchase is flagged, else None."""
        if ev.kind is not Kind.PURCHASE:
            other = ev.friend_key or ""
            if other and other != ev.user_key:
                op = set.add if ev.kind is Kind.BEFRIEND else set.discard
                op(self.friends[ev.user_key], other)
                op(self.friends[other], ev.user_key)
            return None
        cents = ev.cents or 0
        flagged = decide(self.baseline(ev.user_key), cents) if score else None
        self.history[ev.user_key].append((ev.ts_ms, ev.seq, cents))
        return flagged

    def run(self, events: Iterable[NetworkEvent], score: bool) -> list[tuple[int, str, str]]:
        """(seq, mean, sd) of each flagged purchase, in order."""
        out = []
        for ev in events:
            flagged = self.apply(ev, score)
            if flagged is not None:
                out.append((ev.seq, *flagged))
        return out


def decide(amounts: list[int], cents: int) -> tuple[str, str] | None:
    if len(amounts) < 2:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        xs = [Decimal(a) / 100 for a in amounts]
        mean = sum(xs) / len(xs)
        sd = (sum((x - mean) ** 2 for x in xs) / len(xs)).sqrt()
        if Decimal(cents) / 100 <= mean + 3 * sd:
            return None
        return str(mean.quantize(CENT, rounding=ROUND_DOWN)), str(sd.quantize(CENT, rounding=ROUND_DOWN))
