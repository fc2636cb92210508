"""A social marketplace for the demo (seed 003): friendships and purchases with amounts, added beside a simulated
day's clickstream without touching the population's own draws.

Members befriend a few others early in the day (and now and then unfriend one); each member spends around a level of
their own, which friends share loosely (people buy what their friends buy). A few purchases are far above that level:
the ones seed 003's rule is for. ``SocialDay.outliers`` names them, so the demo can say which of them were flagged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from clickguard.sim.output import iso_timestamps

HOUR_MS = 3_600_000


@dataclass
class SocialDay:
    lines: list[str] = field(default_factory=list)  # canonical events, time order
    outliers: set[tuple[str, str]] = field(default_factory=set)  # (user, timestamp) of the purchases far above
    friendships: int = 0
    purchases: int = 0


def _event(user: str, kind: str, ts: str, **attributes: object) -> str:
    return json.dumps({"user_id": user, "event_type": kind, "timestamp": ts, "attributes": attributes})


def social_day(
    users: Sequence[str],
    day_start_ms: int,
    seed: int,
    *,
    friends: int = 3,
    purchases: int = 4,
    outliers: int = 5,
) -> SocialDay:
    """Friendships and purchases of ``users`` on the day starting at ``day_start_ms`` (reproducible from ``seed``)."""
    rng = np.random.default_rng([seed, 3])
    members = list(users)
    out = SocialDay()
    if len(members) < 3:
        return out
    level = np.exp(rng.normal(np.log(30.0), 0.25, len(members)))
    events: list[tuple[int, str]] = []
    pairs: set[tuple[int, int]] = set()
    for a in range(len(members)):
        for b in rng.choice(len(members), size=min(friends, len(members) - 1), replace=False).tolist():
            if a != b and (b, a) not in pairs:
                pairs.add((a, b))
    for a, b in sorted(pairs):
        ts = day_start_ms + int(rng.integers(0, HOUR_MS))
        events.append((ts, _pair_line(members[a], members[b], "befriend", ts)))
    out.friendships = len(pairs)
    for u, user in enumerate(members):
        for _ in range(int(rng.poisson(purchases))):
            ts = day_start_ms + HOUR_MS + int(rng.integers(0, 22 * HOUR_MS))
            amount = level[u] * float(np.exp(rng.normal(0.0, 0.15)))
            events.append((ts, _purchase(user, amount, ts)))
    for u in rng.choice(len(members), size=min(outliers, len(members)), replace=False).tolist():
        ts = day_start_ms + 23 * HOUR_MS + int(rng.integers(0, HOUR_MS - 1000))
        events.append((ts, _purchase(members[u], level[u] * 20.0, ts)))
        out.outliers.add((members[u], iso_timestamps(np.array([ts]))[0]))
    events.sort()
    out.lines = [line for _, line in events]
    out.purchases = sum(1 for line in out.lines if '"purchase"' in line)
    return out


def _pair_line(a: str, b: str, kind: str, ts: int) -> str:
    return _event(a, kind, iso_timestamps(np.array([ts]))[0], friend_id=b)


def _purchase(user: str, amount: float, ts: int) -> str:
    return _event(user, "purchase", iso_timestamps(np.array([ts]))[0], amount=f"{amount:.2f}")


def merged(day_lines: Sequence[str | bytes], social_lines: Sequence[str]) -> list[str | bytes]:
    """A day's lines with the social ones, in time order (both are; ties keep the day's first)."""
    keyed = [(_ts(line), 0, i, line) for i, line in enumerate(day_lines)]
    keyed += [(_ts(line), 1, i, line) for i, line in enumerate(social_lines)]
    keyed.sort(key=lambda k: k[:3])
    return [line for *_, line in keyed]


def _ts(line: str | bytes) -> str:
    text = line.decode() if isinstance(line, bytes) else line
    start = text.find('"timestamp": "')
    return text[start + 14 : start + 38] if start >= 0 else ""
