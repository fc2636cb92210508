"""Consumer configuration from environment variables, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from clickguard import settings
from clickguard.envconfig import ConfigError, number, required, user_key_source
from clickguard.events import UserKeySource

__all__ = ["ConfigError", "ConsumerConfig"]


@dataclass(frozen=True)
class ConsumerConfig:
    table_name: str
    flag_queue_url: str
    data_bucket: str  # rejected-records sink
    model_bucket: str
    rejected_prefix: str = settings.REJECTED_PREFIX
    model_refresh_seconds: int = settings.DEFAULT_MODEL_REFRESH_SECONDS
    flag_cooldown_seconds: int = settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    state_ttl_days: int = settings.DEFAULT_STATE_TTL_DAYS
    # Used only until a model exists; afterwards the model's own gap splits sessions, as in training.
    session_gap_seconds: int = settings.DEFAULT_SESSION_GAP_SECONDS
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ConsumerConfig:
        def req(name: str) -> str:
            return required(env, name)

        def num(name: str, default: int, minimum: int) -> int:
            return number(env, name, default, int, minimum)

        source = user_key_source(env, settings.ENV_USER_KEY_SOURCE)
        prefix = env.get(settings.ENV_REJECTED_PREFIX, "").strip() or settings.REJECTED_PREFIX
        data_bucket = req(settings.ENV_DATA_BUCKET)
        return cls(
            table_name=req(settings.ENV_TABLE_NAME),
            flag_queue_url=req(settings.ENV_FLAG_QUEUE_URL),
            data_bucket=data_bucket,
            model_bucket=env.get(settings.ENV_MODEL_BUCKET, "").strip() or data_bucket,
            rejected_prefix=prefix if prefix.endswith("/") else prefix + "/",
            model_refresh_seconds=num(
                settings.ENV_MODEL_REFRESH_SECONDS, settings.DEFAULT_MODEL_REFRESH_SECONDS, 0
            ),
            flag_cooldown_seconds=num(
                settings.ENV_FLAG_COOLDOWN_SECONDS, settings.DEFAULT_FLAG_COOLDOWN_SECONDS, 0
            ),
            state_ttl_days=num(settings.ENV_STATE_TTL_DAYS, settings.DEFAULT_STATE_TTL_DAYS, 1),
            session_gap_seconds=num(settings.ENV_SESSION_GAP_SECONDS, settings.DEFAULT_SESSION_GAP_SECONDS, 1),
            user_key_source=source,
        )
