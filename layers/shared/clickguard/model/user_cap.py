"""One user cannot dominate a training window: a cap on each user's transitions and calibration sessions.

A window in which one user made most of the events (a scraper's million requests, a load test, a replayed log)
would otherwise publish a model of that user alone: their transitions become "normal", and their sessions set the
calibrated cut-offs that are meant to judge them.

The rule, for per-user amounts ``n_u`` (transitions in the counts, or eligible sessions in the calibration) and the
model parameter ``max_user_share`` = f:

* share cap: the largest integer ``c`` with ``c <= f * sum_v min(n_v, c)``. Once every user is held to ``c``, none
  holds more than f of the total. (``f * sum_v min(n_v, c) - c`` is concave in ``c`` and 0 at 0, so the
  admissible ``c`` form one interval from 0 and a bisection finds its end.)
* floor: a cap corrects the few who stand out; it does not reshape the population. It never goes below
  ``OUTLIER_FACTOR`` times the amount of the user at the top ``CAPPABLE_USERS`` fraction (the 90th-percentile user),
  so it only ever trims users who hold more than twice what that user holds. In a window of fewer than 1/f users
  no cap can hold everybody to f, and near that size the share cap alone would cut ordinary users down to the
  smallest one (or trim the one user who happens to have three sessions where the others have two); the floor
  leaves such windows whole and still cuts a flood, or a botnet of up to a tenth of the users, down to about twice
  an ordinary busy user.

The cap is the larger of the two. A user above it keeps their first ``cap`` (in time order: a prefix of their
activity, so their kept sessions are exactly the sessions the consumer would have seen so far). A window where
nobody exceeds the cap is left as it is, so it trains byte for byte as without a cap: in a window of thousands of
ordinary users nobody comes near 1% of the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Who may be capped at all: the top tenth of the users (a botnet, not only one bot), and only those holding more
# than twice what the user just below that tenth holds.
CAPPABLE_USERS = 0.1
OUTLIER_FACTOR = 2


@dataclass(frozen=True)
class CapReport:
    """What a cap did, for the model's stats."""

    cap: int | None  # None: nobody exceeded it, nothing was dropped
    users_capped: int
    dropped: int

    def as_dict(self) -> dict[str, int | None]:
        return {"cap": self.cap, "users_capped": self.users_capped, "dropped": self.dropped}


def user_cap(amounts: np.ndarray, max_share: float) -> int | None:
    """The cap for per-user ``amounts`` (a non-negative integer per user), or None when nobody exceeds it."""
    positive = np.sort(amounts[amounts > 0])[::-1]
    if len(positive) < 2:
        return None  # one user (or none): there is nobody to weigh them against
    top = int(positive[0])
    may_cap = max(1, int(CAPPABLE_USERS * len(positive)))
    floor = OUTLIER_FACTOR * int(positive[min(may_cap, len(positive) - 1)])
    cap = max(_share_cap(positive, max_share, top), floor)
    return None if cap >= top else cap


def _share_cap(amounts: np.ndarray, max_share: float, top: int) -> int:
    """The largest ``c`` in ``[0, top]`` with ``c <= max_share * sum(min(amounts, c))``."""

    def admissible(c: int) -> bool:
        return c <= max_share * float(np.minimum(amounts, c).sum())

    if admissible(top):
        return top
    lo, hi = 0, top  # admissible(lo), not admissible(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if admissible(mid):
            lo = mid
        else:
            hi = mid
    return lo


def rank_within_runs(codes: np.ndarray) -> np.ndarray:
    """For codes sorted so that equal codes are adjacent, each item's 0-based position within its run."""
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    index = np.arange(n, dtype=np.int64)
    run_start = np.ones(n, dtype=bool)
    run_start[1:] = codes[1:] != codes[:-1]
    return index - np.maximum.accumulate(np.where(run_start, index, 0))


def cap_runs(codes: np.ndarray, max_share: float) -> tuple[np.ndarray | None, CapReport]:
    """For items grouped by user (``codes`` sorted, one item per transition or session, in time order within a
    user): the mask of items to keep (None = all) and what the cap dropped."""
    amounts = np.unique_counts(codes).counts if len(codes) else np.zeros(0, dtype=np.int64)
    cap = user_cap(amounts, max_share)
    if cap is None:
        return None, CapReport(None, 0, 0)
    over = amounts > cap
    report = CapReport(cap, int(over.sum()), int((amounts[over] - cap).sum()))
    return rank_within_runs(codes) < cap, report
