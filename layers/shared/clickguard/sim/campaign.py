"""A campaign for the demo: a burst of new accounts behaving alike within an hour (seed 000's "groups of
attackers"), added on top of a simulated day without touching the population's own draws.

The accounts run a card-testing ring: log in, try payout methods that fail, withdraw funds that fail, now and then
check their settings, in short sessions a few seconds apart. No ordinary user behaves so, and the day's other
abusers rotate their own ids, so the whole ring is new to a model trained the day before: its sessions fit none
of the window's behaviour groups and share one signature, which the consumer's campaign alert counts.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from clickguard.sim.catalog import INDEX
from clickguard.sim.generator import SimDay

LABEL = "campaign"  # ground truth: not a benign type, so quality counts the ring as abusers
# The ring's chain: each step's possible next steps (uniform), from the first.
_CHAIN = {
    "login": ("add_payout_method#fail", "add_payout_method#fail", "settings"),
    "settings": ("add_payout_method#fail",),
    "add_payout_method#fail": ("add_payout_method#fail", "withdraw_funds#fail", "add_payout_method"),
    "add_payout_method": ("withdraw_funds#fail",),
    "withdraw_funds#fail": ("add_payout_method#fail", "withdraw_funds#fail", "login"),
}


def with_campaign(day: SimDay, accounts: int, seed: int = 0, start_hour: int = 14, minutes: int = 40) -> SimDay:
    """``day`` with ``accounts`` new ring members, each starting within ``minutes`` of ``start_hour`` and making
    one session of 8 to 16 events 2 to 6 seconds apart."""
    if accounts <= 0:
        return day
    rng = np.random.default_rng([seed, day.day, 12])
    midnight = int(day.ts_ms.min()) // 86_400_000 * 86_400_000 if len(day) else 0
    ids = np.array([f"ring-{seed}-{day.day}-{k:04d}" for k in range(accounts)], dtype=object)
    users, states, ts = [], [], []
    for k in range(accounts):
        t = midnight + start_hour * 3_600_000 + int(rng.integers(0, minutes * 60_000))
        state = "login"
        for _ in range(int(rng.integers(8, 17))):
            users.append(ids[k])
            states.append(INDEX[state])
            ts.append(t)
            t += int(rng.integers(2_000, 6_000))
            state = _CHAIN[state][int(rng.integers(0, len(_CHAIN[state])))]
    n = len(users)
    all_ts = np.concatenate([day.ts_ms, np.array(ts, dtype=np.int64)])
    order = np.argsort(all_ts, kind="stable")
    session_of = {u: f"{int(rng.integers(0, 2**63)):016x}" for u in ids.tolist()}
    extra_ids = np.array([f"{x:016x}" for x in rng.integers(0, 2**63, n).tolist()], dtype=object)
    return replace(
        day,
        user_ids=np.concatenate([day.user_ids, np.array(users, dtype=object)])[order],
        states=np.concatenate([day.states, np.array(states, dtype=day.states.dtype)])[order],
        ts_ms=all_ts[order],
        session_ids=np.concatenate([day.session_ids, np.array([session_of[u] for u in users], dtype=object)])[order],
        event_ids=np.concatenate([day.event_ids, extra_ids])[order],
        labels={**day.labels, **dict.fromkeys(ids.tolist(), LABEL)},
    )
