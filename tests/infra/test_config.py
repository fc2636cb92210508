"""Configuration: defaults, overrides and clear errors (no synth needed)."""

from __future__ import annotations

import re

import pytest

from clickguard import settings
from infra import config as cfg
from infra.config import ConfigError, StackConfig
from infra.paths import ROOT


def config(**context):
    return StackConfig.from_context(context.get, context)


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
        # EventBridge's cron, checked at synth: CloudFormation refused these minutes into a deploy
        ({"training_schedule": "cron(0 3 * * *)", "training_period_hours": 24}, r"has 5 fields; .* takes 6"),
        ({"training_schedule": "cron(0 3 * * * *)", "training_period_hours": 24}, r"needs `\?` in exactly one"),
        ({"training_schedule": "cron(0 25 * * ? *)", "training_period_hours": 24}, r"hours field '25'.* 0-23"),
        ({"training_schedule": "cron(0 3 ? FOO MON *)", "training_period_hours": 24}, r"month field 'FOO'"),
        ({"mean_bits_quantile": 1.5}, "mean_bits_quantile"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"alarm_email": "nobody"}, "alarm_email"),
        ({"user_key_source": "ip"}, "user_key_source"),
        ({"local": "maybe"}, "local"),
        ({"consumer_memory_mb": "lots"}, "consumer_memory_mb"),
        ({"flag_cooldown_seconds": "60s"}, r"'60s' is not a valid int: give a whole number in \[0, 2592000\], no unit"),
        ({"batch_size": ""}, r"batch_size is empty: give a whole number in \[1, 10000\], or leave the key out"),
        ({"shard_count": "7"}, "shard_count applies to stream_mode=provisioned"),  # was ignored on on-demand
    ],
)
def test_bad_values_name_the_key(context, message):
    with pytest.raises(ConfigError, match=message):
        config(**context)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"flag_cooldown_secs": "60"}, "unknown setting 'flag_cooldown_secs'; did you mean flag_cooldown_seconds"),
        ({"batchsize": "10"}, "unknown setting 'batchsize'; did you mean batch_size"),
        ({"colour": "blue"}, "unknown setting 'colour'; see README: Configuration"),
    ],
)
def test_a_misspelled_or_unknown_setting_fails_the_synth_with_the_nearest_keys(context, message):
    """A typo once kept the default silently (``-c flag_cooldown_secs=60`` synthesized a 24-hour cooldown)."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        StackConfig.from_context(context.get, context.keys())
    # CDK's own context keys (feature flags, lookups) are not settings
    StackConfig.from_context({}.get, ["@aws-cdk/core:newStyleStackSynthesis", "aws:cdk:enable-path-metadata"])


def test_cron_schedule_with_period():
    c = config(training_schedule="cron(0 3 * * ? *)", training_period_hours=24)
    assert c.training_period_hours == 24


@pytest.mark.parametrize(
    "expression",
    ["cron(0/15 * * * ? *)", "cron(30 2 ? * MON-FRI *)", "cron(0 3 L * ? *)", "cron(0 3 15W * ? *)",
     "cron(0 3 ? * 6L *)", "cron(0 3 ? * 2#1 *)", "cron(0 3 ? JAN,JUL mon 2027-2030)"],
)  # fmt: skip
def test_eventbridge_cron_forms_pass(expression):
    assert config(training_schedule=expression, training_period_hours=24).training_schedule == expression


def test_rejected_payload_settings():
    c = config()
    assert c.keep_rejected_payloads == settings.DEFAULT_KEEP_REJECTED_PAYLOADS
    assert c.rejected_payload_expiry_days == settings.DEFAULT_REJECTED_PAYLOAD_EXPIRY_DAYS
    c = config(keep_rejected_payloads="none", rejected_payload_expiry_days="2")
    assert (c.keep_rejected_payloads, c.rejected_payload_expiry_days) == ("none", 2)
    with pytest.raises(ConfigError, match="keep_rejected_payloads"):
        config(keep_rejected_payloads="some")
    with pytest.raises(ConfigError, match="rejected_payload_expiry_days"):
        config(rejected_payload_expiry_days=0)


def test_cdk_json_carries_no_setting():
    """Defaults live in infra/config.py only: cdk.json keeps CDK's feature flags (keys with a ':')."""
    from infra.app import cdk_json_context

    assert [key for key in cdk_json_context() if ":" not in key] == []


# --- README's configuration table against infra/config.py ---------------------------------------------------------
_DERIVED = {"training_period_hours": "from the rate"}


def _readme_table() -> dict[str, tuple[str, str]]:
    """context key -> (default, allowed) from README's configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in {"context key", "---"}:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def _number(x: float) -> str:
    return str(int(x)) if float(x) == int(x) else f"{x:g}"


def _documented_default(key: str) -> str | None:
    """How the README must spell a key's default (None: any parenthesised note, the key is unset by default)."""
    if key in _DERIVED:
        return _DERIVED[key]
    value = cfg.default_of(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return _number(value) if isinstance(value, int | float) else str(value)


def test_readme_table_lists_every_key_with_its_default():
    rows = _readme_table()
    assert set(rows) == set(cfg.context_keys())
    for key in cfg.context_keys():
        expected, documented = _documented_default(key), rows[key][0]
        if expected is None:
            assert documented.startswith("(") and documented.endswith(")"), (key, documented)
        else:
            assert documented == expected, (
                f"README says {key} defaults to {documented!r}; infra/config.py: {expected!r}"
            )


def test_readme_table_gives_every_range_and_choice():
    rows = _readme_table()
    ranges = {**cfg.RANGES, **cfg.OTHER_RANGES, **cfg.MODEL_RANGES}
    for key, (low, high) in ranges.items():
        assert rows[key][1].startswith(f"{_number(low)}..{_number(high)}"), (key, rows[key][1])
    for key, allowed in cfg.CHOICES.items():
        assert set(re.findall(r"`([^`]+)`", rows[key][1])) == set(allowed), (key, rows[key][1])


def test_an_environment_lambda_would_refuse_fails_the_synth_naming_its_largest_variable(layer_dir, tmp_path):
    """Lambda takes 4 KB of variables in all; a wide field mapping (an Adobe feed's 600 tsv_columns) went through
    synth and failed the deploy minutes in."""
    from infra.app import build_app
    from infra.components.python_function import check_environment_size

    check_environment_size("fine", {"A": "x" * 3000})
    with pytest.raises(ConfigError, match=re.escape("over Lambda's 4,096; the largest: A (3,001 B), B")):
        check_environment_size("too big", {"A": "x" * 3000, "B": "y" * 1100})
    mapping = {"user_key": "c0", "event_type": "c1", "time": "c2", "tsv_columns": [f"column_{i}" for i in range(600)]}
    with pytest.raises(ConfigError, match="CLICKGUARD_FIELD_MAPPING"):
        build_app(context={"layer_dir": layer_dir, "local": True, "field_mapping": mapping}, outdir=str(tmp_path))
