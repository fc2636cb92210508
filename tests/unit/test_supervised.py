"""The supervised part of detector v2: the learner, blend, validation and refusal (numpy only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clickguard.model.forest import Forest
from clickguard.model.supervised import (
    WEIGHTS,
    BlendFit,
    WeightChoice,
    average_precision,
    blend,
    blend_scale,
    blend_z,
    choose_from_peaks,
    choose_weight,
    final_blend,
    fit_supervised,
    peak_per_user,
    predict_logit,
    stratified_folds,
)
from clickguard.sim import quality


def _separable(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.1
    x = rng.normal(size=(n, 3))
    x[:, 0] += np.where(y, 3.0, -3.0)  # separable along the first feature
    return x, y


def test_the_learner_ranks_a_separable_set():
    x, y = _separable()
    logit = predict_logit(fit_supervised(x, y), x)
    assert average_precision(y, logit) > 0.99  # trees' votes may tie a few rows at the top
    assert np.all(np.isfinite(logit))


def test_the_learner_is_deterministic():
    x, y = _separable(1)
    x[::7, 1] = np.nan
    a, b = fit_supervised(x, y), fit_supervised(x.copy(), y.copy())
    assert a.as_dict() == b.as_dict()
    assert np.array_equal(predict_logit(a, x), predict_logit(b, x))


def test_users_with_no_judged_session_rows_of_zeros_teach_the_learner_nothing():
    x, y = _separable(2)
    unjudged = np.zeros((40, x.shape[1]))
    with_them = fit_supervised(np.vstack([x, unjudged]), np.r_[y, np.ones(40, dtype=bool)])
    assert with_them.as_dict() == fit_supervised(x, y).as_dict()
    with pytest.raises(ValueError, match="both classes"):  # only zeros carry the positives: nothing to learn
        fit_supervised(np.vstack([x[~y], unjudged]), np.r_[np.zeros((~y).sum(), bool), np.ones(40, bool)])


def test_the_learner_needs_both_classes():
    with pytest.raises(ValueError):
        fit_supervised(np.zeros((4, 2)), np.zeros(4, dtype=bool))


def test_the_logit_scale_is_the_log_odds_own_and_the_unsupervised_is_robust():
    u = np.arange(101, dtype=np.float64)
    scale = blend_scale(u, np.full(101, -4.0))  # a forest's fitted users: nearly all on one value
    assert (scale.logit_center, scale.logit_scale) == (0.0, 1.0)
    assert scale.unsupervised_center == 50.0 and scale.unsupervised_scale == pytest.approx(50.0 / 1.349)


def test_json_round_trip():
    x, y = _separable(2)
    fitted = final_blend(x, y, np.random.default_rng(0).random(len(y)), WeightChoice(0.5, 0.4, 0.8))
    again = BlendFit.from_dict(json.loads(json.dumps(fitted.as_dict())))
    assert again.weight == fitted.weight and again.refused == fitted.refused
    assert again.forest.as_dict() == fitted.forest.as_dict()
    assert again.scale == fitted.scale
    forest = Forest.from_dict(json.loads(json.dumps(fitted.forest.as_dict())))
    assert np.array_equal(predict_logit(forest, x), predict_logit(fitted.forest, x))
    assert np.array_equal(again.score(np.ones(len(y)), x), fitted.score(np.ones(len(y)), x))


@pytest.mark.parametrize("seed", range(5))
def test_local_average_precision_equals_the_simulators(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.2
    s = rng.integers(0, 12, 300).astype(float)  # many ties
    assert average_precision(y, s) == pytest.approx(quality.average_precision(y, s), abs=1e-12)
    assert np.isnan(average_precision(np.zeros(3, dtype=bool), np.arange(3.0)))


def test_blend_is_convex_on_the_common_scale():
    u, s = np.array([0.0, 1.0, 2.0, 10.0]), np.array([5.0, -1.0, 0.0, 3.0])
    assert np.argsort(blend(u, s, 0.0)).tolist() == np.argsort(u).tolist()
    assert np.argsort(blend(u, s, 1.0)).tolist() == np.argsort(s).tolist()


def test_stratified_folds_deal_each_class_evenly_and_deterministically():
    y = np.array([True] * 7 + [False] * 20)
    fold = stratified_folds(y, 3, seed=1)
    assert sorted(np.bincount(fold[y], minlength=3).tolist()) == [2, 2, 3]
    assert sorted(np.bincount(fold[~y], minlength=3).tolist()) == [6, 7, 7]
    assert np.array_equal(fold, stratified_folds(y, 3, seed=1))


def test_peak_per_user_is_each_users_max_with_the_unjudged_on_one_floor():
    values = np.array([1.0, 5.0, -np.inf, 2.0, -np.inf])
    owner = np.array([0, 0, 1, 2, 2])
    peaks = peak_per_user(values, owner, 4)
    assert peaks[0] == 5.0 and peaks[2] == 2.0
    assert peaks[1] == peaks[3] < 2.0  # no judged event: one floor, below every finite peak


def test_blend_z_is_convex_where_judged_and_minus_infinity_elsewhere():
    zu, zl = np.array([1.0, -np.inf, 3.0]), np.array([3.0, -np.inf, -1.0])
    out = blend_z(zu, zl, 0.25)
    assert out[0] == pytest.approx(1.5) and out[2] == pytest.approx(2.0) and out[1] == -np.inf
    assert blend_z(zu, zl, 1.0)[1] == -np.inf  # never 0 * inf


def _events(rng: np.random.Generator, y: np.ndarray, per_user: int = 4) -> np.ndarray:
    return np.repeat(np.arange(len(y)), per_user)


def test_choose_weight_refuses_a_logit_that_carries_no_signal():
    rng = np.random.default_rng(11)
    y = rng.random(300) < 0.1
    owner = _events(rng, y)
    u = y[owner] * 2.0 + rng.normal(size=len(owner))  # the unsupervised score already ranks well
    zl = rng.normal(size=len(owner))  # noise
    choice = choose_weight(u, u, zl, owner, y)
    assert choice.weight == 0.0 and not choice.ap_blend > choice.ap_unsupervised
    assert choice.ap_unsupervised == pytest.approx(average_precision(y, peak_per_user(u, owner, len(y))))


def test_choose_weight_keeps_the_largest_weight_that_beats_the_unsupervised_score():
    rng = np.random.default_rng(12)
    y = rng.random(300) < 0.1
    owner = _events(rng, y)
    u = rng.normal(size=len(owner))  # knows nothing
    zl = y[owner] * 3.0 + rng.normal(size=len(owner))
    choice = choose_weight(u, u, zl, owner, y)
    direct = {w: average_precision(y, peak_per_user((1 - w) * u + w * zl, owner, len(y))) for w in WEIGHTS}
    assert choice.weight == max(w for w, ap in direct.items() if ap > choice.ap_unsupervised)
    assert choice.ap_blend == pytest.approx(direct[choice.weight])


def test_the_largest_better_weight_is_kept_not_the_best_validating_one():
    y = np.array([True, True, False, False, False, False])
    unsupervised = np.array([0.9, 0.1, 0.8, 0.5, 0.4, 0.3])  # AP 0.75
    by_weight = {
        0.25: np.array([0.9, 0.85, 0.1, 0.2, 0.3, 0.4]),  # AP 1.0: the best
        0.5: np.array([0.9, 0.6, 0.7, 0.1, 0.2, 0.3]),  # AP 0.83: better than alone
        0.75: np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.6]),  # worse than alone
        1.0: np.array([0.2, 0.1, 0.9, 0.8, 0.7, 0.6]),  # worse than alone
    }
    choice = choose_from_peaks(unsupervised, list(by_weight.values()), y, tuple(by_weight))
    assert choice.weight == 0.5
    assert choice.ap_blend == pytest.approx(average_precision(y, by_weight[0.5]))
    assert choice.ap_unsupervised == pytest.approx(average_precision(y, unsupervised))
    assert choice.ap_unsupervised < choice.ap_blend < average_precision(y, by_weight[0.25])
    worse = choose_from_peaks(unsupervised, [by_weight[0.75], by_weight[1.0]], y, (0.75, 1.0))
    assert worse.weight == 0.0  # refused: no weight validates better than the unsupervised score alone


def test_final_blend_refits_on_every_user_and_refuses_at_weight_zero():
    x, y = _separable(4)
    u = np.random.default_rng(5).random(len(y))
    kept = final_blend(x, y, u, WeightChoice(0.5, 0.4, 0.9))
    assert not kept.refused and kept.weight == 0.5 and kept.n_validation == len(y)
    assert kept.positives_validation == int(y.sum())
    assert kept.forest.as_dict() == fit_supervised(x, y).as_dict()
    assert final_blend(x, y, u, WeightChoice(0.0, 0.9, 0.4)).refused
