"""The supervised part of detector v2 (issue 10): a small random forest on per-user features (seed 004's learner,
``forest``), blended with the unsupervised score when the labels earn it. numpy only (the Lambda layer has no
scikit-learn), deterministic.

Labels are PU-style: positives are the users reviewers blocked, everyone else is taken as a negative ("unlabelled =
normal", as seed 004 did). Abusers nobody blocked yet sit among the negatives, so the classifier learns "looks like
what reviewers already caught" and is biased against new kinds of abuse; the unsupervised score stays the backbone
and the supervised part is only blended in when it validates better on held-back labels (``choose_weight``).

* ``fit_supervised``: the forest on each user's inputs (``detector.supervised_inputs``: the worst session's feature
  bits, log(1 + events) and its "blocked vs good" log-likelihood ratio); ``predict_logit`` its log-odds. It
  replaced an L2-regularised logistic regression that also read the session's token shares: on the same users the
  logistic ranked day 2's abusers worse, most of all when only half of them were labelled (a linear score trades
  the abuse kinds off against each other and is pulled by the unlabelled abusers among the negatives).
* ``blend``: the unsupervised score is put on the log-odds' scale by a robust z-score against the population the
  blend was fitted on (median; scale = interquartile range / 1.349, falling back to the standard deviation, then to
  1), the log-odds are taken as they are (``blend_scale``), and the two are combined convexly:
  ``(1 - weight) * z(unsupervised) + weight * logit``. Weight 0 = the unsupervised score alone, 1 = the
  supervised part alone.
* Validation is cross-fitted and measured on what the consumer computes (``detector.fit`` orchestrates it): the
  users are dealt into ``FOLDS`` stratified folds (``stratified_folds``); for each fold a forest fitted on the
  other folds scores that fold's users after every event; ``choose_weight`` then compares, over every labelled user,
  the average precision of each user's peak unsupervised score with that of their peak blend at each weight of
  the fixed ``WEIGHTS`` grid. Of the weights that validate strictly better than the unsupervised score alone, the
  largest is kept; when none does, the supervised part is refused (weight 0). Not the best-validating one: the
  labels are a block list, so the abusers nobody listed count as negatives, and a part that ranks them high (as it
  should) loses validation AP for it; and the weights' APs differ by noise (0.005 among them on 46 labelled
  users), so the best one is a coin toss. Against the best-validating rule on the same runs (2026-11-30d): 10 of
  the 40 labelled seed cells of ``bench_quality`` (seeds 1-10) up, by up to 0.022, one down (0.012), no mean down;
  the second simulator +0.009 with half the block list. The mean of the better weights (model averaging) was worse
  (-0.006 to -0.010 on every labelled mean). ``final_blend`` refits the forest and the scales on every labelled
  user. The same out-of-fold scores place the cut (``operating``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard.model.forest import Forest, fit_forest, log_odds

WEIGHTS = (0.25, 0.5, 0.75, 1.0)  # the blend weights tried on validation; fixed a priori
FOLDS = 3  # cross-fitting: each labelled user's validation score comes from a model fitted on the other folds


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

    forest: Forest
    scale: BlendScale
    weight: float  # 0 when refused
    refused: bool
    ap_unsupervised: float  # on validation; NaN when there was nothing to validate on
    ap_blend: float  # the kept weight's (the largest tried when refused), on validation; NaN: nothing to validate
    n_validation: int
    positives_validation: int

    def score(self, unsupervised: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The blended score of new users (their unsupervised scores and features)."""
        return blend(unsupervised, predict_logit(self.forest, x), self.weight, self.scale)

    def as_dict(self) -> dict[str, Any]:
        return {
            "forest": self.forest.as_dict(),
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
            Forest.from_dict(data["forest"]),
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


# --- the learner -------------------------------------------------------------------------------------------------
class NothingToLearn(ValueError):
    """The labelled users with a judged session are all of one class: the supervised part is refused."""


def fit_supervised(x: np.ndarray, y: np.ndarray) -> Forest:
    """The supervised model of ``y`` (bool per row) on the per-user inputs ``x`` (``forest.fit_forest``). Rows of
    zeros, the users with no judged session, are left out: the consumer never scores such a user, and learning their
    labels taught the forest that "no evidence" means the base rate of the unjudged, which then scored every short
    session judged on its user's visit rhythm alone."""
    labels = np.asarray(y, dtype=bool)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError("x must be a (rows, features) matrix with one label per row")
    evidence = (x != 0).any(axis=1)
    x, labels = x[evidence], labels[evidence]
    if not labels.any() or labels.all():
        raise NothingToLearn("need both classes, among users with a judged session, to fit")
    return fit_forest(x, labels)


def predict_logit(model: Forest, x: np.ndarray) -> np.ndarray:
    """The log-odds of being a positive, per row (``forest.log_odds``)."""
    return log_odds(model, x)


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
    """The common scale: the unsupervised score's robust location and scale over a population; the supervised
    log-odds as they are (center 0, scale 1). A forest's log-odds are on one bounded scale in every fit, while
    their spread over the users it learnt is not: those users' leaves are nearly pure, so most of them sit on one
    value and a scale measured on them shrinks to nothing and blows up every new user's z (``supervised_logit``,
    the fitted population's log-odds, is taken for the signature the trainers share and not read)."""
    del supervised_logit
    return BlendScale(*_robust(unsupervised))


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
    ap_blend: float  # the kept weight's (the largest tried when refused)


def choose_weight(
    unsupervised: np.ndarray,
    z_unsupervised: np.ndarray,
    z_logit: np.ndarray,
    owner: np.ndarray,
    y: np.ndarray,
    weights: tuple[float, ...] = WEIGHTS,
) -> WeightChoice:
    """Per event: the unsupervised score, and both z-scores (``z_logit`` out of fold: from a model that did not
    learn the event's user). Each weight's per-user peak of ``blend_z`` ranks the users ``y`` (average precision)
    against the unsupervised score's peak alone: the largest weight that beats it is kept (see the module)."""
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
    aps = [average_precision(labels, peaks) for peaks in blends]
    better = [(w, ap) for w, ap in zip(weights, aps, strict=True) if ap > ap_u]
    if not better:
        return WeightChoice(0.0, ap_u, aps[-1])
    weight, ap = max(better)
    return WeightChoice(weight, ap_u, ap)


def final_blend(x: np.ndarray, y: np.ndarray, unsupervised: np.ndarray, choice: WeightChoice) -> BlendFit:
    """The forest refitted on every labelled user, scaled on them, at the chosen weight (refused at weight 0);
    the validation figures are the out-of-fold ones over all ``len(y)`` users."""
    labels = np.asarray(y, dtype=bool)
    model = fit_supervised(x, labels)
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
