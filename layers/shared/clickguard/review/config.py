"""The decisions Lambda's configuration from its environment, validated once at cold start."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from clickguard import settings
from clickguard.envconfig import ConfigError, number, required
from clickguard.review.recorder import AllowPolicy

__all__ = ["ConfigError", "DecisionsConfig"]


@dataclass(frozen=True)
class DecisionsConfig:
    bucket: str  # the model bucket: the decision log under labels/, the allow-list, rejected messages
    allowlist_days: int = settings.DEFAULT_ALLOWLIST_DAYS
    allow_margin: float = settings.DEFAULT_ALLOW_MARGIN
    decisions_prefix: str = settings.DECISIONS_PREFIX
    allowlist_key: str = settings.ALLOWLIST_KEY
    rejected_prefix: str = settings.REJECTED_DECISIONS_PREFIX

    @property
    def policy(self) -> AllowPolicy:
        return AllowPolicy(self.allowlist_days, self.allow_margin)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DecisionsConfig:
        margin = number(env, settings.ENV_ALLOW_MARGIN, settings.DEFAULT_ALLOW_MARGIN, float, 0.0)
        if not math.isfinite(margin):
            raise ConfigError(f"environment variable {settings.ENV_ALLOW_MARGIN}={margin} must be a finite number")
        return cls(
            bucket=required(env, settings.ENV_MODEL_BUCKET),
            allowlist_days=number(env, settings.ENV_ALLOWLIST_DAYS, settings.DEFAULT_ALLOWLIST_DAYS, int, 1),
            allow_margin=margin,
        )
