"""Every deploy-time setting of the clickguard stack, in one place: its default (``StackConfig``) and its allowed
values (``RANGES`` and ``CHOICES``).

Values come from CDK context (``cdk.json`` ``context`` block, or ``-c key=value`` on the command line); the
defaults below apply when a key is absent, so cdk.json carries only feature flags. ``StackConfig.from_context``
validates every value before any construct is built and raises ``ConfigError`` naming the bad key, so a typo
fails the synth with a clear message instead of producing a subtly wrong stack. What each key means: README's
configuration table, which ``tests/infra/test_config.py`` checks against the defaults and ranges here.

Environment variables ``CLICKGUARD_LOCAL=1`` and ``CLICKGUARD_STUB_LAYER=1`` set the two flags as well, for
test runners that cannot pass context.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from clickguard import settings
from clickguard.consumer.config import KeepPayloads, StateWrites
from clickguard.decoding import Format, MissingTime, parse_formats
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import UserKeySource
from clickguard.timestamps import DateOrder
from infra.schedule import cron_problem

STACK_NAME_PREFIX = "clickguard"
# Firehose failures (records it could not deliver) land here, outside the trainer's prefix.
ARCHIVE_ERROR_PREFIX = "archive-errors/"

# Stable CloudFormation output keys: the CLI finds a deployed stack's resources by these names.
OUTPUT_STREAM_NAME = "StreamName"
OUTPUT_STREAM_ARN = "StreamArn"
OUTPUT_FLAG_QUEUE_URL = "FlagQueueUrl"
OUTPUT_FLAG_DLQ_URL = "FlagDeadLetterQueueUrl"
OUTPUT_FAILURE_QUEUE_URL = "ConsumerFailureQueueUrl"
OUTPUT_DATA_BUCKET = "DataBucketName"
OUTPUT_MODEL_BUCKET = "ModelBucketName"
OUTPUT_TABLE_NAME = "TableName"
OUTPUT_NETWORK_TABLE_NAME = "NetworkTableName"  # friends and last-T purchases per user (issue 12)
OUTPUT_DASHBOARD_URL = "DashboardUrl"
OUTPUT_CONSUMER_FUNCTION = "ConsumerFunctionName"
OUTPUT_TRAINER_FUNCTION = "TrainerFunctionName"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_DECISION_QUEUE_URL = "DecisionQueueUrl"  # the review loop: `clickguard review` and services send decisions here
OUTPUT_DECISION_DLQ_URL = "DecisionDeadLetterQueueUrl"
OUTPUT_DECISIONS_FUNCTION = "DecisionsFunctionName"
OUTPUT_SCORE_API_FUNCTION = "ScoreApiFunctionName"  # POST /score (clickguard.api)
OUTPUT_TRAINING_STATE_MACHINE = "TrainingStateMachineArn"  # the training run (issue 13): start an execution to train
OUTPUT_TRAINING_REDUCE_FUNCTION = "TrainingReduceFunctionName"  # its plan and advance steps (the local runtime)
# Deployed flavour only (moto has no function URL; the local runtime serves POST /score on 127.0.0.1 instead).
OUTPUT_SCORE_URL = "ScoreApiUrl"
OUTPUT_SCORE_INVOKE_POLICY_ARN = "ScoreApiInvokePolicyArn"  # attach to the roles that may call the score API
OUTPUT_PRODUCER_POLICY_ARN = "ProducerPolicyArn"  # attach to the roles that put events on the stream
OUTPUT_REVIEWER_POLICY_ARN = "ReviewerPolicyArn"  # attach to the roles that read flags and send decisions
AWS_ONLY_OUTPUT_KEYS = (
    OUTPUT_SCORE_URL,
    OUTPUT_SCORE_INVOKE_POLICY_ARN,
    OUTPUT_PRODUCER_POLICY_ARN,
    OUTPUT_REVIEWER_POLICY_ARN,
)
OUTPUT_KEYS = (
    OUTPUT_STREAM_NAME,
    OUTPUT_STREAM_ARN,
    OUTPUT_FLAG_QUEUE_URL,
    OUTPUT_FLAG_DLQ_URL,
    OUTPUT_FAILURE_QUEUE_URL,
    OUTPUT_DATA_BUCKET,
    OUTPUT_MODEL_BUCKET,
    OUTPUT_TABLE_NAME,
    OUTPUT_NETWORK_TABLE_NAME,
    OUTPUT_DASHBOARD_URL,
    OUTPUT_CONSUMER_FUNCTION,
    OUTPUT_TRAINER_FUNCTION,
    OUTPUT_ALARM_TOPIC_ARN,
    OUTPUT_DECISION_QUEUE_URL,
    OUTPUT_DECISION_DLQ_URL,
    OUTPUT_DECISIONS_FUNCTION,
    OUTPUT_SCORE_API_FUNCTION,
    OUTPUT_TRAINING_STATE_MACHINE,
    OUTPUT_TRAINING_REDUCE_FUNCTION,
)

# Resource types that moto's CloudFormation does not create (it skips them with a warning, and a Ref/GetAtt to
# one fails the stack). The ``local`` flavour leaves out the ones marked "omitted"; the others are leaves that
# nothing references, so moto skipping them is harmless. The local runtime stands in for the omitted ones.
MOTO_UNSUPPORTED = {
    "AWS::KinesisFirehose::DeliveryStream": "omitted: the local runtime's archiver writes events/YYYY/MM/DD/HH/",
    "AWS::Logs::LogStream": "omitted with the Firehose archive (its error log stream)",
    "AWS::CloudWatch::Alarm": "omitted: moto never evaluates alarms",
    "AWS::SNS::Subscription": "omitted: nothing delivers e-mail locally",
    "AWS::Lambda::Url": "omitted: the local runtime serves POST /score on 127.0.0.1 (clickguard.local.score_server)",
    "AWS::SQS::QueuePolicy": "kept, skipped by moto: TLS-only and EventBridge send policies",
    "AWS::S3::BucketPolicy": "kept, skipped by moto: TLS-only and access-log delivery policies",
    "AWS::SNS::TopicPolicy": "kept, skipped by moto: TLS-only topic policy",
}

# Trainer model parameters: context key -> (environment variable, default, type).
MODEL_KEYS: dict[str, tuple[str, Any, type]] = {
    "window_days": (settings.ENV_WINDOW_DAYS, settings.DEFAULT_WINDOW_DAYS, int),
    "min_sessions": (settings.ENV_MIN_SESSIONS, settings.DEFAULT_MIN_SESSIONS, int),
    "max_states": (settings.ENV_MAX_STATES, settings.DEFAULT_MAX_STATES, int),
    "min_token_count": (settings.ENV_MIN_TOKEN_COUNT, settings.DEFAULT_MIN_TOKEN_COUNT, int),
    "smoothing": (settings.ENV_SMOOTHING, settings.DEFAULT_SMOOTHING, float),
    "session_gap_seconds": (settings.ENV_SESSION_GAP_SECONDS, settings.DEFAULT_SESSION_GAP_SECONDS, int),
    "min_events": (settings.ENV_MIN_EVENTS, settings.DEFAULT_MIN_EVENTS, int),
    "mean_bits_quantile": (settings.ENV_MEAN_BITS_QUANTILE, settings.DEFAULT_MEAN_BITS_QUANTILE, float),
    "total_bits_quantile": (settings.ENV_TOTAL_BITS_QUANTILE, settings.DEFAULT_TOTAL_BITS_QUANTILE, float),
    "max_user_share": (settings.ENV_MAX_USER_SHARE, settings.DEFAULT_MAX_USER_SHARE, float),
    "alert_budget": (settings.ENV_ALERT_BUDGET, settings.DEFAULT_ALERT_BUDGET, float),
    "target_precision": (settings.ENV_TARGET_PRECISION, settings.DEFAULT_TARGET_PRECISION, float),
    "max_flag_share": (settings.ENV_MAX_FLAG_SHARE, settings.DEFAULT_MAX_FLAG_SHARE, float),
}

# CloudWatch Logs accepts only these retention values (days -> aws_logs.RetentionDays member name).
LOG_RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
LOG_RETENTION_VALUES = tuple(LOG_RETENTION_NAMES)

_STAGE_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON_RE = re.compile(r"^cron\([^()]+\)$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ValueError):
    """A context value is missing, malformed or out of range; the message names the key."""


@dataclass(frozen=True)
class StackConfig:
    """One field per context key (``model_params`` holds ``MODEL_KEYS``); the defaults here are the defaults."""

    stage: str = "dev"
    stream_mode: str = "on-demand"
    shard_count: int = 1
    stream_retention_hours: int = 24
    archive_expiry_days: int = 30
    archive_buffer_seconds: int = 300
    model_version_expiry_days: int = 90
    training_schedule: str = "rate(1 day)"
    training_period_hours: float = 24.0  # derived from a rate(); required with a cron()
    model_params: dict[str, Any] = field(default_factory=lambda: {k: v[1] for k, v in MODEL_KEYS.items()})
    user_key_source: str = UserKeySource.SESSION_USER_ID.value
    # Producer formats (issue 11, clickguard.decoding): read by the consumer and the archive transformation.
    input_formats: str = ",".join(f.value for f in Format)
    field_mapping: str | None = None  # JSON, clickguard.decoding.mapping; validated here and at cold start
    max_decompressed_bytes: int = settings.DEFAULT_MAX_DECOMPRESSED_BYTES
    missing_time: str = MissingTime.ARRIVAL.value
    date_order: str = DateOrder.TOLD.value
    flag_cooldown_seconds: int = settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    campaign_min_users: int = settings.DEFAULT_CAMPAIGN_MIN_USERS
    campaign_growth: float = settings.DEFAULT_CAMPAIGN_GROWTH
    # Seed 003's purchases-in-a-network rule (clickguard.network): D, T and the friends kept per user.
    network_degree: int = settings.DEFAULT_NETWORK_DEGREE
    network_window: int = settings.DEFAULT_NETWORK_WINDOW
    network_max_friends: int = settings.DEFAULT_NETWORK_MAX_FRIENDS
    state_ttl_days: int = settings.DEFAULT_STATE_TTL_DAYS
    model_refresh_seconds: int = settings.DEFAULT_MODEL_REFRESH_SECONDS
    keep_rejected_payloads: str = settings.DEFAULT_KEEP_REJECTED_PAYLOADS
    rejected_payload_expiry_days: int = settings.DEFAULT_REJECTED_PAYLOAD_EXPIRY_DAYS
    state_writes: str = settings.DEFAULT_STATE_WRITES
    flag_visibility_timeout_seconds: int = 900
    # Reviewers' looks are receives (SQS has no peek): `review list`, `flags` and `review decide`'s search each count
    # one. 5 dead-lettered every open flag after five looks; 100 moves a flag only when looks went on for days.
    flag_max_receives: int = 100
    allowlist_days: int = settings.DEFAULT_ALLOWLIST_DAYS
    allow_margin: float = settings.DEFAULT_ALLOW_MARGIN
    decision_max_receives: int = 5
    decisions_memory_mb: int = 256
    decisions_timeout_seconds: int = 30
    score_api_memory_mb: int = 1024
    score_api_timeout_seconds: int = 10
    score_api_reserved_concurrency: int = 10
    consumer_memory_mb: int = 1024
    consumer_timeout_seconds: int = 60
    batch_size: int = 1000
    batching_window_seconds: int = 1
    parallelization_factor: int = 1
    retry_attempts: int = 5
    max_record_age_seconds: int = 3600
    reserved_concurrency: int | None = None
    trainer_memory_mb: int = 3008
    trainer_timeout_seconds: int = 900
    trainer_retry_attempts: int = 2
    # Distributed training (issue 13, infra/components/training_map.py): a window past single_pass_max_mb of gzip
    # is mapped over its hour partitions and passed over training_shards user shards on a Step Functions run.
    training_shards: int = settings.DEFAULT_TRAINING_SHARDS
    single_pass_max_mb: int = settings.DEFAULT_SINGLE_PASS_MAX_MB
    training_map_concurrency: int = 100
    training_map_batch: int = 4
    training_worker_memory_mb: int = 3008
    training_reduce_memory_mb: int = 10240
    log_retention_days: int = 30
    iterator_age_alarm_seconds: int = 120
    consumer_error_rate_percent: float = 5.0
    alarm_email: str | None = None
    removal_policy: str = "retain"
    local: bool = False
    stub_layer: bool = False
    layer_dir: str | None = None

    @property
    def log_retention_name(self) -> str:
        return LOG_RETENTION_NAMES[self.log_retention_days]

    @property
    def stack_name(self) -> str:
        return f"{STACK_NAME_PREFIX}-{self.stage}"

    @property
    def consumer_service(self) -> str:
        """The consumer's ``service`` metric dimension: per stage, so stages in one account never mix."""
        return f"{settings.CONSUMER_SERVICE}-{self.stage}"

    @property
    def archive_transform_service(self) -> str:
        return f"{settings.ARCHIVE_TRANSFORM_SERVICE}-{self.stage}"

    @property
    def trainer_service(self) -> str:
        return f"{settings.TRAINER_SERVICE}-{self.stage}"

    @property
    def decisions_service(self) -> str:
        return f"{settings.DECISIONS_SERVICE}-{self.stage}"

    @property
    def score_api_service(self) -> str:
        return f"{settings.SCORE_API_SERVICE}-{self.stage}"

    @classmethod
    def from_context(cls, get: Any, keys: Iterable[str] = ()) -> StackConfig:
        """Build from a context getter (``node.try_get_context``) and validate every value; ``keys``: every key the
        context holds (``node.get_all_context()``), where one that looks like a setting's but is none is an error
        (``check_keys``)."""
        check_keys(keys)
        r = _Reader(get)
        schedule, period = _read_schedule(r)
        config = cls(
            stage=r.text("stage", DEFAULTS["stage"]),
            training_schedule=schedule,
            training_period_hours=period,
            model_params=_read_model_params(r),
            alarm_email=_read_email(r),
            reserved_concurrency=_read_reserved(r),
            input_formats=_read_formats(r),
            field_mapping=_read_mapping(r),
            local=r.flag("local", "CLICKGUARD_LOCAL"),
            stub_layer=r.flag("stub_layer", "CLICKGUARD_STUB_LAYER"),
            layer_dir=r.text("layer_dir", os.environ.get("CLICKGUARD_LAYER_DIR", "")) or None,
            **_read_choices(r),
            **_read_numbers(r),
        )
        _check(config)
        if get("shard_count") is not None and config.stream_mode != "provisioned":
            raise ConfigError("shard_count applies to stream_mode=provisioned; an on-demand stream sizes itself")
        return config

    def model_environment(self) -> dict[str, str]:
        """Model parameters as the environment variables both handlers read."""
        env = {MODEL_KEYS[key][0]: str(value) for key, value in self.model_params.items()}
        env[settings.ENV_USER_KEY_SOURCE] = self.user_key_source
        return {**env, **self.decoding_environment()}

    def decoding_environment(self) -> dict[str, str]:
        """The decoder's settings as the environment the consumer and the archive transformation read."""
        env = {
            settings.ENV_INPUT_FORMATS: self.input_formats,
            settings.ENV_MAX_DECOMPRESSED_BYTES: str(self.max_decompressed_bytes),
            settings.ENV_USER_KEY_SOURCE: self.user_key_source,
            settings.ENV_MISSING_TIME: self.missing_time,
            settings.ENV_DATE_ORDER: self.date_order,
        }
        if self.field_mapping:
            env[settings.ENV_FIELD_MAPPING] = self.field_mapping
        return env


