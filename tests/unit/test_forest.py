"""The supervised part's random forest (``model.forest``): fitted as documented, scored row by row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clickguard.model import forest as fm
from clickguard.model.forest import Forest, fit_forest, log_odds, predict_proba
from clickguard.model.supervised import average_precision


def _data(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two kinds of positives, each anomalous in a different feature: no single linear weight serves both."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    kind = rng.choice(3, n, p=[0.8, 0.1, 0.1])  # 0 negative, 1 high in feature 0, 2 low in feature 1
    x[kind == 1, 0] += 4.0
    x[kind == 2, 1] -= 4.0
    return x, kind > 0


def test_each_tree_respects_depth_leaf_size_and_links():
    x, y = _data()
    forest = fit_forest(x, y)
    assert len(forest.roots) == fm.TREES
    forest.check()
    inner = np.flatnonzero(forest.feature >= 0)
    assert np.array_equal(forest.left[inner], inner + 1)  # preorder: the artifact leaves the left child implied
    for root in forest.roots.tolist():
        depth = {root: 0}
        for node in range(root, len(forest.feature)):
            if node not in depth:
                break
            if forest.feature[node] >= 0:
                for child in (forest.left[node], forest.right[node]):
                    depth[int(child)] = depth[node] + 1
        assert max(depth.values()) <= fm.MAX_DEPTH


def test_it_ranks_two_kinds_of_positives_above_the_negatives():
    x, y = _data()
    test_x, test_y = _data(seed=1)
    p = predict_proba(fit_forest(x, y), test_x)
    assert average_precision(test_y, p) > 0.95
    assert p.min() >= 0.0 and p.max() <= 1.0


def test_a_row_scores_the_same_alone_or_in_any_batch():
    x, y = _data()
    forest = fit_forest(x, y)
    whole = predict_proba(forest, x)
    alone = np.array([predict_proba(forest, x[i : i + 1])[0] for i in range(0, len(x), 37)])
    assert np.array_equal(whole[::37], alone)


def test_the_same_rows_give_the_same_forest_and_json_round_trips_it():
    x, y = _data()
    a, b = fit_forest(x, y), fit_forest(x.copy(), y.copy())
    assert a.as_dict() == b.as_dict()
    again = Forest.from_dict(json.loads(json.dumps(a.as_dict())))
    assert np.array_equal(predict_proba(again, x), predict_proba(a, x))


def test_nan_goes_right_as_in_fitting_and_log_odds_stay_finite():
    x, y = _data()
    x[::5, 0] = np.nan
    forest = fit_forest(x, y)
    lo = log_odds(forest, x)
    assert np.all(np.isfinite(lo))
    assert lo.max() <= np.log((1.0 + 0.5 / fm.TREES) / (0.5 / fm.TREES))


def test_a_corrupt_forest_is_refused():
    x, y = _data()
    data = fit_forest(x, y).as_dict()
    data["right"][0] = len(data["right"]) + 5
    with pytest.raises(ValueError, match="inconsistent"):
        Forest.from_dict(data)
    data = fit_forest(x, y).as_dict()
    data["number"].pop()
    with pytest.raises(ValueError, match="inconsistent"):
        Forest.from_dict(data)
    data = fit_forest(x, y).as_dict()
    data["n_features"] = 1
    with pytest.raises(ValueError, match="features"):
        Forest.from_dict(data)


def test_bad_shapes_are_refused():
    x, y = _data()
    with pytest.raises(ValueError):
        fit_forest(x, y[:-1])
    with pytest.raises(ValueError):
        predict_proba(fit_forest(x, y), x[:, :2])


def test_the_rows_order_does_not_change_the_forest():
    x, y = _data()
    flip = np.random.default_rng(7).permutation(len(y))
    assert fit_forest(x[flip], y[flip]).as_dict() == fit_forest(x, y).as_dict()
