"""The demo's social marketplace (seed 003): reproducible, time-ordered, with the outliers it says it injected."""

from __future__ import annotations

import json

from clickguard.events import parse_record
from clickguard.sim.social import merged, social_day

T0 = 1_763_683_200_000  # a midnight, UTC


def test_a_social_day_is_reproducible_ordered_and_decodes_to_network_events():
    users = [f"u{i}" for i in range(50)]
    day = social_day(users, T0, seed=3, outliers=4)
    assert day == social_day(users, T0, seed=3, outliers=4)
    events = [parse_record(line) for line in day.lines]
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
    kinds = {e.token for e in events}
    assert kinds == {"befriend", "purchase"} and day.friendships > 0 and day.purchases > 0
    assert all(e.friend_id for e in events if e.token == "befriend")
    assert all(e.amount is not None and e.amount > 0 for e in events if e.token == "purchase")
    assert len(day.outliers) == 4
    big = {(e.user_key, json.loads(line)["timestamp"]) for e, line in zip(events, day.lines, strict=True)}
    assert day.outliers <= big


def test_merged_lines_keep_time_order_across_both_sources():
    day = social_day([f"u{i}" for i in range(10)], T0, seed=1, outliers=1)
    clicks = [json.dumps({"user_id": "x", "event_type": "view", "timestamp": "2025-11-21T12:00:00.000Z"})]
    lines = merged(clicks, day.lines)
    stamps = [json.loads(line)["timestamp"] for line in lines]
    assert stamps == sorted(stamps) and len(lines) == len(day.lines) + 1
