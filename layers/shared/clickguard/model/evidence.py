"""What a handful of events can show (issue 10): a share or a regularity read from a few observations is weighed
by how much evidence stands behind it, so two gaps that happen to be equal are not a metronome.

* ``wilson_lower``: the lower end of the one-sided Wilson score interval of a share (``Z``: 90%). A share is
  anomalous when high (sub-second gaps, failures), so the bound asks how high it surely is: 1 of 2 gaps under a
  second reads 0.16, 12 of 24 reads 0.37, 50 of 100 reads 0.44.
* ``cv_with_prior``: the coefficient of variation of gaps with ``PRIOR_GAPS`` pseudo-gap of a Poisson process's
  CV (1) pooled into the variance. Low is anomalous (machines are metronomic) and a Poisson process is the null
  that is neither: two equal gaps read 0.58, not 0; fifty gaps of CV 0.05 read 0.15.

Both are monotone in the raw value at fixed evidence, so they rank sessions of equal length as before; they only
stop short sessions from reaching tails that only long ones can earn.
"""

from __future__ import annotations

import numpy as np

Z = 1.2816  # one-sided 90% confidence
PRIOR_GAPS = 1.0


def wilson_lower(hits: np.ndarray, n: np.ndarray, z: float = Z) -> np.ndarray:
    """Lower end of the Wilson score interval for ``hits`` successes of ``n`` (0 where either is 0)."""
    h = np.asarray(hits, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    safe = np.maximum(m, 1.0)
    p = h / safe
    z2 = z * z
    centre = p + z2 / (2 * safe)
    spread = z * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe))
    # No hit is exactly 0 (the formula's rounding would rank equal evidence by noise of order 1e-17).
    out: np.ndarray = np.where((m > 0) & (h > 0), np.maximum(centre - spread, 0.0) / (1 + z2 / safe), 0.0)
    return out


def cv_with_prior(n: np.ndarray, total: np.ndarray, total_sq: np.ndarray) -> np.ndarray:
    """Per row, the CV of ``n`` positive values from their sum and sum of squares, with the Poisson prior pooled in
    (NaN with fewer than 2 values)."""
    m = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / m
        # Rounded: equal gaps must tie exactly, not by the subtraction's rounding (of order 1e-16).
        cv2 = np.round(np.maximum(total_sq / m - mean * mean, 0.0) / (mean * mean), 12)
        out: np.ndarray = np.where(m >= 2, np.sqrt((m * cv2 + PRIOR_GAPS) / (m + PRIOR_GAPS)), np.nan)
    return out
