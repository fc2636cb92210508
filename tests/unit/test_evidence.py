"""Small-sample readings of shares and gap regularity (``model.evidence``), against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.model.evidence import PRIOR_GAPS, Z, cv_with_prior, wilson_lower


def pooled_cv(gaps: np.ndarray) -> float:
    """The gaps' CV with the Poisson pseudo-gap pooled in, computed from the gaps themselves."""
    n = len(gaps)
    return math.sqrt((n * (gaps.std() / gaps.mean()) ** 2 + PRIOR_GAPS) / (n + PRIOR_GAPS))


def wilson_root(hits: int, n: int) -> float:
    """The Wilson bound as the smaller root of (p_hat - p)^2 = z^2 p (1 - p) / n, solved as a polynomial."""
    p_hat = hits / n
    a = 1 + Z * Z / n
    b = -(2 * p_hat + Z * Z / n)
    roots = np.roots([a, b, p_hat * p_hat]).real
    return float(max(roots.min(), 0.0))


@pytest.mark.parametrize(("hits", "n"), [(0, 1), (1, 1), (1, 2), (2, 4), (12, 24), (50, 100), (99, 100), (3, 7)])
def test_wilson_lower_is_the_smaller_root_of_the_wilson_quadratic(hits, n):
    assert float(wilson_lower(np.array(hits), np.array(n))) == pytest.approx(wilson_root(hits, n), abs=1e-12)


def test_a_share_counts_for_more_the_more_evidence_stands_behind_it():
    half = wilson_lower(np.array([1, 2, 12, 50, 5000]), np.array([2, 4, 24, 100, 10000]))
    assert np.all(np.diff(half) > 0) and half[-1] < 0.5 and half[-1] > 0.49
    assert wilson_lower(np.array(0), np.array(0)) == 0.0
    assert np.all(np.diff(wilson_lower(np.arange(11), np.full(11, 10))) > 0)  # more hits, higher at equal evidence


def test_two_equal_gaps_are_not_a_metronome_but_fifty_are():
    cv = cv_with_prior(np.array([2, 50, 1]), np.array([20, 500, 10]), np.array([200, 5000, 100]))
    assert cv[0] == pytest.approx(math.sqrt(1 / 3)) and cv[1] == pytest.approx(math.sqrt(1 / 51))
    assert math.isnan(cv[2])  # one gap holds no regularity


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=60))
def test_cv_with_prior_equals_the_pooled_cv_of_the_gaps(gaps):
    g = np.array(gaps, dtype=np.int64)
    got = cv_with_prior(np.array([len(g)]), np.array([g.sum()]), np.array([(g * g).sum()]))[0]
    assert got == pytest.approx(pooled_cv(g.astype(np.float64)), rel=1e-9, abs=1e-9)


def test_cv_with_prior_keeps_the_order_at_equal_evidence_and_a_poisson_cv_as_it_is():
    n = np.full(3, 10)
    mean = 100.0
    total = n * mean
    sq = n * mean * mean * (1 + np.array([0.1, 0.5, 2.0]) ** 2)  # raw CVs 0.1, 0.5, 2
    assert np.all(np.diff(cv_with_prior(n, total, sq)) > 0)
    poisson = cv_with_prior(np.array([5, 500]), np.array([500.0, 50_000.0]), np.array([5 * 2e4, 500 * 2e4]))
    assert poisson == pytest.approx([1.0, 1.0])  # CV 1 is the prior's own: evidence leaves it where it is


def test_no_hit_reads_exactly_zero_whatever_the_evidence():
    assert np.all(wilson_lower(np.zeros(200), np.arange(1, 201)) == 0.0)  # ties stay ties in a tail table
