"""The trainer's model does not depend on the order users first appear in the archive: the same events archived in
another order (another producer's format packs users differently; archive objects of one second list in any order)
give the same detector v2, supervised blend and cut included."""

from __future__ import annotations

import json

from clickguard.model.model import ModelParams
from clickguard.sim import quality
from clickguard.sim.generator import simulate
from clickguard.sim.output import ndjson_lines
from clickguard.sim.population import SimConfig
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train


def detector_stats(lines: list[str], blocked: list[str]) -> dict:
    cols = EventColumns()
    cols.add_lines(lines)
    model, _ = train(
        cols, ModelParams(), window_start="2026-11-19T00:00:00Z", window_end="2026-11-22T00:00:00Z",
        created_at="2026-11-22T00:00:00Z", min_sessions=10, exclude_users=blocked,
    )  # fmt: skip
    return model.stats["detector"]


def test_the_same_events_with_users_in_another_order_train_the_same_detector():
    (day, _) = simulate(SimConfig(users=300, seed=4, start_date="2026-11-20").validate())
    lines = list(ndjson_lines(day))
    blocked = quality.sample_block_list(day.labels, 1.0, 4)
    per_user: dict[str, list[str]] = {}
    for line in lines:
        per_user.setdefault(json.loads(line)["user_id"], []).append(line)
    regrouped = [line for user in reversed(list(per_user)) for line in per_user[user]]  # each user's order kept
    stream, grouped = detector_stats(lines, blocked), detector_stats(regrouped, blocked)
    assert stream["supervised"] and stream["fitted"]  # the cross-fitted blend is what depended on the order
    assert grouped == stream
