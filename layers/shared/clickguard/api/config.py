"""The score API's configuration from environment variables, validated once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from clickguard import settings
from clickguard.envconfig import number, required, user_key_source
from clickguard.events import UserKeySource


@dataclass(frozen=True)
class ScoreApiConfig:
    table_name: str
    model_bucket: str
    model_refresh_seconds: int = settings.DEFAULT_MODEL_REFRESH_SECONDS
    # The consumer's cooldown: the answer says whether it would hold a flag back.
    flag_cooldown_seconds: int = settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ScoreApiConfig:
        return cls(
            table_name=required(env, settings.ENV_TABLE_NAME),
            model_bucket=required(env, settings.ENV_MODEL_BUCKET),
            model_refresh_seconds=number(
                env, settings.ENV_MODEL_REFRESH_SECONDS, settings.DEFAULT_MODEL_REFRESH_SECONDS, int, 0
            ),
            flag_cooldown_seconds=number(
                env, settings.ENV_FLAG_COOLDOWN_SECONDS, settings.DEFAULT_FLAG_COOLDOWN_SECONDS, int, 0
            ),
            user_key_source=user_key_source(env, settings.ENV_USER_KEY_SOURCE),
        )
