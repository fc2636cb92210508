"""The flag rule, whole: when a session fires, which reasons it gives, and whether the cooldown lets a flag out.

* Fire: detector v2's score of the session (``model.live``: the tail bits of every signal, blended with the
  supervised part when the model has one) is above the model's threshold, which the trainer set to meet the alert
  budget on its window. The score exists from the model's ``min_events`` transitions on, and is checked after every
  event, so where a batch starts or ends never changes which flags exist.
* Reasons: the signals whose tail probability is below 1% (at least the strongest one), strongest first
  (``live.reasons``).
* Cooldown: a user's next flag waits until ``cooldown_ms`` of event time have passed since the last one, unless
  the reasons got strictly stronger (a superset: ``{fail_share}`` then ``{fail_share, peak_per_minute}``), so
  only a flag that adds information breaks the silence. Event time, not wall time, so replays decide the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clickguard.consumer.state import LastFlag
from clickguard.model.scoring import BatchResult, ScoringTable


def firing_mask(result: BatchResult, table: ScoringTable) -> np.ndarray:
    """Per event of the batch: does the rule fire right after it?"""
    if result.event_scores is None or table.scorer is None:
        return np.zeros(0 if result.event_scores is None else len(result.event_scores), dtype=bool)
    mask: np.ndarray = result.event_scores > table.scorer.threshold
    return mask


def allows(last: LastFlag | None, reasons: Sequence[str], ts_ms: int, cooldown_ms: int) -> bool:
    """May a flag with ``reasons`` at event time ``ts_ms`` go out, given the user's last flag (None: never)?"""
    if last is None or ts_ms - last.ts_ms >= cooldown_ms:
        return True
    return set(reasons) > set(last.reasons)
