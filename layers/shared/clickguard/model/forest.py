"""A small random forest (seed 004's learner) for detector v2's supervised part, numpy only (the Lambda layer has no
scikit-learn), deterministic, and scored row by row so that any batch split gives the same scores.

Why a forest and not a linear model: labels are PU-style (the block list names some abusers; the users nobody
blocked yet are taken as normal), abusers come in kinds that are anomalous in different signals (a scraper in its
size and pace, a credential stuffer in its failures, a takeover in its transitions), and a linear score has to
trade those kinds off against each other with one weight per signal. Trees split the population by kind, and
bagging makes them tolerant of the mislabelled negatives (measured in ``bench/bench_quality.py``).

* Fit (``fit_forest``): ``TREES`` trees, each on a bootstrap sample of the rows (drawn with a fixed seed from the
  rows sorted by value, so that their order does not matter), grown depth-first to at most ``MAX_DEPTH`` levels; a
  node is split on the best of ``ceil(sqrt(features))`` features drawn at random, by Gini impurity, at a threshold
  among the feature's ``BINS`` quantiles over all the rows (so the search is one ``bincount`` per feature); each
  side keeps at least ``MIN_LEAF`` rows; a pure node is a leaf. A leaf's value is its share of positive rows. No
  class weights: the share of positives is the prior the leaves estimate, and only the ranking matters to the blend.
* Score (``predict_proba``): the mean over trees of the leaf each row falls in (``x <= threshold`` goes left, NaN
  goes right); ``log_odds`` puts it on a log-odds scale, shrunk by half a tree's vote so that 0 and 1 stay finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TREES = 32
MAX_DEPTH = 5
MIN_LEAF = 5
BINS = 64
DECIMALS = 3  # thresholds' and leaf values' precision: the inputs are bits and log-counts, 0.001 is far below noise
SEED = 4  # fixed: the same rows always give the same forest (the distributed trainer refits it and must agree)


@dataclass(frozen=True)
class Forest:
    """Every tree's nodes in one set of arrays, each tree in preorder (a node, its left subtree, its right subtree),
    so an inner node's left child is the next node; ``roots[t]`` is tree ``t``'s first node. A leaf has feature -1
    and links to itself."""

    feature: np.ndarray  # int64 per node
    threshold: np.ndarray  # float64 per node: x <= threshold goes left (0 at leaves)
    left: np.ndarray  # int64 per node
    right: np.ndarray  # int64 per node
    value: np.ndarray  # float64 per node: a leaf's share of positive training rows (0 at inner nodes)
    roots: np.ndarray  # int64 per tree
    n_features: int

    def as_dict(self) -> dict[str, Any]:
        """The artifact's form, three numbers per node: the left child is implied by preorder, and a node holds
        either a threshold (inner) or a value (leaf)."""
        inner = self.feature >= 0
        return {
            "feature": self.feature.tolist(),
            "right": np.where(inner, self.right, 0).tolist(),
            "number": np.where(inner, self.threshold, self.value).tolist(),
            "roots": self.roots.tolist(),
            "n_features": self.n_features,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Forest:
        feature = np.asarray(data["feature"], dtype=np.int64)
        right = np.asarray(data["right"], dtype=np.int64)
        number = np.asarray(data["number"], dtype=np.float64)
        if not len(feature) == len(right) == len(number):
            raise ValueError("the forest's nodes are inconsistent")
        inner, node = feature >= 0, np.arange(len(feature), dtype=np.int64)
        forest = cls(
            feature,
            np.where(inner, number, 0.0),
            np.where(inner, node + 1, node),
            np.where(inner, right, node),
            np.where(inner, 0.0, number),
            np.asarray(data["roots"], dtype=np.int64),
            int(data["n_features"]),
        )
        forest.check()
        return forest

    def check(self) -> None:
        """Raise ValueError unless every node points inside the forest and reads a feature it has."""
        n = len(self.feature)
        same = {len(a) for a in (self.threshold, self.left, self.right, self.value)}
        links = np.concatenate([self.left, self.right, self.roots])
        if same != {n} or (len(links) and (links.min() < 0 or links.max() >= n)):
            raise ValueError("the forest's nodes are inconsistent")
        if n and (self.feature.min() < -1 or self.feature.max() >= self.n_features):
            raise ValueError("the forest reads features it does not have")


@dataclass
class _Grower:
    """One tree's nodes while it grows."""

    feature: list[int]
    threshold: list[float]
    left: list[int]
    right: list[int]
    value: list[float]

    def add(self, value: float) -> int:
        node = len(self.feature)
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.left.append(node)
        self.right.append(node)
        self.value.append(value)
        return node


def _edges(x: np.ndarray) -> list[np.ndarray]:
    """Per feature, the candidate thresholds: the distinct values at ``BINS`` quantiles, rounded to ``DECIMALS``
    (short in the artifact; the rows are binned against the rounded values, so fitting and scoring agree)."""
    grid = np.linspace(0.0, 1.0, BINS + 1)[1:-1]
    out = []
    for j in range(x.shape[1]):
        col = x[:, j][~np.isnan(x[:, j])]
        out.append(np.unique(np.round(np.quantile(col, grid), DECIMALS)) if len(col) else np.zeros(0))
    return out


