"""Configuration: defaults, overrides and clear errors (no synth needed)."""

from __future__ import annotations

import pytest

from clickguard import settings
from infra.config import ConfigError, StackConfig


def config(**context):
    return StackConfig.from_context(context.get)


def test_defaults():
    c = config()
    assert c.stage == "dev" and c.stack_name == "clickguard-dev"
    assert c.stream_mode == "on-demand" and c.stream_retention_hours == 24
    assert c.training_schedule == "rate(1 day)" and c.training_period_hours == 24
    assert c.flag_cooldown_seconds == settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    assert c.archive_expiry_days == 30
    assert c.reserved_concurrency is None and c.alarm_email is None and not c.local


def test_cli_strings_are_parsed():
    c = config(
        stage="prod",
        shard_count="4",
        stream_mode="provisioned",
        training_schedule="rate(6 hours)",
        mean_bits_quantile="0.98",
        reserved_concurrency="10",
        local="true",
        alarm_email="a@b.io",
    )
    assert (c.stage, c.shard_count, c.training_period_hours) == ("prod", 4, 6)
    assert c.model_params["mean_bits_quantile"] == 0.98 and c.reserved_concurrency == 10 and c.local
    assert c.model_environment()[settings.ENV_MEAN_BITS_QUANTILE] == "0.98"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stage": "Prod_1"}, "stage"),
        ({"stream_mode": "fast"}, "stream_mode"),
        ({"shard_count": "0"}, "shard_count"),
        ({"batch_size": 20000}, "batch_size"),
        ({"parallelization_factor": 11}, "parallelization_factor"),
        ({"max_record_age_seconds": 10}, "max_record_age_seconds"),
        ({"training_schedule": "every day"}, "training_schedule"),
        ({"training_schedule": "cron(0 3 * * ? *)"}, "training_period_hours"),
        ({"mean_bits_quantile": 1.5}, "mean_bits_quantile"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"alarm_email": "nobody"}, "alarm_email"),
        ({"user_key_source": "ip"}, "user_key_source"),
        ({"local": "maybe"}, "local"),
        ({"consumer_memory_mb": "lots"}, "consumer_memory_mb"),
    ],
)
def test_bad_values_name_the_key(context, message):
    with pytest.raises(ConfigError, match=message):
        config(**context)


def test_cron_schedule_with_period():
    c = config(training_schedule="cron(0 3 * * ? *)", training_period_hours=24)
    assert c.training_period_hours == 24
