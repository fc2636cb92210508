"""Scans over rows grouped into segments (a segment = one session's rows, contiguous, in arrival order), each
segment started from a prior value: what turns per-event increments into each event's running state."""

from __future__ import annotations

import numpy as np


def seg_cumsum(values: np.ndarray, seg: np.ndarray, first: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per row, the running sum of ``values`` (integers) within its segment plus the segment's ``prior``.
    ``first`` holds each segment's first row."""
    v = np.asarray(values, dtype=np.int64)
    cs = np.cumsum(v)
    out: np.ndarray = cs - (cs - v)[first][seg] + prior[seg]
    return out


def seg_running_max(values: np.ndarray, seg: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per row, the running maximum of ``values`` (integers >= -1) within its segment, started at ``prior``."""
    v: np.ndarray = np.maximum(np.asarray(values, dtype=np.int64), prior[seg]) + 1  # >= 0: segments offset apart
    if len(v) == 0:
        return v
    offset = int(v.max()) + 1
    base = seg.astype(np.int64) * offset
    out: np.ndarray = np.maximum.accumulate(base + v) - base - 1
    return out
