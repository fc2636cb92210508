"""The flag rule, whole: when a session fires, which reasons it gives, and whether the cooldown lets a flag out.

* Fire: at least ``min_events`` transitions, and the running mean bits or the total bits above the model's
  calibrated thresholds (mean bits catches odd transitions, the thesis; total bits a flood of ordinary ones, the
  notebook). Checked after every event, so where a batch starts or ends never changes which flags exist.
* Cooldown: a user's next flag waits until ``cooldown_ms`` of event time have passed since the last one, unless
  the reasons got strictly stronger (``{mean_bits}`` then ``{mean_bits, total_bits}``): at most two flags per
  cooldown, and only the second adds information. Event time, not wall time, so replays decide the same way.

``flag_reasons`` is the scalar form (reports, the exact replay of a flagged user), ``firing_mask`` the vectorised
screen over a whole batch; a test holds them equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clickguard import settings
from clickguard.consumer.state import LastFlag
from clickguard.model.model import Thresholds
from clickguard.model.scoring import BatchResult

MEAN_BITS = "mean_bits"
TOTAL_BITS = "total_bits"


def flag_reasons(mean_bits: float, total_bits: float, transitions: int, thresholds: Thresholds) -> list[str]:
    if transitions < thresholds.min_events:
        return []
    reasons = []
    if mean_bits > thresholds.mean_bits:
        reasons.append(MEAN_BITS)
    if total_bits > thresholds.total_bits:
        reasons.append(TOTAL_BITS)
    return reasons


def firing_mask(result: BatchResult, thresholds: Thresholds) -> np.ndarray:
    """Per event of the batch: does the rule fire right after it?"""
    if result.event_transitions is None or result.event_total_ubits is None:
        return np.zeros(0, dtype=bool)
    trans = result.event_transitions
    total_bits = result.event_total_ubits / settings.MICROBITS_PER_BIT
    mean_bits = total_bits / np.maximum(trans, 1)
    over = (mean_bits > thresholds.mean_bits) | (total_bits > thresholds.total_bits)
    mask: np.ndarray = (trans >= thresholds.min_events) & over
    return mask


def rule_ratio(result: BatchResult, thresholds: Thresholds) -> np.ndarray:
    """Per event, the rule as a number: ``max(mean bits / mean threshold, total bits / total threshold)`` once the
    session has ``min_events`` transitions, else 0. It passes 1 exactly where ``firing_mask`` fires (positive
    thresholds), and ranks users for audits and average precision."""
    if result.event_transitions is None or result.event_total_ubits is None:
        return np.zeros(0)
    trans = result.event_transitions
    total_bits = result.event_total_ubits / settings.MICROBITS_PER_BIT
    ratio: np.ndarray = np.maximum(
        total_bits / np.maximum(trans, 1) / thresholds.mean_bits, total_bits / thresholds.total_bits
    )
    ratio[trans < thresholds.min_events] = 0.0
    return ratio


def allows(last: LastFlag | None, reasons: Sequence[str], ts_ms: int, cooldown_ms: int) -> bool:
    """May a flag with ``reasons`` at event time ``ts_ms`` go out, given the user's last flag (None: never)?"""
    if last is None or ts_ms - last.ts_ms >= cooldown_ms:
        return True
    return set(reasons) > set(last.reasons)
