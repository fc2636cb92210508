"""Thresholds measured on the training window instead of hand-set ones."""

from __future__ import annotations

import numpy as np

from clickguard import settings
from clickguard.model.model import Thresholds


def calibrate(
    transitions: np.ndarray,
    total_ubits: np.ndarray,
    min_events: int,
    mean_quantile: float,
    total_quantile: float,
    peak_mean_ubits: np.ndarray | None = None,
) -> Thresholds:
    """Cut-offs at the given quantiles of mean and total bits over sessions with at least ``min_events``.

    Mean bits catches odd transitions (the thesis); total bits catches a flood of ordinary ones (the notebook).
    The implied flag rate is measured on the same sessions, so an operator sees what the quantiles cost.

    ``peak_mean_ubits`` (per session: the highest running mean over its prefixes of at least ``min_events``
    transitions) calibrates the statistic the consumer actually tests: it checks the running mean after every
    event, so a cut-off taken on whole-session means fires on far more live sessions than the quantile says
    (the offline evaluation measured about 4 times more ordinary users flagged). Total bits only grows, so the
    whole-session total is already its peak.
    """
    eligible = transitions >= min_events
    n = int(eligible.sum())
    if n == 0:
        raise ValueError(f"no session has at least {min_events} events: cannot calibrate")
    total_bits = total_ubits[eligible] / settings.MICROBITS_PER_BIT
    if peak_mean_ubits is None:
        mean_bits = total_bits / transitions[eligible]
    else:
        mean_bits = peak_mean_ubits[eligible] / settings.MICROBITS_PER_BIT
    t_mean = float(np.quantile(mean_bits, mean_quantile))
    t_total = float(np.quantile(total_bits, total_quantile))
    over_mean = mean_bits > t_mean
    over_total = total_bits > t_total
    return Thresholds(
        mean_bits=round(t_mean, 6),
        total_bits=round(t_total, 6),
        min_events=min_events,
        mean_bits_quantile=mean_quantile,
        total_bits_quantile=total_quantile,
        eligible_sessions=n,
        flag_rate=round(float((over_mean | over_total).mean()), 6),
        mean_flag_rate=round(float(over_mean.mean()), 6),
        total_flag_rate=round(float(over_total.mean()), 6),
    )


def peak_running_mean(ub: np.ndarray, starts: np.ndarray, min_events: int) -> np.ndarray:
    """Per session, the highest running mean (micro-bits per transition) after any event from the
    ``min_events``-th on: what the consumer's per-event rule sees. -1 for sessions shorter than that."""
    first = np.flatnonzero(starts)
    seg = np.cumsum(starts) - 1
    cs = np.cumsum(ub, dtype=np.int64)
    before = np.concatenate(([0], cs))[first]  # running total just before each session
    pos = np.arange(len(ub)) - first[seg] + 1
    # Whole micro-bits (floor), as the consumer's state keeps the peak: training and consumer agree exactly.
    running = np.where(pos >= min_events, (cs - before[seg]) // pos, -1)
    return np.maximum.reduceat(running, first) if len(first) else np.empty(0)