# Defaults of the plain fields (model parameters: MODEL_KEYS), read back from the dataclass: written once.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(StackConfig) if f.default is not MISSING}

# Allowed ranges (inclusive) of the numeric keys read as they are; the type is the default's.
RANGES: dict[str, tuple[float, float]] = {
    "shard_count": (1, 500),
    "stream_retention_hours": (24, 8760),
    "archive_expiry_days": (1, 3650),
    "archive_buffer_seconds": (0, 900),
    "model_version_expiry_days": (1, 3650),
    "flag_cooldown_seconds": (0, 30 * 86400),
    **settings.CAMPAIGN_RANGES,  # one definition, shared with the consumer's cold start
    **{f"network_{name}": bounds for name, bounds in settings.NETWORK_PARAM_RANGES.items()},
    "state_ttl_days": (1, 365),
    "model_refresh_seconds": (1, 86400),
    "rejected_payload_expiry_days": (1, 3650),
    "flag_visibility_timeout_seconds": (0, 43200),
    "flag_max_receives": (1, 1000),
    "allowlist_days": (1, 365),
    "allow_margin": (0.0, 10.0),
    "decision_max_receives": (1, 1000),
    "decisions_memory_mb": (128, 10240),
    "decisions_timeout_seconds": (3, 900),
    "score_api_memory_mb": (128, 10240),
    "score_api_timeout_seconds": (3, 900),
    "score_api_reserved_concurrency": (1, 1000),
    "consumer_memory_mb": (128, 10240),
    "consumer_timeout_seconds": (3, 900),
    "batch_size": (1, 10000),
    "batching_window_seconds": (0, 300),
    "parallelization_factor": (1, 10),
    "retry_attempts": (-1, 10000),  # -1: until the record expires
    "max_record_age_seconds": (-1, 604800),  # -1: never; otherwise at least 60 (_check)
    "trainer_memory_mb": (128, 10240),
    "trainer_timeout_seconds": (3, 900),
    "trainer_retry_attempts": (0, 185),
    "training_shards": settings.TRAINING_SHARDS_RANGE,
    "single_pass_max_mb": (0, 10240),
    "training_map_concurrency": (1, 10000),  # Step Functions Distributed Map's limit
    "training_map_batch": (1, 100),
    "training_worker_memory_mb": (128, 10240),
    "training_reduce_memory_mb": (128, 10240),
    "log_retention_days": (1, 3653),  # and one of LOG_RETENTION_VALUES (_check)
    "iterator_age_alarm_seconds": (1, 7 * 86400),
    "consumer_error_rate_percent": (0.1, 100.0),
    "max_decompressed_bytes": settings.MAX_DECOMPRESSED_BYTES_RANGE,
}
OTHER_RANGES: dict[str, tuple[float, float]] = {
    "training_period_hours": (0.1, 24 * 31),
    "reserved_concurrency": (1, 1000),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "stream_mode": ("on-demand", "provisioned"),
    "user_key_source": tuple(s.value for s in UserKeySource),
    "missing_time": tuple(m.value for m in MissingTime),
    "date_order": tuple(o.value for o in DateOrder),
    "keep_rejected_payloads": tuple(k.value for k in KeepPayloads),
    "state_writes": tuple(w.value for w in StateWrites),
    "removal_policy": ("retain", "destroy"),
}
MODEL_RANGES = settings.MODEL_PARAM_RANGES  # one definition, shared with ModelParams and the trainer


