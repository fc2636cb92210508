"""ECOD-style tails: direction, calibration, robustness to a planted cluster, the budget's threshold."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.model.tails import (
    TailTables,
    feature_bits,
    fit_robust,
    fit_tails,
    group_bits,
    score,
    tail_probabilities,
    threshold_for_budget,
)


def _normal(n=4000, f=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, f))


def test_a_point_far_in_the_anomalous_tail_scores_higher():
    x = _normal()
    tables = fit_tails(x, [1, -1, 0])
    centre = np.zeros((1, 3))
    for j, far in ((0, 6.0), (1, -6.0), (2, 6.0), (2, -6.0)):
        point = centre.copy()
        point[0, j] = far
        assert score(tables, point)[0] > score(tables, centre)[0] + 5
    wrong_way = np.array([[-6.0, 6.0, 0.0]])  # the benign side of one-sided features is no evidence
    assert feature_bits(tables, wrong_way)[0, :2].tolist() == [0.0, 0.0]


def test_beyond_the_sample_the_probability_is_floored_at_one_over_n_plus_1():
    x = _normal(n=999)
    tables = fit_tails(x, [1, 1, 1])
    p = tail_probabilities(tables, np.full((1, 3), 1e9))
    assert p.tolist() == [[1 / 1000] * 3]
    assert score(dataclasses.replace(tables, offsets=()), np.full((1, 3), 1e9))[0] == pytest.approx(3 * np.log2(1000))
    m = np.array(tables.offsets)
    beyond = np.log2(1 + 2 ** (np.log2(1000) - m)) - np.log2(1 + 2**-m)
    assert score(tables, np.full((1, 3), 1e9))[0] == pytest.approx(beyond.sum())


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, -1, 0]), st.floats(0.01, 0.5), st.integers(0, 10_000))
def test_tails_of_a_uniform_training_set_are_calibrated(direction, p, seed):
    x = np.random.default_rng(seed).uniform(size=(5000, 1))
    probs = tail_probabilities(fit_tails(x, [direction]), x)[:, 0]
    assert np.mean(probs <= p) == pytest.approx(p, abs=0.015)


def test_nan_is_no_evidence_and_is_left_out_of_fitting():
    x = _normal(n=500, f=2)
    x[::3, 1] = np.nan
    tables = fit_tails(x, [1, 1])
    assert tables.n_rows == (500, 500 - len(range(0, 500, 3)))
    assert feature_bits(tables, np.array([[0.0, np.nan]]))[0, 1] == 0.0
    empty = fit_tails(np.full((10, 1), np.nan), [1])
    assert score(empty, np.array([[5.0]])).tolist() == [0.0]


def test_a_group_s_offset_is_its_mean_over_the_rows_where_it_has_a_value():
    """Rows judged on one group alone (the others NaN) leave the other groups' offsets as they were."""
    x = _normal(n=600, f=3, seed=4)
    only_last = np.column_stack([np.full((300, 2), np.nan), _normal(n=300, f=1, seed=5)])
    groups = ((0, 1), (2,))
    alone = fit_tails(x, [1, 1, 1], groups=groups)
    mixed = fit_tails(np.vstack([x, only_last]), [1, 1, 1], groups=groups)
    assert mixed.offsets[0] == pytest.approx(alone.offsets[0])  # the NaN rows are no part of group 0's mean
    assert mixed.n_rows == (600, 600, 900)


def test_robust_fit_keeps_a_planted_cluster_anomalous():
    rng = np.random.default_rng(7)
    normal = rng.normal(size=(1900, 4))
    planted = rng.normal(loc=8.0, scale=0.3, size=(100, 4))  # a 5% cluster of extreme rows
    x = np.vstack([normal, planted])
    plain = score(fit_tails(x, [1, 1, 1, 1]), planted)
    robust = score(fit_robust(x, [1, 1, 1, 1]), planted)
    assert np.median(robust) > np.median(plain) + 4
    assert robust.mean() > plain.mean()


