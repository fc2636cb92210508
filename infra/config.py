"""Every deploy-time setting of the clickguard stack, in one documented place.

Values come from CDK context (``cdk.json`` ``context`` block, or ``-c key=value`` on the command line); the
defaults below apply when a key is absent. ``StackConfig.from_context`` validates them all before any
construct is built and raises ``ConfigError`` naming the bad key, so a typo fails the synth with a clear message
instead of producing a subtly wrong stack.

| context key                      | default          | meaning                                                    |
|----------------------------------|------------------|------------------------------------------------------------|
| stage                            | dev              | stage name; stack is ``clickguard-<stage>``                |
| stream_mode                      | on-demand        | ``on-demand`` or ``provisioned``                           |
| shard_count                      | 1                | shards when provisioned                                    |
| stream_retention_hours           | 24               | Kinesis retention (24..8760)                               |
| archive_expiry_days              | 30               | raw events and rejected records expire (personal data)     |
| archive_buffer_seconds           | 300              | Firehose buffering interval (0..900)                       |
| model_version_expiry_days        | 90               | non-current model versions kept this long                  |
| training_schedule                | rate(1 day)      | EventBridge schedule expression                            |
| training_period_hours            | from the rate    | schedule period, required for cron() schedules             |
| window_days, min_sessions, ...   | settings.py      | trainer model parameters (see ``MODEL_KEYS``)              |
| mean_bits_quantile               | 0.995            | calibrated threshold quantile (mean bits)                  |
| total_bits_quantile              | 0.998            | calibrated threshold quantile (total bits)                 |
| flag_cooldown_seconds            | 86400            | at most one flag per user per cooldown                     |
| state_ttl_days                   | 7                | session state expires this long after the last event       |
| model_refresh_seconds            | 60               | consumer re-checks models/latest.json this often           |
| flag_visibility_timeout_seconds  | 900              | time a reviewer holds a flag before it reappears           |
| flag_max_receives                | 5                | receives before a flag goes to the dead-letter queue       |
| consumer_memory_mb               | 1024             | consumer memory                                            |
| consumer_timeout_seconds         | 60               | consumer timeout                                           |
| batch_size                       | 1000             | event source mapping batch size (1..10000)                 |
| batching_window_seconds          | 1                | maximum batching window (0..300)                           |
| parallelization_factor           | 1                | concurrent batches per shard (1..10, order kept per key)   |
| retry_attempts                   | 5                | retries of a failing batch (-1 = until the record expires) |
| max_record_age_seconds           | 3600             | older records go to the on-failure queue (-1 = never)      |
| reserved_concurrency             | (unset)          | reserved concurrency of the consumer                       |
| trainer_memory_mb                | 3008             | trainer memory                                             |
| trainer_timeout_seconds          | 900              | trainer timeout (Lambda maximum)                           |
| trainer_retry_attempts           | 2                | EventBridge retries of a failed invocation                 |
| log_retention_days               | 30               | CloudWatch Logs retention of both functions                |
| iterator_age_alarm_seconds       | 120              | alarm when the consumer falls this far behind              |
| consumer_error_rate_percent      | 5                | alarm when this share of invocations fails                 |
| alarm_email                      | (none)           | e-mail subscribed to the alarm topic                       |
| removal_policy                   | retain           | ``retain`` or ``destroy`` for the stores                   |
| local                            | false            | flavour for moto's CloudFormation (see ``MOTO_UNSUPPORTED``) |
| stub_layer                       | false            | layer without pip dependencies (fast offline template tests) |
| layer_dir                        | (built)          | use this prebuilt layer directory (must contain python/)   |

Environment variables ``CLICKGUARD_LOCAL=1`` and ``CLICKGUARD_STUB_LAYER=1`` set the two flags as well, for
test runners that cannot pass context.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from clickguard import settings
from clickguard.events import UserKeySource

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
OUTPUT_DASHBOARD_URL = "DashboardUrl"
OUTPUT_CONSUMER_FUNCTION = "ConsumerFunctionName"
OUTPUT_TRAINER_FUNCTION = "TrainerFunctionName"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_KEYS = (
    OUTPUT_STREAM_NAME,
    OUTPUT_STREAM_ARN,
    OUTPUT_FLAG_QUEUE_URL,
    OUTPUT_FLAG_DLQ_URL,
    OUTPUT_FAILURE_QUEUE_URL,
    OUTPUT_DATA_BUCKET,
    OUTPUT_MODEL_BUCKET,
    OUTPUT_TABLE_NAME,
    OUTPUT_DASHBOARD_URL,
    OUTPUT_CONSUMER_FUNCTION,
    OUTPUT_TRAINER_FUNCTION,
    OUTPUT_ALARM_TOPIC_ARN,
)

# Resource types that moto's CloudFormation does not create (it skips them with a warning, and a Ref/GetAtt to
# one fails the stack). The ``local`` flavour leaves out the ones marked "omitted"; the others are leaves that
# nothing references, so moto skipping them is harmless. The local runtime stands in for the omitted ones.
MOTO_UNSUPPORTED = {
    "AWS::KinesisFirehose::DeliveryStream": "omitted: the local runtime's archiver writes events/YYYY/MM/DD/HH/",
    "AWS::Logs::LogStream": "omitted with the Firehose archive (its error log stream)",
    "AWS::CloudWatch::Alarm": "omitted: moto never evaluates alarms",
    "AWS::SNS::Subscription": "omitted: nothing delivers e-mail locally",
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
    stage: str = "dev"
    stream_mode: str = "on-demand"
    shard_count: int = 1
    stream_retention_hours: int = 24
    archive_expiry_days: int = 30
    archive_buffer_seconds: int = 300
    model_version_expiry_days: int = 90
    training_schedule: str = "rate(1 day)"
    training_period_hours: float = 24.0
    model_params: dict[str, Any] = field(default_factory=dict)
    user_key_source: str = UserKeySource.SESSION_USER_ID.value
    flag_cooldown_seconds: int = settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    state_ttl_days: int = settings.DEFAULT_STATE_TTL_DAYS
    model_refresh_seconds: int = settings.DEFAULT_MODEL_REFRESH_SECONDS
    flag_visibility_timeout_seconds: int = 900
    flag_max_receives: int = 5
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
    def trainer_service(self) -> str:
        return f"{settings.TRAINER_SERVICE}-{self.stage}"

    @classmethod
    def from_context(cls, get: Any) -> StackConfig:
        """Build from a context getter (``node.try_get_context``) and validate every value."""
        r = _Reader(get)
        schedule = r.text("training_schedule", "rate(1 day)")
        period = _schedule_period_hours(schedule)
        explicit_period = r.get("training_period_hours")
        if period is None and explicit_period is None:
            raise ConfigError(
                f"training_schedule={schedule!r} is not a rate(...) expression: set training_period_hours so the "
                "'no new model' alarm knows what two periods are"
            )
        if explicit_period is not None:
            period = r.number("training_period_hours", 24.0, float, 0.1, 24 * 31)
        model_params = {
            key: r.number(key, default, kind, *_MODEL_RANGES[key]) for key, (_, default, kind) in MODEL_KEYS.items()
        }
        user_key_source = r.text("user_key_source", UserKeySource.SESSION_USER_ID.value)
        if user_key_source not in {s.value for s in UserKeySource}:
            raise ConfigError(
                f"user_key_source must be one of {[s.value for s in UserKeySource]}, got {user_key_source!r}"
            )
        log_retention = r.number("log_retention_days", 30, int, 1, 3653)
        if log_retention not in LOG_RETENTION_VALUES:
            raise ConfigError(f"log_retention_days must be one of {LOG_RETENTION_VALUES}, got {log_retention}")
        email = r.text("alarm_email", "") or None
        if email is not None and not _EMAIL_RE.match(email):
            raise ConfigError(f"alarm_email={email!r} is not an e-mail address")
        reserved = r.get("reserved_concurrency")
        reserved_value = None if reserved in (None, "", "none") else r.number("reserved_concurrency", 0, int, 1, 1000)
        retry = r.number("retry_attempts", 5, int, -1, 10000)
        max_age = r.number("max_record_age_seconds", 3600, int, -1, 604800)
        if max_age != -1 and max_age < 60:
            raise ConfigError(f"max_record_age_seconds must be -1 or 60..604800, got {max_age}")
        consumer_timeout = r.number("consumer_timeout_seconds", 60, int, 3, 900)
        config = cls(
            stage=r.text("stage", "dev"),
            stream_mode=r.choice("stream_mode", "on-demand", ("on-demand", "provisioned")),
            shard_count=r.number("shard_count", 1, int, 1, 500),
            stream_retention_hours=r.number("stream_retention_hours", 24, int, 24, 8760),
            archive_expiry_days=r.number("archive_expiry_days", 30, int, 1, 3650),
            archive_buffer_seconds=r.number("archive_buffer_seconds", 300, int, 0, 900),
            model_version_expiry_days=r.number("model_version_expiry_days", 90, int, 1, 3650),
            training_schedule=schedule,
            training_period_hours=float(period),
            model_params=model_params,
            user_key_source=user_key_source,
            flag_cooldown_seconds=r.number(
                "flag_cooldown_seconds", settings.DEFAULT_FLAG_COOLDOWN_SECONDS, int, 0, 30 * 86400
            ),
            state_ttl_days=r.number("state_ttl_days", settings.DEFAULT_STATE_TTL_DAYS, int, 1, 365),
            model_refresh_seconds=r.number(
                "model_refresh_seconds", settings.DEFAULT_MODEL_REFRESH_SECONDS, int, 1, 86400
            ),
            flag_visibility_timeout_seconds=r.number("flag_visibility_timeout_seconds", 900, int, 0, 43200),
            flag_max_receives=r.number("flag_max_receives", 5, int, 1, 1000),
            consumer_memory_mb=r.number("consumer_memory_mb", 1024, int, 128, 10240),
            consumer_timeout_seconds=consumer_timeout,
            batch_size=r.number("batch_size", 1000, int, 1, 10000),
            batching_window_seconds=r.number("batching_window_seconds", 1, int, 0, 300),
            parallelization_factor=r.number("parallelization_factor", 1, int, 1, 10),
            retry_attempts=retry,
            max_record_age_seconds=max_age,
            reserved_concurrency=reserved_value,
            trainer_memory_mb=r.number("trainer_memory_mb", 3008, int, 128, 10240),
            trainer_timeout_seconds=r.number("trainer_timeout_seconds", 900, int, 3, 900),
            trainer_retry_attempts=r.number("trainer_retry_attempts", 2, int, 0, 185),
            log_retention_days=log_retention,
            iterator_age_alarm_seconds=r.number("iterator_age_alarm_seconds", 120, int, 1, 7 * 86400),
            consumer_error_rate_percent=r.number("consumer_error_rate_percent", 5.0, float, 0.1, 100.0),
            alarm_email=email,
            removal_policy=r.choice("removal_policy", "retain", ("retain", "destroy")),
            local=r.flag("local", "CLICKGUARD_LOCAL"),
            stub_layer=r.flag("stub_layer", "CLICKGUARD_STUB_LAYER"),
            layer_dir=r.text("layer_dir", os.environ.get("CLICKGUARD_LAYER_DIR", "")) or None,
        )
        if not _STAGE_RE.match(config.stage):
            raise ConfigError(f"stage={config.stage!r} must match {_STAGE_RE.pattern} (it names the stack)")
        if config.model_params["mean_bits_quantile"] >= 1 or config.model_params["total_bits_quantile"] >= 1:
            raise ConfigError("mean_bits_quantile and total_bits_quantile must be below 1")
        return config

    def model_environment(self) -> dict[str, str]:
        """Model parameters as the environment variables both handlers read."""
        env = {MODEL_KEYS[key][0]: str(value) for key, value in self.model_params.items()}
        env[settings.ENV_USER_KEY_SOURCE] = self.user_key_source
        return env


_MODEL_RANGES: dict[str, tuple[float, float]] = {
    "window_days": (1, 365),
    "min_sessions": (1, 10**9),
    "max_states": (3, 100_000),
    "min_token_count": (1, 10**9),
    "smoothing": (1e-9, 1000.0),
    "session_gap_seconds": (1, 7 * 86400),
    "min_events": (1, 10_000),
    "mean_bits_quantile": (0.5, 0.999999),
    "total_bits_quantile": (0.5, 0.999999),
}


def _schedule_period_hours(expression: str) -> float | None:
    """Period of a rate() expression in hours; None for cron() (its period is not derivable in general)."""
    match = _RATE_RE.match(expression)
    if match:
        value, unit = int(match.group(1)), match.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ConfigError(f"training_schedule={expression!r}: use 'rate(1 day)' or 'rate(N days)' (N > 1)")
        return value * {"minute": 1 / 60, "hour": 1.0, "day": 24.0}[unit.rstrip("s")]
    if _CRON_RE.match(expression):
        return None
    raise ConfigError(f"training_schedule={expression!r} must be an EventBridge rate(...) or cron(...) expression")


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
        if value is None or value == "":
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = kind(value) if not isinstance(value, str) else kind(float(value) if kind is float else value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={value!r} is not a valid {kind.__name__}") from None
        if kind is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{key}={value!r} must be a whole number")
        if not low <= number <= high:
            raise ConfigError(f"{key}={number} is out of range [{low}, {high}]")
        return number
