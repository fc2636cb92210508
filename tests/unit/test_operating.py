"""Detector v2's operating point: the Wilson bound and the lowest cut that shows a target precision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clickguard.model.operating import precision_cut, realised, wilson_lower


def _wilson_direct(h: int, n: int, z: float) -> float:
    p = h / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


@pytest.mark.parametrize(("h", "n"), [(0, 5), (4, 4), (8, 8), (40, 50), (3, 1000)])
def test_wilson_lower_equals_the_formula(h, n):
    assert wilson_lower(np.array([h]), np.array([n]), 1.2816)[0] == pytest.approx(_wilson_direct(h, n, 1.2816))


def test_a_handful_of_correct_flags_does_not_show_a_high_precision():
    assert wilson_lower(np.array([4]), np.array([4]))[0] < 0.8 < wilson_lower(np.array([8]), np.array([8]))[0]


def _direct_cut(scores, labels, target, max_share, z):
    """Try every distinct cut from the lowest up; the first that qualifies."""
    cuts = sorted(set(scores.tolist()) | {-math.inf})
    for t in cuts:
        flag = scores > t
        n, h = int(flag.sum()), int((flag & labels).sum())
        if 0 < n <= math.floor(max_share * len(scores) + 1e-9) and _wilson_direct(h, n, z) >= target:
            return t
    return None


@pytest.mark.parametrize("seed", range(6))
def test_precision_cut_is_the_lowest_cut_that_qualifies(seed):
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.random(n) < 0.12
    s = np.round(y * rng.uniform(0.5, 3.0) + rng.normal(size=n), 1)  # rounded: ties at many cuts
    for target, share in ((0.8, 0.25), (0.6, 0.1), (0.95, 1.0)):
        assert precision_cut(s, y, target, share) == _direct_cut(s, y, target, share, 1.2816)


def test_precision_cut_flags_tied_users_together_and_may_flag_everyone():
    s = np.array([3.0, 3.0, 2.0, 1.0])
    y = np.array([True, True, True, True])
    assert precision_cut(s, y, 0.5, 1.0) == -math.inf
    assert precision_cut(s, y, 0.5, 0.5) == 2.0  # the two tied at 3 together, not one of them


def test_precision_cut_is_none_when_the_labels_cannot_show_the_target():
    s = np.arange(10.0)
    assert precision_cut(s, np.zeros(10, dtype=bool)) is None
    assert precision_cut(s, s >= 8) is None  # 2 of 2 right: too few to show 0.8


def test_realised_counts_the_rule_above_the_cut():
    s = np.array([5.0, 4.0, 3.0, 2.0])
    y = np.array([True, False, True, False])
    assert realised(s, y, 2.5) == (pytest.approx(2 / 3), 1.0, 3)
    assert realised(s, y, 9.0) == (1.0, 0.0, 0)
