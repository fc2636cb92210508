"""Consumer configuration from environment variables, validated once at cold start."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from clickguard import settings
from clickguard.consumer.campaign_config import CampaignConfig
from clickguard.decoding import ALL_FORMATS, DecodeConfig, Format, MissingTime
from clickguard.decoding.mapping import FieldMapping
from clickguard.decoding.records import decode_config_from_env
from clickguard.envconfig import ConfigError, choice, number, required, user_key_source
from clickguard.events import UserKeySource
from clickguard.network.config import NetworkConfig
from clickguard.rejections import Reason
from clickguard.timestamps import DateOrder

__all__ = ["ConfigError", "ConsumerConfig", "KeepPayloads", "StateWrites"]


class KeepPayloads(enum.StrEnum):
    """Which rejected records keep their raw payload in the sink (payloads may hold personal data)."""

    NONE = "none"
    INTERNAL_ERROR = "internal_error"  # only the records the consumer failed on: a developer replays them
    ALL = "all"

    def keeps(self, reason: Reason) -> bool:
        return self is KeepPayloads.ALL or (self is KeepPayloads.INTERNAL_ERROR and reason is Reason.INTERNAL_ERROR)


class StateWrites(enum.StrEnum):
    BATCH = "batch"
    CONDITIONAL = "conditional"


_DEFAULT_KEEP = KeepPayloads(settings.DEFAULT_KEEP_REJECTED_PAYLOADS)
_DEFAULT_WRITES = StateWrites(settings.DEFAULT_STATE_WRITES)


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    return value if value.endswith("/") else value + "/"


@dataclass(frozen=True)
class ConsumerConfig:
    table_name: str
    flag_queue_url: str
    data_bucket: str  # rejected-records sink
    model_bucket: str
    rejected_prefix: str = settings.REJECTED_PREFIX
    rejected_payload_prefix: str = settings.REJECTED_PAYLOAD_PREFIX
    keep_payloads: KeepPayloads = _DEFAULT_KEEP
    state_writes: StateWrites = _DEFAULT_WRITES
    model_refresh_seconds: int = settings.DEFAULT_MODEL_REFRESH_SECONDS
    flag_cooldown_seconds: int = settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    state_ttl_days: int = settings.DEFAULT_STATE_TTL_DAYS
    # Used only until a model exists; afterwards the model's own gap splits sessions, as in training.
    session_gap_seconds: int = settings.DEFAULT_SESSION_GAP_SECONDS
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID
    # Producer formats (clickguard.decoding): which are read, the field mapping for other JSON, the inflate cap.
    input_formats: frozenset[Format] = ALL_FORMATS
    field_mapping: FieldMapping | None = None
    max_decompressed_bytes: int = settings.DEFAULT_MAX_DECOMPRESSED_BYTES
    fast_json: bool = True  # msgspec; False only to measure the standard-library path beside it (bench/)
    missing_time: MissingTime = MissingTime.ARRIVAL
    date_order: DateOrder = DateOrder.TOLD
    campaign: CampaignConfig = field(default_factory=CampaignConfig)  # the campaign alert (consumer.campaign)
    network: NetworkConfig | None = None  # seed 003's rule (consumer.network_step); None: no network table

    @property
    def decoding(self) -> DecodeConfig:
        return DecodeConfig(
            self.input_formats,
            self.user_key_source,
            self.field_mapping,
            self.max_decompressed_bytes,
            self.fast_json,
            missing_time=self.missing_time,
            date_order=self.date_order,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ConsumerConfig:
        def req(name: str) -> str:
            return required(env, name)

        def num(name: str, default: int, minimum: int) -> int:
            return number(env, name, default, int, minimum)

        source = user_key_source(env, settings.ENV_USER_KEY_SOURCE)
        decoding = decode_config_from_env(env)
        data_bucket = req(settings.ENV_DATA_BUCKET)
        network = NetworkConfig.from_env(env) if env.get(settings.ENV_NETWORK_TABLE_NAME, "").strip() else None
        return cls(
            table_name=req(settings.ENV_TABLE_NAME),
            flag_queue_url=req(settings.ENV_FLAG_QUEUE_URL),
            data_bucket=data_bucket,
            model_bucket=env.get(settings.ENV_MODEL_BUCKET, "").strip() or data_bucket,
            rejected_prefix=_prefix(env, settings.ENV_REJECTED_PREFIX, settings.REJECTED_PREFIX),
            rejected_payload_prefix=_prefix(
                env, settings.ENV_REJECTED_PAYLOAD_PREFIX, settings.REJECTED_PAYLOAD_PREFIX
            ),
            keep_payloads=choice(env, settings.ENV_KEEP_REJECTED_PAYLOADS, KeepPayloads, _DEFAULT_KEEP),
            model_refresh_seconds=num(settings.ENV_MODEL_REFRESH_SECONDS, settings.DEFAULT_MODEL_REFRESH_SECONDS, 0),
            flag_cooldown_seconds=num(settings.ENV_FLAG_COOLDOWN_SECONDS, settings.DEFAULT_FLAG_COOLDOWN_SECONDS, 0),
            state_ttl_days=num(settings.ENV_STATE_TTL_DAYS, settings.DEFAULT_STATE_TTL_DAYS, 1),
            session_gap_seconds=num(settings.ENV_SESSION_GAP_SECONDS, settings.DEFAULT_SESSION_GAP_SECONDS, 1),
            user_key_source=source,
            state_writes=choice(env, settings.ENV_STATE_WRITES, StateWrites, _DEFAULT_WRITES),
            input_formats=decoding.formats,
            field_mapping=decoding.mapping,
            max_decompressed_bytes=decoding.max_decompressed_bytes,
            missing_time=decoding.missing_time,
            date_order=decoding.date_order,
            campaign=CampaignConfig.from_env(env),
            network=network,
        )
