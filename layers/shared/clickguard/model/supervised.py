"""The supervised part of detector v2 (issue 10): a logistic regression on per-user features, blended with the
unsupervised score when the labels earn it. numpy only (the Lambda layer has no scikit-learn), deterministic.

Labels are PU-style: positives are the users reviewers blocked, everyone else is taken as a negative ("unlabelled =
normal", as seed 004 did). Abusers nobody blocked yet sit among the negatives, so the classifier learns "looks like
what reviewers already caught" and is biased against new kinds of abuse; the unsupervised score stays the backbone
and the supervised part is only blended in when it validates better on held-back labels (``fit_blend``).

* ``fit_logistic``: features standardised by their mean and standard deviation over the fitting rows (NaNs left
  out; a constant feature keeps scale 1; NaN -> 0 after standardising, i.e. the mean: no evidence), then L2
  regularised logistic regression (bias not penalised) with balanced class weights (each class weighs half of the
  loss), by Newton's method with step halving, at most ``iterations`` steps. No randomness.
* ``blend``: both scores are put on a common scale by a robust z-score against the population the blend was fitted
  on (median; scale = interquartile range / 1.349, falling back to the standard deviation, then to 1), and combined
  convexly: ``(1 - weight) * z(unsupervised) + weight * z(logit)``. Weight 0 = the unsupervised score alone, 1 = the
  supervised part alone.
* ``fit_blend``: split the labelled users (stratified by label, drawn with ``seed``) into a fitting and a held-back
  validation part (``holdout`` of each class, at least one of each kept on either side); fit the logistic on the
  first, then on validation compute the average precision of the unsupervised score alone and of the blend at each
  weight of the fixed ``WEIGHTS`` grid. The best weight (ties: the smallest) is kept only when it validates strictly
  better than the unsupervised score alone; otherwise the supervised part is refused (weight 0). Finally the
  logistic and the scales are refitted on every labelled user. With fewer than 2 users of either class there is
  nothing to validate on: ``ValueError`` (the caller keeps the unsupervised score alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHTS = (0.25, 0.5, 0.75, 1.0)  # the blend weights tried on validation; fixed a priori
HOLDOUT = 0.3
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
    """What ``fit_blend`` decided: the model's stats carry ``as_dict``."""

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


def stratified_split(y: np.ndarray, holdout: float, seed: int) -> np.ndarray:
    """A validation mask: per class, ``round(holdout * n)`` rows drawn with ``seed``, clipped to ``[1, n - 1]``."""
    labels = np.asarray(y, dtype=bool)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(labels), dtype=bool)
    for cls in (True, False):
        idx = np.flatnonzero(labels == cls)
        k = min(max(round(holdout * len(idx)), 1), len(idx) - 1)
        if k > 0:
            val[rng.permutation(idx)[:k]] = True
    return val


def _validate(
    x: np.ndarray, y: np.ndarray, unsupervised: np.ndarray, val: np.ndarray, weights: tuple[float, ...]
) -> tuple[float, float, float]:
    """Fit on ``~val``, then the validation APs: unsupervised alone, and the best weight with its AP."""
    fit = ~val
    model = fit_logistic(x[fit], y[fit])
    scale = blend_scale(unsupervised[fit], predict_logit(model, x[fit]))
    logit = predict_logit(model, x[val])
    ap_u = average_precision(y[val], unsupervised[val])
    best_w, best_ap = 0.0, -math.inf
    for w in weights:
        ap = average_precision(y[val], blend(unsupervised[val], logit, w, scale))
        if ap > best_ap:
            best_w, best_ap = w, ap
    return ap_u, best_w, best_ap


def fit_blend(
    x: np.ndarray,
    y: np.ndarray,
    unsupervised_scores: np.ndarray,
    seed: int,
    holdout: float = HOLDOUT,
    weights: tuple[float, ...] = WEIGHTS,
) -> BlendFit:
    """Validate the supervised part on held-back labels and keep it only if it helps (see the module's docstring)."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=bool)
    u = np.asarray(unsupervised_scores, dtype=np.float64)
    n_pos = int(labels.sum())
    if n_pos < 2 or len(labels) - n_pos < 2:
        raise ValueError("need at least 2 users of each class")
    val = stratified_split(labels, holdout, seed)
    ap_u, weight, ap_b = _validate(x, labels, u, val, weights)
    refused = not ap_b > ap_u
    model = fit_logistic(x, labels)
    scale = blend_scale(u, predict_logit(model, x))
    return BlendFit(
        model,
        scale,
        0.0 if refused else weight,
        refused,
        ap_u,
        ap_b,
        int(val.sum()),
        int(labels[val].sum()),
    )
