"""Detector v2's operating point (issue 10): where the cut goes, from what a fraud team can read and trust.

* No labels: an alert budget. The cut flags ``budget`` of the window's users (``tails.threshold_for_budget``; a tie
  across its last place all or none, whichever is nearer): the queue a small review team can read (2% = 20 flags a
  day per 1,000 active users).
* Labels (reviewers' blocks in the window): a target precision. The cut is the lowest at which the users it flags
  are abusers with a precision whose lower confidence bound (Wilson score interval, one-sided, ``Z``) is at least
  ``target``, measured on scores the supervised part did not learn from (out-of-fold, see ``detector.fit``), and
  flagging at most ``max_share`` of the users (the team's capacity). A fraud team asks "how many of my flags are
  right"; the bound keeps a handful of labels from promising a precision they cannot show (8 flags, all right,
  bound 0.82; 4 of 4, 0.70). Unblocked users count as not abusers, so with a partial block list the measured
  precision is a floor and the cut errs on the strict side. When no cut meets the target, the budget rule applies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clickguard.model.evidence import Z, wilson_lower
from clickguard.model.model import ModelParams

TARGET_PRECISION = 0.8
MAX_SHARE = 0.25  # with labels: the most users a cut may flag


def precision_cut(
    scores: np.ndarray,
    labels: np.ndarray,
    target: float = TARGET_PRECISION,
    max_share: float = MAX_SHARE,
    z: float = Z,
) -> float | None:
    """The lowest cut ``t`` (rule ``score > t``) whose flagged users have ``wilson_lower(abusers, flagged) >=
    target`` and number at most ``floor(max_share * n)``; tied scores are flagged together. None when no cut
    qualifies (nothing labelled, or the labels cannot show that precision)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if len(s) != len(y):
        raise ValueError("need one label per score")
    if not 0.0 < target <= 1.0 or not 0.0 <= max_share <= 1.0:
        raise ValueError("target must be in (0, 1] and max_share in [0, 1]")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1] if len(s) else np.zeros(0, dtype=np.int64)
    flagged = last + 1
    hits = np.cumsum(y)[last] if len(s) else np.zeros(0)
    ok = (wilson_lower(hits, flagged, z) >= target) & (flagged <= math.floor(max_share * len(s) + 1e-9))
    if not ok.any():
        return None
    k = int(flagged[np.flatnonzero(ok)[-1]])
    return float(s[k]) if k < len(s) else float("-inf")


def summary(scores: np.ndarray, labels: np.ndarray, cut: float, by_budget: bool, params: ModelParams) -> dict[str, Any]:
    """``stats.detector.operating``: which rule set ``cut``, the settings it used and what the cut realises on the
    users' validated ``scores`` (precision and recall only where ``labels`` hold a positive)."""
    y = np.asarray(labels, dtype=bool)
    precision, recall, flagged = realised(scores, y, cut)
    return {
        "rule": "budget" if by_budget else "precision",
        "budget": params.alert_budget,
        "target_precision": params.target_precision,
        "max_share": params.max_flag_share,
        "labelled_users": int(y.sum()),
        "validated_flags": flagged,
        "validated_precision": precision if y.any() else None,
        "validated_recall": recall if y.any() else None,
    }


def realised(scores: np.ndarray, labels: np.ndarray, cut: float) -> tuple[float, float, int]:
    """Precision, recall and flags of the rule ``score > cut`` against ``labels`` (precision 1 with no flag,
    recall NaN with no positive)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    flag = s > cut
    tp = int((flag & y).sum())
    n = int(flag.sum())
    positives = int(y.sum())
    return (tp / n if n else 1.0), (tp / positives if positives else math.nan), n
