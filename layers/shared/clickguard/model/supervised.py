"""The supervised part of detector v2 (issue 10): a logistic regression on per-user features, blended with the
unsupervised score when the labels earn it. numpy only (the Lambda layer has no scikit-learn), deterministic.

Labels are PU-style: positives are the users reviewers blocked, everyone else is taken as a negative ("unlabelled =
normal", as seed 004 did). Abusers nobody blocked yet sit among the negatives, so the classifier learns "looks like
what reviewers already caught" and is biased against new kinds of abuse; the unsupervised score stays the backbone
and the supervised part is only blended in when it validates better on held-back labels (``choose_weight``).

* ``fit_logistic``: features standardised by their mean and standard deviation over the fitting rows (NaNs left
  out; a constant feature keeps scale 1; NaN -> 0 after standardising, i.e. the mean: no evidence), then L2
  regularised logistic regression (bias not penalised) with balanced class weights (each class weighs half of the
  loss), by Newton's method with step halving, at most ``iterations`` steps. No randomness.
* ``blend``: both scores are put on a common scale by a robust z-score against the population the blend was fitted
  on (median; scale = interquartile range / 1.349, falling back to the standard deviation, then to 1), and combined
  convexly: ``(1 - weight) * z(unsupervised) + weight * z(logit)``. Weight 0 = the unsupervised score alone, 1 = the
  supervised part alone.
* Validation is cross-fitted and measured on what the consumer computes (``detector.fit`` orchestrates it): the
  users are dealt into ``FOLDS`` stratified folds (``stratified_folds``); for each fold a logistic fitted on the
  other folds scores that fold's users after every event; ``choose_weight`` then compares, over every labelled user,
  the average precision of each user's peak unsupervised score with that of their peak blend at each weight of
  the fixed ``WEIGHTS`` grid. The best weight (ties: the smallest) is kept only when it validates strictly better
  than the unsupervised score alone; otherwise the supervised part is refused (weight 0). ``final_blend`` refits the
  logistic and the scales on every labelled user. The same out-of-fold scores place the cut (``operating``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHTS = (0.25, 0.5, 0.75, 1.0)  # the blend weights tried on validation; fixed a priori
FOLDS = 3  # cross-fitting: each labelled user's validation score comes from a model fitted on the other folds
L2 = 1.0
ITERATIONS = 50
_TOL = 1e-10


@dataclass(frozen=True)
class Logistic:
    mean: np.ndarray  # per feature, for standardising
    scale: np.ndarray  # per feature, > 0
    weights: np.ndarray  # per standardised feature
    bias: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Logistic:
        def arr(key: str) -> np.ndarray:
            return np.asarray(data[key], dtype=np.float64)

        return cls(arr("mean"), arr("scale"), arr("weights"), float(data["bias"]))


@dataclass(frozen=True)
class BlendScale:
    """Robust location and scale of each score over the population the blend was fitted on."""

    unsupervised_center: float = 0.0
    unsupervised_scale: float = 1.0
    logit_center: float = 0.0
    logit_scale: float = 1.0


@dataclass(frozen=True)
class BlendFit:
    """What the validation decided (``choose_weight``, ``final_blend``): the model's stats carry ``as_dict``."""

    logistic: Logistic
    scale: BlendScale
    weight: float  # 0 when refused
    refused: bool
    ap_unsupervised: float  # on validation; NaN when there was nothing to validate on
    ap_blend: float  # the best weight's, on validation; NaN when there was nothing to validate on
    n_validation: int
    positives_validation: int

    def score(self, unsupervised: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The blended score of new users (their unsupervised scores and features)."""
        return blend(unsupervised, predict_logit(self.logistic, x), self.weight, self.scale)

    def as_dict(self) -> dict[str, Any]:
        return {
            "logistic": self.logistic.as_dict(),
            "scale": vars(self.scale).copy(),
            "weight": self.weight,
            "refused": self.refused,
            "ap_unsupervised": _json_float(self.ap_unsupervised),
            "ap_blend": _json_float(self.ap_blend),
            "n_validation": self.n_validation,
            "positives_validation": self.positives_validation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlendFit:
        return cls(
            Logistic.from_dict(data["logistic"]),
            BlendScale(**{k: float(v) for k, v in data["scale"].items()}),
            float(data["weight"]),
            bool(data["refused"]),
            _from_json_float(data["ap_unsupervised"]),
            _from_json_float(data["ap_blend"]),
            int(data["n_validation"]),
            int(data["positives_validation"]),
        )


def _json_float(v: float) -> float | None:
    return None if math.isnan(v) else v


def _from_json_float(v: float | None) -> float:
    return math.nan if v is None else float(v)


# --- logistic regression -----------------------------------------------------------------------------------------
def _column_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(x)
    n = np.maximum(ok.sum(axis=0), 1)
    mean = np.where(ok, x, 0.0).sum(axis=0) / n
    var = np.where(ok, (x - mean) ** 2, 0.0).sum(axis=0) / n
    scale = np.sqrt(var)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def _standardised(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (np.asarray(x, dtype=np.float64) - mean) / scale
    return np.where(np.isnan(z), 0.0, z)


def _objective(z: np.ndarray, y: np.ndarray, c: np.ndarray, penalty: np.ndarray, beta: np.ndarray) -> float:
    eta = z @ beta
    return float(np.sum(c * (np.logaddexp(0.0, eta) - y * eta)) + 0.5 * np.sum(penalty * beta * beta))


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    p: np.ndarray = np.exp(-np.logaddexp(0.0, -eta))
    return p


def _newton(z: np.ndarray, y: np.ndarray, c: np.ndarray, penalty: np.ndarray, iterations: int) -> np.ndarray:
    beta = np.zeros(z.shape[1])
    ridge = np.diag(penalty + 1e-9)
    for _ in range(iterations):
        p = _sigmoid(z @ beta)
        grad = z.T @ (c * (p - y)) + penalty * beta
        hess = (z * (c * p * (1.0 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(hess, grad)
        f0, t = _objective(z, y, c, penalty, beta), 1.0
        while t > 1e-8 and _objective(z, y, c, penalty, beta - t * step) > f0:
            t /= 2.0
        beta = beta - t * step
        if float(np.max(np.abs(t * step))) < _TOL:
            break
    return beta


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = ITERATIONS) -> Logistic:
    """L2-regularised logistic regression with balanced class weights (see the module's docstring)."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=bool)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError("x must be a (rows, features) matrix with one label per row")
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == len(labels):
        raise ValueError("need both classes to fit")
    mean, scale = _column_stats(x)
    z = np.column_stack([_standardised(x, mean, scale), np.ones(len(x))])
    c = np.where(labels, len(labels) / (2.0 * n_pos), len(labels) / (2.0 * (len(labels) - n_pos)))
    penalty = np.r_[np.full(x.shape[1], float(l2)), 0.0]
    beta = _newton(z, labels.astype(np.float64), c, penalty, iterations)
    return Logistic(mean, scale, beta[:-1].copy(), float(beta[-1]))


def predict_logit(model: Logistic, x: np.ndarray) -> np.ndarray:
    """The log-odds of being a positive, per row."""
    logit: np.ndarray = _standardised(x, model.mean, model.scale) @ model.weights + model.bias
    return logit


# --- blending ----------------------------------------------------------------------------------------------------
def _robust(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return 0.0, 1.0
    q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75]).tolist()
    scale = (q75 - q25) / 1.349
    if scale <= 1e-12:
        scale = float(np.std(v))
    return float(q50), scale if scale > 1e-12 else 1.0


def blend_scale(unsupervised: np.ndarray, supervised_logit: np.ndarray) -> BlendScale:
    """The common scale: each score's robust location and scale over a population."""
    return BlendScale(*_robust(unsupervised), *_robust(supervised_logit))


def blend(
    unsupervised: np.ndarray, supervised_logit: np.ndarray, weight: float, scale: BlendScale | None = None
) -> np.ndarray:
    """``(1 - weight) * z(unsupervised) + weight * z(logit)``, z against ``scale`` (by default the scores' own)."""
    u = np.asarray(unsupervised, dtype=np.float64)
    s = np.asarray(supervised_logit, dtype=np.float64)
    sc = scale if scale is not None else blend_scale(u, s)
    zu = (u - sc.unsupervised_center) / sc.unsupervised_scale
    zs = (s - sc.logit_center) / sc.logit_scale
    out: np.ndarray = (1.0 - weight) * zu + weight * zs
    return out


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall steps, tied scores one threshold (as ``clickguard.sim.quality``'s and
    scikit-learn's); NaN with no positive."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if not y.any():
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    recall = tp / tp[-1]
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold (0 .. ``folds`` - 1) per row: each class shuffled with ``seed`` and dealt round-robin, so every fold
    holds ``n // folds`` or one more of each class."""
    labels = np.asarray(y, dtype=bool)
    if folds < 2:
        raise ValueError("need at least 2 folds")
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(labels == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    return fold


def peak_per_user(values: np.ndarray, owner: np.ndarray, n_users: int) -> np.ndarray:
    """Per user, the highest of their values; ``-inf`` values (events not yet judged) and users with none are
    put on one common floor below every finite value, so a ranking ties them."""
    v = np.asarray(values, dtype=np.float64)
    best = np.full(n_users, -np.inf)
    np.maximum.at(best, np.asarray(owner, dtype=np.int64), v)
    finite = np.isfinite(best)
    floor = float(best[finite].min()) - 1.0 if finite.any() else 0.0
    out: np.ndarray = np.where(finite, best, floor)
    return out


def blend_z(z_unsupervised: np.ndarray, z_logit: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * z_u + weight * z_l`` where both are finite, ``-inf`` elsewhere (not yet judged)."""
    zu = np.asarray(z_unsupervised, dtype=np.float64)
    zl = np.asarray(z_logit, dtype=np.float64)
    ok = np.isfinite(zu) & np.isfinite(zl)
    out: np.ndarray = np.full(len(zu), -np.inf)
    out[ok] = (1.0 - weight) * zu[ok] + weight * zl[ok]
    return out


@dataclass(frozen=True)
class WeightChoice:
    weight: float  # 0: refused
    ap_unsupervised: float
    ap_blend: float  # the best weight's


def choose_weight(
    unsupervised: np.ndarray,
    z_unsupervised: np.ndarray,
    z_logit: np.ndarray,
    owner: np.ndarray,
    y: np.ndarray,
    weights: tuple[float, ...] = WEIGHTS,
) -> WeightChoice:
    """Per event: the unsupervised score, and both z-scores (``z_logit`` out of fold: from a model that did not
    learn the event's user). The weight whose per-user peak of ``blend_z`` ranks the users ``y`` best (average
    precision; ties: the smallest weight) is kept only when it beats the unsupervised score's peak alone."""
    labels = np.asarray(y, dtype=bool)
    n = len(labels)
    blends = [peak_per_user(blend_z(z_unsupervised, z_logit, w), owner, n) for w in weights]
    return choose_from_peaks(peak_per_user(unsupervised, owner, n), blends, labels, weights)


def choose_from_peaks(
    unsupervised: np.ndarray, blends: list[np.ndarray], y: np.ndarray, weights: tuple[float, ...] = WEIGHTS
) -> WeightChoice:
    """``choose_weight`` on each user's peaks: the unsupervised score's, and the blend's at each weight."""
    labels = np.asarray(y, dtype=bool)
    ap_u = average_precision(labels, unsupervised)
    best_w, best_ap = 0.0, -math.inf
    for w, peaks in zip(weights, blends, strict=True):
        ap = average_precision(labels, peaks)
        if ap > best_ap:
            best_w, best_ap = w, ap
    return WeightChoice(best_w if best_ap > ap_u else 0.0, ap_u, best_ap)


def final_blend(x: np.ndarray, y: np.ndarray, unsupervised: np.ndarray, choice: WeightChoice) -> BlendFit:
    """The logistic refitted on every labelled user, scaled on them, at the chosen weight (refused at weight 0);
    the validation figures are the out-of-fold ones over all ``len(y)`` users."""
    labels = np.asarray(y, dtype=bool)
    model = fit_logistic(x, labels)
    scale = blend_scale(unsupervised, predict_logit(model, x))
    return BlendFit(
        model,
        scale,
        choice.weight,
        choice.weight == 0.0,
        choice.ap_unsupervised,
        choice.ap_blend,
        len(labels),
        int(labels.sum()),
    )
