"""How much evidence a simulated day holds: an estimate of the best AP any behavioural detector could reach on it.

The random mix can draw account takeovers that mostly browse (``takeover_browse``), hide most of their visits
among ordinary ones (``abuse_intensity``) and split the rest into short visits. Some of them then do nothing on the
scored day that an ordinary user would not do. No detector can rank those above ordinary users, so the bars can be out
of reach on such a day whatever the method. This module says how far out.

The estimate is an oracle's. It knows the ground truth, ranks first every abuser that left evidence, and ranks the
rest at random among the ordinary users. AP is the mean over ``DRAWS`` random orders, drawn with a fixed seed.
"Left evidence" is generous:
* an abuser of any kind other than a takeover always counts: bots and stuffers differ in pace, volume and failures;
* a takeover counts when it did at least one action (an event type with its outcome) that at most ``RARE_SHARE``
  of that day's ordinary users did. Examples are a failed login, a password reset, a payout method or a withdrawal.

The estimate is not a proof. A takeover with no rare action can still differ in its mix of common ones, such as
more logins, and a detector could rank it a little above chance. An AP above the estimate on a day is possible,
but it does not come from evidence this module can see.
"""

from __future__ import annotations

import numpy as np

from clickguard.sim.catalog import UserType, is_abnormal
from clickguard.sim.generator import SimDay
from clickguard.sim.quality import average_precision

RARE_SHARE = 0.02
DRAWS = 20


def evident_abusers(day: SimDay, rare_share: float = RARE_SHARE) -> dict[str, bool]:
    """Per abuser of ``day``: whether it left evidence (see the module)."""
    kinds = np.array([day.labels[u] for u in day.user_ids.tolist()], dtype=object)
    ordinary = ~np.fromiter(map(is_abnormal, kinds), dtype=bool, count=len(kinds))
    n_ordinary = sum(not is_abnormal(k) for k in day.labels.values())
    # Distinct ordinary users per state: unique (user, state) pairs among ordinary events, counted by state.
    pairs = {(u, s) for u, s in zip(day.user_ids[ordinary].tolist(), day.states[ordinary].tolist(), strict=True)}
    users_per_state: dict[int, int] = {}
    for _, s in pairs:
        users_per_state[s] = users_per_state.get(s, 0) + 1
    rare = [s for s in np.unique(day.states).tolist() if users_per_state.get(s, 0) <= rare_share * n_ordinary]
    with_rare = set(day.user_ids[np.isin(day.states, rare)].tolist())
    return {u: k != UserType.ACCOUNT_TAKEOVER or u in with_rare for u, k in day.labels.items() if is_abnormal(k)}


def evidence_bound(day: SimDay, draws: int = DRAWS, seed: int = 0) -> float:
    """The oracle's expected AP on ``day``'s users (see the module)."""
    users = sorted(day.labels)
    evident = evident_abusers(day)
    abuser = np.array([u in evident for u in users], dtype=bool)
    first = np.array([evident.get(u, False) for u in users], dtype=bool)
    rng = np.random.default_rng(seed)
    aps = [
        average_precision(abuser.tolist(), np.where(first, 2.0, rng.random(len(users))).tolist()) for _ in range(draws)
    ]
    return float(np.mean(aps))
