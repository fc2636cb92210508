"""Decisions per day and the share of flags confirmed: the precision reviewers see.

Counted per flag: a flag decided twice (a reviewer changed their mind) counts once, by its latest decision, on
the day of that decision. The share confirmed is ``block / (block + allow)`` among the flags decided that day.
It is the precision of the flags reviewers looked at, not of every flag: flags nobody decided are not in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clickguard.review.decision import Decision, Verdict


@dataclass(frozen=True)
class DayTally:
    day: str  # YYYY-MM-DD (UTC), or "all"
    block: int
    allow: int

    @property
    def decided(self) -> int:
        return self.block + self.allow

    @property
    def confirmed_share(self) -> float | None:
        return self.block / self.decided if self.decided else None


def latest_per_flag(decisions: Iterable[Decision]) -> list[Decision]:
    """Each flag's latest decision (by decided_at; on a tie, the one given later)."""
    latest: dict[str, Decision] = {}
    for d in decisions:
        held = latest.get(d.flag_id)
        if held is None or d.decided_at_ms >= held.decided_at_ms:
            latest[d.flag_id] = d
    return sorted(latest.values(), key=lambda d: (d.decided_at_ms, d.flag_id))


def per_day(decisions: Iterable[Decision]) -> list[DayTally]:
    """One tally per day that has decisions, in date order."""
    counts: dict[str, list[int]] = {}
    for d in latest_per_flag(decisions):
        tally = counts.setdefault(d.decided_at[:10], [0, 0])
        tally[0 if d.decision is Verdict.BLOCK else 1] += 1
    return [DayTally(day, block, allow) for day, (block, allow) in sorted(counts.items())]


def overall(days: Iterable[DayTally]) -> DayTally:
    block = allow = 0
    for t in days:
        block, allow = block + t.block, allow + t.allow
    return DayTally("all", block, allow)
