"""Per-feature empirical tails combined into one anomaly score (in the manner of ECOD / HBOS), issue 10.

Training stores, per feature, ``n_quantiles`` evenly spaced quantiles of the training window's values (the
feature's distribution, small: ``n_features x n_quantiles`` float32). A value's tail probability is read off that
table by counting grid points:

* direction ``+1`` (high is anomalous): ``P(X >= x)`` ~ share of quantiles ``>= x``;
* direction ``-1`` (low is anomalous): ``P(X <= x)`` ~ share of quantiles ``<= x``;
* direction ``0`` (both): the smaller of the two, doubled (a two-sided p-value, so that it stays calibrated), at
  most 1.

Counting (rather than interpolating) keeps ties honest for count features (events, peak per minute): every
training row equal to the most extreme value shares its tail. A value beyond every stored quantile has count 0;
the probability is floored at ``1 / (n + 1)`` (``n`` = the feature's training rows), what the empirical tail of one
more point beyond the sample would be, so one feature adds at most ``log2(n + 1)`` bits and no feature can make
the score infinite. A NaN value (a feature undefined for that session) is no evidence: probability 1, zero bits;
NaNs are left out of fitting.

The score adds up evidence across *groups* of features, taking the largest bits within a group: a group's bits
are ``b_g = max over the group's features of -log2(tail probability)``, no hand weights. Features that measure one
thing (a long session is long in events, duration and total surprisal at once) form one group, so that one fact is
counted once and not three times; with every feature its own group (the default) it is ECOD's sum over features.
Each group counts only the evidence beyond what a typical session shows in it: ``sum over groups of log2(1 +
2 ** (b_g - m_g))``, ``m_g`` the mean of ``b_g`` over the training rows where the group has a value (``offsets``),
a smooth ``max(0, b_g - m_g)`` (less its value at ``b_g = 0``, so that a row with no evidence scores 0). A plain sum
lets every ordinary session collect a bit or two in each of five groups, and that noise outranks an abuser who is far
out in one group only (a takeover's transitions); the offset takes it out, and the groups' different sizes (the maximum
over three features is larger by chance than one) with it. Tables built without offsets (``offsets=()``) score the plain
sum.

``fit_robust`` guards against the abusers nobody labelled: fit, score the training rows, drop the most anomalous
``trim`` share, refit on the rest, ``rounds`` times (each round trims the rows the previous one kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TailTables:
    quantiles: np.ndarray  # (n_features, n_quantiles) float32, each row sorted
    directions: tuple[int, ...]  # +1 high anomalous, -1 low, 0 both
    n_rows: tuple[int, ...]  # training rows per feature (NaNs left out): the floor is 1 / (n + 1)
    groups: tuple[tuple[int, ...], ...] = ()  # features scored as one fact (max within, sum across); () = singletons
    offsets: tuple[float, ...] = ()  # per group, its mean bits over the training rows; () = the plain sum

    @property
    def n_features(self) -> int:
        return len(self.directions)

    @property
    def feature_groups(self) -> tuple[tuple[int, ...], ...]:
        return self.groups or tuple((j,) for j in range(self.n_features))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for the model artifact)."""
        return {
            "quantiles": self.quantiles.astype(np.float32).tolist(),
            "directions": list(self.directions),
            "n_rows": list(self.n_rows),
            "groups": [list(g) for g in self.groups],
            "offsets": list(self.offsets),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TailTables:
        q = np.asarray(data["quantiles"], dtype=np.float32)
        dirs = tuple(int(d) for d in data["directions"])
        groups = _check_groups(data.get("groups", ()), len(dirs))
        offsets = tuple(float(v) for v in data.get("offsets", ()))
        if offsets and len(offsets) != len(groups or dirs):
            raise ValueError(f"need one offset per group ({len(groups or dirs)}), got {len(offsets)}")
        return cls(q, dirs, tuple(int(n) for n in data["n_rows"]), groups, offsets)


def _check_directions(directions: Sequence[int], n_features: int) -> tuple[int, ...]:
    dirs = tuple(int(d) for d in directions)
    if len(dirs) != n_features or any(d not in (-1, 0, 1) for d in dirs):
        raise ValueError(f"need one direction in (-1, 0, 1) per feature ({n_features}), got {dirs}")
    return dirs


def _check_groups(groups: Sequence[Sequence[int]], n_features: int) -> tuple[tuple[int, ...], ...]:
    """``()``, or a partition of the features into non-empty groups."""
    out = tuple(tuple(int(j) for j in g) for g in groups)
    if out and (sorted(j for g in out for j in g) != list(range(n_features)) or any(not g for g in out)):
        raise ValueError(f"groups must partition the {n_features} features, got {out}")
    return out


def fit_tails(
    features: np.ndarray, directions: Sequence[int], n_quantiles: int = 256, groups: Sequence[Sequence[int]] = ()
) -> TailTables:
    """Quantile tables of each feature (column) over the training rows; a feature with no value gets zeros and
    ``n_rows`` 0 (it then never scores)."""
    return _fit(np.asarray(features, dtype=np.float64), directions, n_quantiles, groups)[0]


def _fit(
    x: np.ndarray, directions: Sequence[int], n_quantiles: int, groups: Sequence[Sequence[int]]
) -> tuple[TailTables, np.ndarray]:
    """``fit_tails`` and the group bits of its rows under the tables (the offsets read them; so does a robust
    round's trimming, which would otherwise score the same rows again)."""
    if x.ndim != 2:
        raise ValueError("features must be a (rows, features) matrix")
    dirs = _check_directions(directions, x.shape[1])
    parts = _check_groups(groups, x.shape[1])
    grid = np.linspace(0.0, 1.0, n_quantiles)
    table = np.zeros((x.shape[1], n_quantiles), dtype=np.float32)
    n_rows = []
    for j in range(x.shape[1]):
        col = x[:, j][~np.isnan(x[:, j])]
        n_rows.append(len(col))
        if len(col):
            table[j] = np.sort(np.quantile(col, grid).astype(np.float32))
    plain = TailTables(table, dirs, tuple(n_rows), parts)
    bits = group_bits(plain, x)  # offsets take no part in the group bits: these are also the fitted tables'
    return TailTables(table, dirs, tuple(n_rows), parts, _offsets(plain, x, bits)), bits


def _offsets(plain: TailTables, x: np.ndarray, bits: np.ndarray) -> tuple[float, ...]:
    """Per group, its mean bits over the rows where it has a value (a row with every feature of the group NaN says
    nothing about the group's typical level). Summed in sorted order: the same rows in any order (the distributed
    trainer gathers them shard by shard) give the same offsets to the last bit."""
    out = []
    for k, group in enumerate(plain.feature_groups):
        has = ~np.isnan(x[:, list(group)]).all(axis=1)
        out.append(float(np.sort(bits[has, k]).mean()) if has.any() else 0.0)
    return tuple(out)


def tail_probabilities(tables: TailTables, features: np.ndarray) -> np.ndarray:
    """Per row and feature, the tail probability in the feature's anomalous direction (1 where NaN or unfitted)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != tables.n_features:
        raise ValueError(f"features must be a (rows, {tables.n_features}) matrix")
    n_q = tables.quantiles.shape[1]
    out = np.ones(x.shape, dtype=np.float64)
    for j, direction in enumerate(tables.directions):
        n = tables.n_rows[j]
        col = x[:, j]
        ok = ~np.isnan(col)
        if n == 0 or not ok.any():
            continue
        q = _padded(tables.quantiles[j])
        v = col[ok].astype(np.float32).astype(q.dtype)  # compare at the table's precision
        p = _high(q, v, n_q) if direction > 0 else _low(q, v, n_q)
        if direction == 0:
            p = np.minimum(1.0, 2.0 * np.minimum(p, _high(q, v, n_q)))
        out[ok, j] = np.maximum(p, 1.0 / (n + 1))
    return out


def _padded(q: np.ndarray) -> np.ndarray:
    """A feature's quantiles, NaN-padded to a power of two longer than them (``_count``'s table): NaN compares
    false, as a value beyond every one. float32 tables stay float32 (the values compared are float32 too)."""
    width = 1 << len(q).bit_length()
    out = np.full(width, np.nan, dtype=np.float32 if q.dtype == np.float32 else np.float64)
    out[: len(q)] = q
    return out


def _count(q: np.ndarray, v: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted(q, v, side)`` on a ``_padded`` table, as a branchless binary search: a step per halving
    is a vectorised gather and compare, about three times faster than searchsorted's unpredictable branches on
    the hundreds of thousands of values scored per training window, and the same counts."""
    below = np.less if side == "left" else np.less_equal
    pos = np.zeros(len(v), dtype=np.intp)
    step = len(q) // 2
    while step:
        pos += step * below(q[pos + (step - 1)], v)
        step //= 2
    return pos