def context_keys() -> list[str]:
    """Every context key the stack reads, in StackConfig's order, model parameters in place of model_params."""
    keys: list[str] = []
    for f in fields(StackConfig):
        keys.extend(MODEL_KEYS if f.name == "model_params" else [f.name])
    return keys


def default_of(key: str) -> Any:
    return MODEL_KEYS[key][1] if key in MODEL_KEYS else DEFAULTS[key]


def _read_schedule(r: _Reader) -> tuple[str, float]:
    schedule = r.text("training_schedule", DEFAULTS["training_schedule"])
    period = _schedule_period_hours(schedule)
    if r.get("training_period_hours") is not None:
        period = r.number(
            "training_period_hours", DEFAULTS["training_period_hours"], float, *OTHER_RANGES["training_period_hours"]
        )
    if period is None:
        raise ConfigError(
            f"training_schedule={schedule!r} is not a rate(...) expression: set training_period_hours so the "
            "'no new model' alarm knows what two periods are"
        )
    return schedule, float(period)


def _read_choices(r: _Reader) -> dict[str, Any]:
    """The ``CHOICES`` fields by name, for ``StackConfig(**...)``. ``Any``: mypy checks a ``**dict`` against every
    parameter, and no dict type says "these keys only", nor (``_read_numbers``) "each value of its own field's type"."""
    return {key: r.choice(key, DEFAULTS[key], allowed) for key, allowed in CHOICES.items()}