def test_budget_threshold_flags_the_budget_share():
    s = np.random.default_rng(3).normal(size=5000)
    for budget in (0.0, 0.01, 0.02, 0.1, 0.5):
        t = threshold_for_budget(s, budget)
        assert np.sum(s > t) == int(np.floor(budget * len(s)))
    ties = np.array([0.0] * 90 + [1.0] * 10)
    assert np.sum(ties > threshold_for_budget(ties, 0.05)) == 10  # 10 tied at the top for 5 places: all, never none
    lower = np.array([0.0] * 80 + [1.0] * 16 + [2.0] * 4)  # 4 above a tie of 16 for 5 places: 4 is nearer than 20
    assert np.sum(lower > threshold_for_budget(lower, 0.05)) == 4
    window = np.array([0.0] * 256 + [3.0] * 5 + [4.0])  # 262 users, 2%: 5 places; 1 above a tie of 5
    assert np.sum(window > threshold_for_budget(window, 0.02)) == 6  # 6 is nearer 5 than 1 (a tester's window)
    three = np.array([0.0] * 90 + [1.0] * 4 + [2.0] * 6)
    assert np.sum(three > threshold_for_budget(three, 0.05)) == 6  # 6 (1 over) is nearer 5 than 10
    assert threshold_for_budget(np.array([]), 0.02) == float("inf")


def test_tables_round_trip_through_json_and_are_small():
    tables = fit_robust(_normal(f=9), [1, 1, 1, -1, 1, 1, -1, 0, 1])
    assert tables.quantiles.shape == (9, 256) and tables.quantiles.dtype == np.float32
    again = TailTables.from_dict(json.loads(json.dumps(tables.as_dict())))
    probe = _normal(n=50, f=9, seed=1)
    assert np.array_equal(score(again, probe), score(tables, probe))
    with pytest.raises(ValueError):
        fit_tails(probe, [1, 2, 1, 1, 1, 1, 1, 1, 1])


def test_grouped_score_counts_each_group_once_by_its_largest_bits():
    x = _normal(f=4)
    plain = fit_tails(x, [1, 1, 1, 1])
    grouped = fit_tails(x, [1, 1, 1, 1], groups=[[0, 1], [2], [3]])
    rows = np.array([[3.0, 3.0, 0.0, 2.5], [0.0, 0.0, 0.0, 0.0]])
    bits = feature_bits(plain, rows)
    direct = np.maximum(bits[:, 0], bits[:, 1]) + bits[:, 2] + bits[:, 3]
    assert np.allclose(score(dataclasses.replace(grouped, offsets=()), rows), direct)
    assert np.allclose(score(dataclasses.replace(plain, offsets=()), rows), bits.sum(axis=1))  # ECOD's sum
    again = TailTables.from_dict(json.loads(json.dumps(grouped.as_dict())))
    assert again.groups == ((0, 1), (2,), (3,)) and np.array_equal(score(again, rows), score(grouped, rows))
    assert again.offsets == grouped.offsets and len(grouped.offsets) == 3


def test_each_group_counts_its_evidence_beyond_its_mean_bits_on_the_training_rows():
    x = _normal(f=3)
    tables = fit_tails(x, [1, 1, 1], groups=[[0, 1], [2]])
    g = group_bits(tables, x)
    assert np.allclose(tables.offsets, g.mean(axis=0))
    assert score(tables, np.zeros((1, 3)) - 10.0).tolist() == [0.0]  # no evidence anywhere scores 0
    # Far out in one of five facts beats a little up in all five; the plain sum ranks them the other way round.
    five = fit_tails(_normal(f=5), [1] * 5)
    one_far, all_up = np.array([[2.6, 0.0, 0.0, 0.0, 0.0]]), np.ones((1, 5))
    assert score(five, one_far)[0] > score(five, all_up)[0]
    plain = dataclasses.replace(five, offsets=())
    assert score(plain, one_far)[0] < score(plain, all_up)[0]


def test_groups_must_partition_the_features():
    with pytest.raises(ValueError):
        fit_tails(_normal(f=3), [1, 1, 1], groups=[[0, 1]])
    with pytest.raises(ValueError):
        fit_tails(_normal(f=3), [1, 1, 1], groups=[[0, 1], [1, 2]])


@pytest.mark.parametrize("n_q", [1, 2, 3, 255, 256, 257])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_branchless_count_is_searchsorted_ties_and_infinities_included(n_q, dtype):
    from clickguard.model.tails import _count, _padded

    rng = np.random.default_rng(n_q)
    base = np.array([-np.inf, -1.0, 0.0, 0.0, 0.5, 1.0, 3.0, np.inf])
    q = np.sort(rng.choice(base, n_q)).astype(dtype)
    v = np.concatenate([base, rng.normal(0, 2, 200)]).astype(np.float32).astype(dtype)
    for side in ("left", "right"):
        assert np.array_equal(_count(_padded(q), v, side), np.searchsorted(q, v, side=side))