def _high(q: np.ndarray, v: np.ndarray, n_q: int) -> np.ndarray:
    """Share of quantiles >= v (only the side a direction reads is searched: the consumer scores every event)."""
    out: np.ndarray = (n_q - _count(q, v, "left")) / n_q
    return out


def _low(q: np.ndarray, v: np.ndarray, n_q: int) -> np.ndarray:
    """Share of quantiles <= v."""
    out: np.ndarray = _count(q, v, "right") / n_q
    return out


def feature_bits(tables: TailTables, features: np.ndarray) -> np.ndarray:
    """Per row and feature, ``-log2`` of the tail probability: each feature's share of the score (explains it)."""
    bits: np.ndarray = -np.log2(tail_probabilities(tables, features))
    return bits


def group_bits(tables: TailTables, features: np.ndarray) -> np.ndarray:
    """Per row and group, the largest bits of the group's features."""
    return group_max(tables, feature_bits(tables, features))


def group_max(tables: TailTables, bits: np.ndarray) -> np.ndarray:
    """``group_bits`` from the rows' ``feature_bits``."""
    out = np.zeros((len(bits), len(tables.feature_groups)))
    for k, group in enumerate(tables.feature_groups):
        out[:, k] = bits[:, list(group)].max(axis=1)
    return out


