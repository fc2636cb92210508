"""Detector v2 compiled for streaming: a score per event from the session's features so far, and the explanation
a flag carries. ``scoring.score_batch`` calls ``score_rows`` on every event of a batch (``scoring.RowScorer``).

The supervised part is a small random forest (``model.forest``) on ``[feature bits, log(1 + events), LLR total, LLR
mean]`` (``SUPERVISED_EXTRA`` after the bits; the LLR is the thesis's "blocked vs good" log-likelihood ratio of the
session's path, ``model.llr``, streamed like the surprisal): every input is a number the session state already
holds, so the forest reads no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard.model.supervised import BlendFit, blend, predict_logit
from clickguard.model.tails import TailTables, feature_bits, group_max, score_groups
from clickguard.model.tails import score as tail_score
from clickguard.settings import MICROBITS_PER_BIT

# The supervised inputs after the feature bits, in order (one definition: ``detector.supervised_inputs`` builds them).
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
        threshold: float = float("inf"),
    ) -> None:
        self.names = names
        self.threshold = threshold  # flag when a score is above it
        self.tables = tables
        self.blend = blend_fit
        self.events_col = names.index("events")
        if blend_fit is not None and blend_fit.forest.n_features != len(names) + len(SUPERVISED_EXTRA):
            raise ValueError(
                f"the supervised part reads {blend_fit.forest.n_features} inputs, this model needs "
                f"{len(names) + len(SUPERVISED_EXTRA)}"
            )

    def score_rows(self, features: np.ndarray, llr_ubits: np.ndarray) -> np.ndarray:
        if self.blend is None:
            unsupervised: np.ndarray = tail_score(self.tables, features)
            return unsupervised
        bits = feature_bits(self.tables, features)  # read by both parts: looked up once
        unsupervised = score_groups(self.tables, group_max(self.tables, bits))
        logit = self._logit(features, llr_ubits, bits)
        return blend(unsupervised, logit, self.blend.weight, self.blend.scale)

    def _logit(self, features: np.ndarray, llr_ubits: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """The forest's log-odds per row (``bits``: the rows' ``feature_bits``)."""
        events = np.nan_to_num(features[:, self.events_col])  # NaN: a short session judged on its rhythm alone
        llr_total = np.asarray(llr_ubits, dtype=np.float64) / MICROBITS_PER_BIT
        x = np.column_stack([bits, np.log1p(events), llr_total, llr_total / np.maximum(events, 1.0)])
        return predict_logit(self.blend.forest, x)  # type: ignore[union-attr]

    def explain(self, features: np.ndarray, llr_ubits: int = 0, supervised: bool = True) -> list[Signal]:
        """Each signal of one session (its feature row), the most surprising first; the supervised part's logit
        last when it is blended in and asked for (``supervised``: the forest's pass over its trees is most of the
        cost of one row, and no reason reads it)."""
        row = np.asarray(features, dtype=np.float64)[None, :]
        return self.explain_rows(row, np.array([llr_ubits], dtype=np.int64), supervised)[0]

    def explain_rows(self, features: np.ndarray, llr_ubits: np.ndarray, supervised: bool = True) -> list[list[Signal]]:
        """``explain`` of many sessions' rows at once (the tails looked up in one pass)."""
        bits = feature_bits(self.tables, features)
        mid = self.tables.quantiles.shape[1] // 2
        typical = [float(self.tables.quantiles[j, mid]) if self.tables.n_rows[j] else None for j in
                   range(len(self.names))]  # fmt: skip
        logits = None
        if supervised and self.blend is not None and self.blend.weight > 0:
            logits = self._logit(features, llr_ubits, bits).tolist()
        out = []
        for i, (values, row_bits) in enumerate(zip(features.tolist(), bits.tolist(), strict=True)):
            signals = [Signal(*cells) for cells in zip(self.names, values, typical, row_bits, strict=True)]
            signals.sort(key=lambda s: -s.bits)
            if logits is not None:
                # No typical value: the forest's log-odds over the users it learnt are not what a new user's look like.
                signals.append(Signal(SUPERVISED, logits[i], None, 0.0))
            out.append(signals)
        return out


def reasons(signals: list[Signal]) -> tuple[str, ...]:
    """A flag's reasons: the signals past ``REASON_BITS`` (at least the strongest one), strongest first."""
    ranked = sorted((s for s in signals if s.name != SUPERVISED), key=lambda s: -s.bits)
    strong = tuple(s.name for s in ranked if s.bits >= REASON_BITS)
    return strong or tuple(s.name for s in ranked[:1])
