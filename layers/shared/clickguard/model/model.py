"""The in-memory model: vocabulary, arrays, parameters and calibrated thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.transitions import to_microbits
from clickguard.model.vocabulary import index_of


@dataclass(frozen=True)
class ModelParams:
    max_states: int = settings.DEFAULT_MAX_STATES
    min_token_count: int = settings.DEFAULT_MIN_TOKEN_COUNT
    smoothing: float = settings.DEFAULT_SMOOTHING
    session_gap_seconds: int = settings.DEFAULT_SESSION_GAP_SECONDS
    min_events: int = settings.DEFAULT_MIN_EVENTS
    mean_bits_quantile: float = settings.DEFAULT_MEAN_BITS_QUANTILE
    total_bits_quantile: float = settings.DEFAULT_TOTAL_BITS_QUANTILE
    max_user_share: float = settings.DEFAULT_MAX_USER_SHARE  # see clickguard.model.user_cap
    # detector v2's operating point (``model.operating``)
    alert_budget: float = settings.DEFAULT_ALERT_BUDGET
    target_precision: float = settings.DEFAULT_TARGET_PRECISION
    max_flag_share: float = settings.DEFAULT_MAX_FLAG_SHARE

    def validate(self) -> ModelParams:
        """Every parameter within ``settings.MODEL_PARAM_RANGES``, or a ValueError naming each one that is not."""
        problems = []
        for name, (low, high) in settings.MODEL_PARAM_RANGES.items():
            value = getattr(self, name, None)
            if value is not None and not low <= value <= high:
                problems.append(f"{name}={value} (need {low:g} <= {name} <= {high:g})")
        if problems:
            raise ValueError("invalid model parameters: " + ", ".join(problems))
        return self

    @property
    def gap_ms(self) -> int:
        return self.session_gap_seconds * 1000


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs measured on the training window; a session is flagged past either one."""

    mean_bits: float
    total_bits: float
    min_events: int
    mean_bits_quantile: float
    total_bits_quantile: float
    eligible_sessions: int
    flag_rate: float  # share of eligible training sessions past either cut-off
    mean_flag_rate: float
    total_flag_rate: float

    def summary(self) -> dict[str, float]:
        """What a person reading a report or the demo's output needs of them."""
        return {
            "mean_bits": self.mean_bits,
            "total_bits": self.total_bits,
            "min_events": self.min_events,
            "training flag rate": self.flag_rate,
        }


@dataclass(frozen=True)
class Model:
    version: str
    created_at: str
    window_start: str
    window_end: str
    tokens: tuple[str, ...]
    params: ModelParams
    thresholds: Thresholds
    stats: dict[str, Any]
    counts: np.ndarray = field(repr=False)  # int64 [V, V]
    surprisal: np.ndarray = field(repr=False)  # float32 [V, V], bits
    start_distribution: np.ndarray = field(repr=False)  # float32 [V]
    detector: dict[str, Any] | None = field(default=None, repr=False)  # detector v2 (``model.detector``), as JSON
    groups: dict[str, Any] | None = field(default=None, repr=False)  # behaviour groups (``model.groups``), as JSON

    @property
    def n_states(self) -> int:
        return len(self.tokens)

    @cached_property
    def index(self) -> dict[str, int]:
        return index_of(self.tokens)

    @cached_property
    def microbits(self) -> np.ndarray:
        return to_microbits(self.surprisal)
