"""Detector v2 compiled for streaming: a score per event from the session's features so far, and the explanation
a flag carries. ``scoring.score_batch`` calls ``score_rows`` on every event of a batch (``scoring.RowScorer``).

The supervised part is a logistic regression on ``[feature bits, token shares, log(1 + events), LLR total, LLR
mean]`` (``SUPERVISED_EXTRA`` after the shares; the LLR is the thesis's "blocked vs good" log-likelihood ratio of
the session's path, ``model.llr``, streamed like the surprisal). Shares are
``count / events`` per vocabulary token, so their part of the logit is ``sum_t a_t * count_t / events - K`` with
``a_t = weight_t / scale_t``: one running sum per session (``token_units``, integers in ``1 / UNITS_PER_WEIGHT``
steps, so any batch split adds up to the same number) instead of a vector of shares per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard.model.supervised import BlendFit, blend
from clickguard.model.tails import TailTables, feature_bits
from clickguard.model.tails import score as tail_score
from clickguard.settings import MICROBITS_PER_BIT

UNITS_PER_WEIGHT = 1_000_000
# The supervised inputs after the token shares, in order (one definition: ``detector.supervised_inputs`` builds them).
SUPERVISED_EXTRA = ("log_events", "llr_total_bits", "llr_mean_bits")
# A feature is a reason for a flag when its tail probability is below 1% (log2(100) bits).
REASON_BITS = float(np.log2(100.0))
SUPERVISED = "supervised"


@dataclass(frozen=True)
class Signal:
    """One line of a flag's explanation: the session's value, the training window's typical value (median) and
    the bits of surprise this signal added to the score."""

    name: str
    value: float | None
    typical: float | None
    bits: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _rounded(self.value),
            "typical": _rounded(self.typical),
            "bits": round(self.bits, 3) + 0.0,
        }


def _rounded(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


class LiveDetector:
    """``scoring.RowScorer`` over a fitted detector's tail tables and (optional) blend."""

    def __init__(
        self,
        names: tuple[str, ...],
        tables: TailTables,
        blend_fit: BlendFit | None,
        n_tokens: int,
        threshold: float = float("inf"),
    ) -> None:
        self.names = names
        self.threshold = threshold  # flag when a score is above it
        self.tables = tables
        self.blend = blend_fit
        self.events_col = names.index("events")
        self._units = np.zeros(n_tokens, dtype=np.int64)
        self._offset = 0.0
        if blend_fit is not None:
            self._compile(blend_fit, n_tokens)

    def _compile(self, fit: BlendFit, n_tokens: int) -> None:
        lg, f = fit.logistic, len(self.names)
        expected = f + n_tokens + len(SUPERVISED_EXTRA)
        if len(lg.weights) != expected:
            raise ValueError(f"the supervised part has {len(lg.weights)} weights, this model needs {expected}")
        tok = slice(f, f + n_tokens)
        self._extra = f + n_tokens  # the first column after the shares
        a = lg.weights[tok] / lg.scale[tok]
        self._units = np.rint(a * UNITS_PER_WEIGHT).astype(np.int64)
        self._offset = float(np.sum(a * lg.mean[tok]))

    @property
    def token_units(self) -> np.ndarray:
        return self._units

    def score_rows(self, features: np.ndarray, token_units: np.ndarray, llr_ubits: np.ndarray) -> np.ndarray:
        unsupervised: np.ndarray = tail_score(self.tables, features)
        if self.blend is None:
            return unsupervised
        logit = self._logit(features, token_units, llr_ubits)
        return blend(unsupervised, logit, self.blend.weight, self.blend.scale)

    def _logit(self, features: np.ndarray, token_units: np.ndarray, llr_ubits: np.ndarray) -> np.ndarray:
        lg, f = self.blend.logistic, len(self.names)  # type: ignore[union-attr]
        bits = feature_bits(self.tables, features)
        events = features[:, self.events_col]
        llr_total = np.asarray(llr_ubits, dtype=np.float64) / MICROBITS_PER_BIT
        extra = (np.log1p(events), llr_total, llr_total / np.maximum(events, 1.0))
        logit = token_units / UNITS_PER_WEIGHT / np.maximum(events, 1.0) - self._offset + lg.bias
        for k, column in enumerate(extra):
            c = self._extra + k
            logit = logit + (column - lg.mean[c]) / lg.scale[c] * lg.weights[c]
        for j in range(f):  # column by column: a row's logit never depends on how many rows are scored with it
            logit = logit + (bits[:, j] - lg.mean[j]) / lg.scale[j] * lg.weights[j]
        out: np.ndarray = logit
        return out

    def explain(self, features: np.ndarray, token_units: int = 0, llr_ubits: int = 0) -> list[Signal]:
        """Each signal of one session (its feature row), the most surprising first; the supervised part's logit
        last when it is blended in."""
        row = np.asarray(features, dtype=np.float64)[None, :]
        bits = feature_bits(self.tables, row)[0]
        mid = self.tables.quantiles.shape[1] // 2
        out = [
            Signal(
                name,
                float(row[0, j]),
                float(self.tables.quantiles[j, mid]) if self.tables.n_rows[j] else None,
                float(bits[j]),
            )
            for j, name in enumerate(self.names)
        ]
        out.sort(key=lambda s: -s.bits)
        if self.blend is not None and self.blend.weight > 0:
            logit = float(self._logit(row, np.array([token_units]), np.array([llr_ubits]))[0])
            out.append(Signal(SUPERVISED, logit, float(self.blend.scale.logit_center), 0.0))
        return out


def reasons(signals: list[Signal]) -> tuple[str, ...]:
    """A flag's reasons: the signals past ``REASON_BITS`` (at least the strongest one), strongest first."""
    ranked = sorted((s for s in signals if s.name != SUPERVISED), key=lambda s: -s.bits)
    strong = tuple(s.name for s in ranked if s.bits >= REASON_BITS)
    return strong or tuple(s.name for s in ranked[:1])
