"""The demo's campaign: new accounts added to a simulated day, the day's own events untouched."""

from __future__ import annotations

import numpy as np

from clickguard.sim.campaign import LABEL, with_campaign
from clickguard.sim.catalog import STATES, is_abnormal
from clickguard.sim.generator import simulate
from clickguard.sim.population import SimConfig


def test_a_ring_of_new_accounts_joins_the_day_within_its_hour_and_leaves_the_rest_as_it_was():
    (day,) = simulate(SimConfig(users=60, seed=3, days=1))
    ringed = with_campaign(day, 25, seed=3, start_hour=14, minutes=40)
    ring = [u for u, t in ringed.labels.items() if t == LABEL]
    assert len(ring) == 25 and not set(ring) & set(day.labels) and is_abnormal(LABEL)
    assert np.all(np.diff(ringed.ts_ms) >= 0)
    mine = np.isin(ringed.user_ids, ring)
    kept = sorted(zip(ringed.user_ids[~mine], ringed.ts_ms[~mine], ringed.states[~mine], strict=True))
    assert kept == sorted(zip(day.user_ids, day.ts_ms, day.states, strict=True))
    starts = {u: ringed.ts_ms[ringed.user_ids == u].min() for u in ring}
    midnight = int(day.ts_ms.min()) // 86_400_000 * 86_400_000
    assert all(14 * 3_600_000 <= t - midnight < 14 * 3_600_000 + 40 * 60_000 for t in starts.values())
    assert {STATES[s] for s in ringed.states[mine]} <= {
        "login", "settings", "add_payout_method", "add_payout_method#fail", "withdraw_funds#fail"
    }  # fmt: skip
    assert with_campaign(day, 0) is day