def _beyond(bits: np.ndarray, offset: float) -> np.ndarray:
    """``log2(1 + 2 ** (bits - offset))``, less its value at 0 bits so that no evidence scores 0."""
    out: np.ndarray = np.logaddexp2(0.0, bits - offset) - np.logaddexp2(0.0, -offset)
    return out


def score(tables: TailTables, features: np.ndarray) -> np.ndarray:
    """The anomaly score per row: over the groups, the sum of each group's evidence beyond its offset (see the
    module; the plain sum of the groups' bits without offsets). Higher = more anomalous."""
    return score_groups(tables, group_bits(tables, features))


def score_groups(tables: TailTables, g: np.ndarray) -> np.ndarray:
    """``score`` from the rows' ``group_bits``."""
    total: np.ndarray = np.zeros(len(g))
    for k in range(g.shape[1]):  # group by group: a row's score never depends on the rows scored with it
        total = total + (_beyond(g[:, k], tables.offsets[k]) if tables.offsets else g[:, k])
    return total


def fit_robust(
    features: np.ndarray,
    directions: Sequence[int],
    trim: float = 0.02,
    rounds: int = 2,
    n_quantiles: int = 256,
    groups: Sequence[Sequence[int]] = (),
) -> TailTables:
    """``fit_tails``, then ``rounds`` times: score the rows still kept, keep their least anomalous ``1 - trim`` share
    (ties at the cut stay), refit on those. Trimming compounds: the defaults drop about 4% of the rows."""
    if not 0.0 <= trim < 1.0 or rounds < 0:
        raise ValueError("trim must be in [0, 1) and rounds >= 0")
    x = np.asarray(features, dtype=np.float64)
    tables, g = _fit(x, directions, n_quantiles, groups)
    for _ in range(rounds if trim > 0 and len(x) else 0):
        s = score_groups(tables, g)
        x = x[s <= np.quantile(s, 1.0 - trim, method="higher")]
        tables, g = _fit(x, directions, n_quantiles, groups)
    return tables


def threshold_for_budget(scores: np.ndarray, budget: float) -> float:
    """The cut ``t`` for the rule ``score > t`` whose flags come nearest ``k = floor(budget * n)`` of ``scores``:
    exactly ``k`` when no scores tie at the cut (the ``(k + 1)``-th highest score). Scores tied across the ``k``-th
    place are flagged all or none, whichever count is nearer ``k`` (none when both are as near): a block of users
    alike to the last bit (every signal at its table's end, as a window's few bots are) was left out whole, and a
    budget of 5 flagged 1 user beside 5 tied credential stuffers (a tester's window). A tie at the very top is
    flagged whole however far past ``k``: "none" there is a cut above every score, which no user can pass (a
    window's bots alike to the last bit left every later bot like them unflagged). With ``k = 0``, nothing."""
    if not 0.0 <= budget <= 1.0:
        raise ValueError("budget must be in [0, 1]")
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(s) == 0:
        return float("inf")
    k = int(np.floor(budget * len(s) + 1e-9))
    if k >= len(s):
        return float("-inf")
    at = float(s[k])
    if k == 0:
        return at
    above = int(np.searchsorted(-s, -at, side="left"))  # flagged with the cut at the tie: those strictly above
    upto = int(np.searchsorted(-s, -at, side="right"))  # flagged with the cut just below it: the tie too
    if (upto - k < k - above or above == 0) and upto < len(s):  # a top tie past the budget: all, never nobody
        return float(s[upto])
    return at