def _read_numbers(r: _Reader) -> dict[str, Any]:
    """The ``RANGES`` fields by name, each of its default's type."""
    return {key: r.number(key, DEFAULTS[key], type(DEFAULTS[key]), *bounds) for key, bounds in RANGES.items()}


def _read_model_params(r: _Reader) -> dict[str, Any]:
    params = {key: r.number(key, default, kind, *MODEL_RANGES[key]) for key, (_, default, kind) in MODEL_KEYS.items()}
    if params["mean_bits_quantile"] >= 1 or params["total_bits_quantile"] >= 1:
        raise ConfigError("mean_bits_quantile and total_bits_quantile must be below 1")
    return params


def _read_email(r: _Reader) -> str | None:
    email = r.text("alarm_email", "") or None
    if email is not None and not _EMAIL_RE.match(email):
        raise ConfigError(f"alarm_email={email!r} is not an e-mail address")
    return email


def _read_formats(r: _Reader) -> str:
    """A comma-separated list of ``Format`` names, normalised to the canonical order."""
    try:
        formats = parse_formats(r.text("input_formats", DEFAULTS["input_formats"]))
    except ValueError as exc:
        raise ConfigError(f"input_formats: {exc}") from None
    return ",".join(f.value for f in Format if f in formats)


def _read_mapping(r: _Reader) -> str | None:
    """The field mapping as compact JSON (a JSON object in cdk.json, or its text with ``-c``); validated by the
    consumer's own parser, so synth and cold start accept exactly the same mappings."""
    value = r.get("field_mapping")
    if value is None or value == "":
        return None
    try:
        mapping = FieldMapping.from_dict(value) if isinstance(value, dict) else FieldMapping.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"field_mapping: {exc}") from None
    return mapping.to_json() if mapping else None


