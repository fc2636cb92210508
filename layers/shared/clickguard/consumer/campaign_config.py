"""The campaign alert's settings (``consumer.campaign``), read and validated at cold start with the rest of
``ConsumerConfig``; names, defaults and ranges live in ``clickguard.settings``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clickguard import settings
from clickguard.envconfig import ConfigError, number


@dataclass(frozen=True)
class CampaignConfig:
    min_users: int = settings.DEFAULT_CAMPAIGN_MIN_USERS  # users in one bucket that raise a group flag, at least
    growth: float = settings.DEFAULT_CAMPAIGN_GROWTH  # ... and this many times the signature's training peak
    ttl_seconds: int = 2 * 86400  # a bucket outlives its hour by two days (replays of late batches)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CampaignConfig:
        low, high = settings.CAMPAIGN_RANGES["campaign_min_users"]
        users = number(env, settings.ENV_CAMPAIGN_MIN_USERS, settings.DEFAULT_CAMPAIGN_MIN_USERS, int, int(low))
        g_low, g_high = settings.CAMPAIGN_RANGES["campaign_growth"]
        growth = number(env, settings.ENV_CAMPAIGN_GROWTH, settings.DEFAULT_CAMPAIGN_GROWTH, float, g_low)
        if users > high:
            raise ConfigError(f"environment variable {settings.ENV_CAMPAIGN_MIN_USERS}={users} must be <= {high:g}")
        if growth > g_high:
            raise ConfigError(f"environment variable {settings.ENV_CAMPAIGN_GROWTH}={growth} must be <= {g_high:g}")
        return cls(users, growth)
