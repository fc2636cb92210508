"""The supervised part of detector v2: logistic regression, blend, validation and refusal (numpy only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clickguard.model.supervised import (
    WEIGHTS,
    BlendFit,
    Logistic,
    average_precision,
    blend,
    fit_blend,
    fit_logistic,
    predict_logit,
    stratified_split,
)
from clickguard.sim import quality


def _separable(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.1
    x = rng.normal(size=(n, 3))
    x[:, 0] += np.where(y, 3.0, -3.0)  # separable along the first feature
    return x, y


def test_logistic_separates_a_linearly_separable_set():
    x, y = _separable()
    model = fit_logistic(x, y)
    logit = predict_logit(model, x)
    assert average_precision(y, logit) == pytest.approx(1.0)
    assert model.weights[0] > 0 and np.all(np.isfinite(model.weights))


def test_logistic_is_deterministic_and_nan_is_no_evidence():
    x, y = _separable(1)
    x[::7, 1] = np.nan
    a, b = fit_logistic(x, y), fit_logistic(x.copy(), y.copy())
    assert np.array_equal(a.weights, b.weights) and a.bias == b.bias
    row = x[:1].copy()
    row[0, 2] = np.nan
    mean_row = row.copy()
    mean_row[0, 2] = a.mean[2]
    assert predict_logit(a, row) == pytest.approx(predict_logit(a, mean_row))


def test_logistic_needs_both_classes():
    with pytest.raises(ValueError):
        fit_logistic(np.zeros((4, 2)), np.zeros(4, dtype=bool))


def test_json_round_trip():
    x, y = _separable(2)
    fitted = fit_blend(x, y, np.random.default_rng(0).random(len(y)), seed=3)
    again = BlendFit.from_dict(json.loads(json.dumps(fitted.as_dict())))
    assert again.weight == fitted.weight and again.refused == fitted.refused
    assert np.array_equal(again.logistic.weights, fitted.logistic.weights)
    assert again.scale == fitted.scale
    logistic = Logistic.from_dict(json.loads(json.dumps(fitted.logistic.as_dict())))
    assert np.array_equal(predict_logit(logistic, x), predict_logit(fitted.logistic, x))
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


def test_stratified_split_keeps_both_classes_on_both_sides():
    y = np.array([True] * 3 + [False] * 20)
    val = stratified_split(y, 0.3, seed=1)
    assert val[y].sum() == 1 and (~val[y]).sum() == 2
    assert val[~y].sum() == 6
    assert np.array_equal(val, stratified_split(y, 0.3, seed=1))


def test_fit_blend_is_deterministic_given_a_seed():
    x, y = _separable(4)
    u = np.random.default_rng(5).random(len(y))
    a, b = fit_blend(x, y, u, seed=7), fit_blend(x, y, u, seed=7)
    assert a.as_dict() == b.as_dict()


def test_fit_blend_refuses_features_that_carry_no_signal():
    rng = np.random.default_rng(11)
    n = 600
    y = rng.random(n) < 0.1
    x = rng.normal(size=(n, 6))  # pure noise against the labels
    u = y * 2.0 + rng.normal(size=n)  # the unsupervised score already ranks well
    fitted = fit_blend(x, y, u, seed=0)
    assert fitted.refused and fitted.weight == 0.0
    assert not fitted.ap_blend > fitted.ap_unsupervised
    assert np.array_equal(np.argsort(fitted.score(u, x)), np.argsort(u))  # refused = the unsupervised ranking


def test_fit_blend_accepts_labels_that_carry_signal():
    rng = np.random.default_rng(12)
    n = 600
    y = rng.random(n) < 0.1
    x = rng.normal(size=(n, 6))
    x[:, 2] += 2.5 * y
    u = rng.random(n)  # the unsupervised score knows nothing here
    fitted = fit_blend(x, y, u, seed=0)
    assert not fitted.refused and fitted.weight in WEIGHTS
    assert fitted.ap_blend > fitted.ap_unsupervised
    assert fitted.positives_validation == round(0.3 * y.sum())


def test_fit_blend_needs_two_of_each_class():
    with pytest.raises(ValueError):
        fit_blend(np.zeros((5, 1)), np.array([1, 0, 0, 0, 0], dtype=bool), np.zeros(5), seed=0)