def _read_reserved(r: _Reader) -> int | None:
    if r.get("reserved_concurrency") in (None, "", "none"):
        return None
    reserved: int = r.number("reserved_concurrency", 0, int, *OTHER_RANGES["reserved_concurrency"])
    return reserved


def _plain(bound: float) -> str:
    """A range's bound as a person writes it: 2592000, not 2.592e+06."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def _check(config: StackConfig) -> None:
    """Rules a single range cannot express."""
    if not _STAGE_RE.match(config.stage):
        raise ConfigError(f"stage={config.stage!r} must match {_STAGE_RE.pattern} (it names the stack)")
    if config.log_retention_days not in LOG_RETENTION_VALUES:
        raise ConfigError(f"log_retention_days must be one of {LOG_RETENTION_VALUES}, got {config.log_retention_days}")
    if config.max_record_age_seconds != -1 and config.max_record_age_seconds < 60:
        raise ConfigError(f"max_record_age_seconds must be -1 or 60..604800, got {config.max_record_age_seconds}")


def _schedule_period_hours(expression: str) -> float | None:
    """Period of a rate() expression in hours; None for cron() (its period is not derivable in general)."""
    match = _RATE_RE.match(expression)
    if match:
        value, unit = int(match.group(1)), match.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ConfigError(f"training_schedule={expression!r}: use 'rate(1 day)' or 'rate(N days)' (N > 1)")
        return value * {"minute": 1 / 60, "hour": 1.0, "day": 24.0}[unit.rstrip("s")]
    if _CRON_RE.match(expression):
        problem = cron_problem(expression)
        if problem:
            raise ConfigError(f"training_schedule={expression!r} {problem}")
        return None
    raise ConfigError(f"training_schedule={expression!r} must be an EventBridge rate(...) or cron(...) expression")


# A setting's key as this stack spells them; CDK's own context keys carry ``@`` or ``:`` (feature flags, lookups).
_SETTING_KEY = re.compile(r"[a-z][a-z0-9_]*")


def check_keys(keys: Iterable[str]) -> None:
    """A context key spelled as a setting is but naming none (``flag_cooldown_secs``) is a ``ConfigError`` with the
    nearest known keys, rather than a default silently kept."""
    known = set(DEFAULTS) | set(MODEL_KEYS)
    for key in sorted(k for k in keys if _SETTING_KEY.fullmatch(k) and k not in known):
        near = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(near)}?" if near else "; see README: Configuration"
        raise ConfigError(f"unknown setting {key!r}{hint}")


class _Reader:
    """Typed access to context values, which arrive as JSON values from cdk.json or strings from ``-c``."""

    def __init__(self, get: Any) -> None:
        self._get = get

    def get(self, key: str) -> Any:
        return self._get(key)

    def text(self, key: str, default: str) -> str:
        value = self._get(key)
        return default if value is None else str(value).strip()

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {allowed}, got {value!r}")
        return value

    def flag(self, key: str, env_name: str) -> bool:
        value = self._get(key)
        if value is None:
            value = os.environ.get(env_name, "")
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{key} must be true or false, got {value!r}")

    def number(self, key: str, default: Any, kind: type, low: float, high: float) -> Any:
        value = self._get(key)
        if value is None:
            return default
        wanted = f"{'a whole number' if kind is int else 'a number'} in [{_plain(low)}, {_plain(high)}]"
        if value == "":  # ``-c key=``: a value left out, not the default asked for
            raise ConfigError(f"{key} is empty: give {wanted}, or leave the key out for its default {default}")
        try:
            if isinstance(value, bool):
                raise ValueError
            number = kind(value) if not isinstance(value, str) else kind(float(value) if kind is float else value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={value!r} is not a valid {kind.__name__}: give {wanted}, no unit") from None
        if kind is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{key}={value!r} must be a whole number")
        if not low <= number <= high:
            raise ConfigError(f"{key}={number} is out of range [{low}, {high}]")
        return number
