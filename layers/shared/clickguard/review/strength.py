"""How strong a flag is: the number the allow-list compares to tell "the same behaviour" from "stronger".

Strength says how far a flag's decision score is past the threshold it passed, so 1 is where the rule fires and
1.5 is half as much again, whatever the detector's units:

* schema 2 (detector v2): ``1 + (score - threshold) / max(|threshold|, 1)``. The score is the session's tail bits,
  or, when the model blends in its supervised part, a mix of robust z-scores and log-odds, whose threshold can be 0
  or negative (``score / threshold`` would then give no strength, or one that falls as the score grows). For a
  threshold of 1 or more this is ``score / threshold``; below, one unit of strength is one unit of the score;
* schema 1 (the v1 rule, for flags still on the queue across an upgrade): ``max(mean bits / mean threshold,
  total bits / total threshold)``;
* a message that carries its own ``strength`` is taken as it says.

The consumer must pass ``suppressed`` the same number for the flag it is about to send (``score_strength`` for
v2), or the margin means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def score_strength(score: float, threshold: float) -> float | None:
    """Detector v2: how far ``score`` is past ``threshold`` (see above); None unless both are finite."""
    if not (math.isfinite(threshold) and math.isfinite(score)):
        return None
    return 1.0 + (score - threshold) / max(abs(threshold), 1.0)


def v1_strength(mean_bits: float, total_bits: float, mean_threshold: float, total_threshold: float) -> float | None:
    """The v1 rule as a number (the rule fired above 1); None without positive thresholds."""
    if mean_threshold <= 0 or total_threshold <= 0:
        return None
    return max(mean_bits / mean_threshold, total_bits / total_threshold)


def flag_strength(flag: Mapping[str, Any]) -> float | None:
    """A flag message's strength, or None when it carries nothing to compute one from."""
    own = _number(flag.get("strength"))
    if own is not None:
        return own
    thresholds = flag.get("thresholds")
    if isinstance(thresholds, Mapping):  # schema 1
        mean_bits, total_bits = _number(flag.get("mean_bits")), _number(flag.get("total_bits"))
        mean_thr, total_thr = _number(thresholds.get("mean_bits")), _number(thresholds.get("total_bits"))
        if mean_bits is None or total_bits is None or mean_thr is None or total_thr is None:
            return None
        return v1_strength(mean_bits, total_bits, mean_thr, total_thr)
    score, threshold = _number(flag.get("score")), _number(flag.get("threshold"))
    if score is None or threshold is None:
        return None
    return score_strength(score, threshold)


def flag_reasons(flag: Mapping[str, Any]) -> tuple[str, ...] | None:
    """A flag message's reasons (sorted, unique), or None when it has no list of strings."""
    reasons = flag.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return None
    return tuple(sorted(set(reasons)))


def _number(value: Any) -> float | None:
    """The value as a finite float, or None (booleans are not numbers here)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
