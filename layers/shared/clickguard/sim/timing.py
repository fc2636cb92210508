"""When things happen: diurnal session starts and heavy-tailed think times, all drawn in bulk."""

from __future__ import annotations

import numpy as np

DAY_S = 86_400
_HOURS = np.arange(24)
# Relative activity per local hour for people: a night trough, a lunchtime bump and an evening peak
# (a marketplace is browsed from the sofa). Bots do not sleep; account takeovers favour the owner's night.
_HUMAN_BY_HOUR = 0.08 + np.exp(-0.5 * ((_HOURS - 13) / 2.0) ** 2) * 0.7 + np.exp(-0.5 * ((_HOURS - 21) / 2.2) ** 2)
_BOT_BY_HOUR = np.ones(24)
_NIGHT_BY_HOUR = 0.3 + np.exp(-0.5 * ((_HOURS - 3) / 2.5) ** 2)

PROFILES = {"human": _HUMAN_BY_HOUR, "bot": _BOT_BY_HOUR, "night": _NIGHT_BY_HOUR}


def session_starts(rng: np.random.Generator, profile: np.ndarray, n: int) -> np.ndarray:
    """Seconds since midnight for ``n`` session starts following an hourly activity profile."""
    p = profile / profile.sum()
    hours = rng.choice(24, size=n, p=p)
    return hours * 3600 + rng.random(n) * 3600


def think_times(rng: np.random.Generator, median_s: np.ndarray, sigma: np.ndarray, tail_p: np.ndarray) -> np.ndarray:
    """Seconds between consecutive events: lognormal around a per-actor median, plus a Pareto tail.

    The tail (a phone put down, a coffee) is what makes real sessions ragged: a few pauses pass the 30-minute
    gap and split a visit in two, as the notebook's "partial sessions are noisy" warns.
    """
    n = len(median_s)
    gaps = median_s * np.exp(sigma * rng.standard_normal(n))
    long = rng.random(n) < tail_p
    gaps[long] += 60.0 * (rng.pareto(1.3, int(long.sum())) + 1.0)
    floored: np.ndarray = np.maximum(gaps, 0.05)
    return floored