def _binned(x: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Per row and feature the bin: ``bin <= b`` exactly when ``x <= edges[b]`` (NaN: past every edge)."""
    out = np.empty(x.shape, dtype=np.int64)
    for j, e in enumerate(edges):
        col = x[:, j]
        out[:, j] = np.where(np.isnan(col), len(e), np.searchsorted(e, col, side="left"))
    return out


def _best_split(bins: np.ndarray, y: np.ndarray, features: np.ndarray, n_edges: list[int]) -> tuple[int, int]:
    """The (feature, bin) of the lowest weighted Gini impurity among ``features`` whose sides each keep
    ``MIN_LEAF`` rows; (-1, -1) when none does."""
    n, pos = len(y), float(y.sum())
    best, best_f, best_b = 2.0 * pos * (n - pos) / n - 1e-12, -1, -1
    for f in features.tolist():
        k = n_edges[f]
        if k == 0:
            continue
        count = np.cumsum(np.bincount(bins[:, f], minlength=k + 1))[:k].astype(np.float64)
        hits = np.cumsum(np.bincount(bins[:, f], weights=y, minlength=k + 1))[:k]
        ok = (count >= MIN_LEAF) & (n - count >= MIN_LEAF)
        if not ok.any():
            continue
        c, h = count[ok], hits[ok]
        impurity = 2.0 * h * (c - h) / c + 2.0 * (pos - h) * (n - c - pos + h) / (n - c)
        i = int(np.argmin(impurity))
        if impurity[i] < best:
            best, best_f, best_b = float(impurity[i]), f, int(np.flatnonzero(ok)[i])
    return best_f, best_b


def _grow(bins: np.ndarray, y: np.ndarray, edges: list[np.ndarray], rng: np.random.Generator, g: _Grower) -> None:
    n_edges = [len(e) for e in edges]
    per_node = max(1, math.ceil(math.sqrt(bins.shape[1])))
    stack: list[tuple[np.ndarray, int, int, bool]] = [(np.arange(len(y)), 0, -1, False)]
    while stack:
        rows, depth, parent, is_right = stack.pop()
        node = g.add(round(float(y[rows].mean()), DECIMALS))
        if parent >= 0:
            (g.right if is_right else g.left)[parent] = node
        pos = float(y[rows].sum())
        if depth >= MAX_DEPTH or len(rows) < 2 * MIN_LEAF or pos in (0.0, float(len(rows))):
            continue
        features = rng.choice(bins.shape[1], size=per_node, replace=False)
        f, b = _best_split(bins[rows], y[rows], features, n_edges)
        if f < 0:
            continue
        g.feature[node], g.threshold[node], g.value[node] = f, float(edges[f][b]), 0.0
        go_left = bins[rows, f] <= b
        stack.append((rows[~go_left], depth + 1, node, True))
        stack.append((rows[go_left], depth + 1, node, False))


def fit_forest(x: np.ndarray, y: np.ndarray) -> Forest:
    """A forest of ``TREES`` trees on the rows ``x`` (rows, features) and their labels ``y`` (see the module)."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=bool).astype(np.float64)
    if x.ndim != 2 or len(x) != len(labels) or not len(x):
        raise ValueError("x must be a non-empty (rows, features) matrix with one label per row")
    # Rows in a canonical order (by value): the bootstrap draws positions, so the same rows listed in another
    # order (users appearing in another order in the archive) must still give the same forest.
    order = np.lexsort(np.column_stack([x, labels]).T)
    x, labels = x[order], labels[order]
    edges = _edges(x)
    bins = _binned(x, edges)
    rng = np.random.default_rng(SEED)
    g = _Grower([], [], [], [], [])
    roots = []
    for _ in range(TREES):
        sample = rng.integers(0, len(x), len(x))
        roots.append(len(g.feature))
        _grow(bins[sample], labels[sample], edges, rng, g)
    return Forest(
        np.asarray(g.feature, dtype=np.int64),
        np.asarray(g.threshold, dtype=np.float64),
        np.asarray(g.left, dtype=np.int64),
        np.asarray(g.right, dtype=np.int64),
        np.asarray(g.value, dtype=np.float64),
        np.asarray(roots, dtype=np.int64),
        x.shape[1],
    )


def predict_proba(forest: Forest, x: np.ndarray) -> np.ndarray:
    """Per row, the mean over trees of its leaf's share of positives (rows are scored independently)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != forest.n_features:
        raise ValueError(f"x must be a (rows, {forest.n_features}) matrix")
    rows = np.arange(len(x))
    total = np.zeros(len(x))
    for root in forest.roots.tolist():
        node = np.full(len(x), root, dtype=np.int64)
        inner = forest.feature[node] >= 0
        while inner.any():
            f = forest.feature[node[inner]]
            go_left = x[rows[inner], f] <= forest.threshold[node[inner]]
            node[inner] = np.where(go_left, forest.left[node[inner]], forest.right[node[inner]])
            inner = forest.feature[node] >= 0
        total += forest.value[node]
    out: np.ndarray = total / max(len(forest.roots), 1)
    return out


def log_odds(forest: Forest, x: np.ndarray) -> np.ndarray:
    """``predict_proba`` as log-odds, each side shrunk by half a tree's vote (finite at 0 and 1)."""
    p = predict_proba(forest, x)
    a = 0.5 / max(len(forest.roots), 1)
    out: np.ndarray = np.log((p + a) / (1.0 - p + a))
    return out
