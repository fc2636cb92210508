"""The training job and Lambda handler against moto S3 holding a Firehose-style archive."""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from datetime import UTC, datetime, timedelta

import pytest

from clickguard import settings
from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.store.blobs import S3Store
from clickguard.training.job import ConfigError, TrainingConfig, run_training
from tests.factories import ndjson, ordinary_events

NOW = datetime(2025, 11, 27, 3, 0, tzinfo=UTC)


def put_archive(s3, bucket, when: datetime, body: bytes, name: str = "obj") -> str:
    key = f"events/{when:%Y/%m/%d/%H}/clickguard-archive-1-{when:%Y-%m-%d-%H-%M-%S}-{name}.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body))
    return key


def config(bucket, **kw) -> TrainingConfig:
    return TrainingConfig(data_bucket=bucket, model_bucket=bucket, min_sessions=kw.pop("min_sessions", 20),
                          params=ModelParams(min_token_count=1), **kw)


@pytest.fixture
def archive(s3, bucket):
    """Two days of events in hourly folders, plus bad lines, concatenated records and noise outside the window."""
    events = ordinary_events(300, seed=11, t0_ms=int((NOW - timedelta(days=2)).timestamp() * 1000))
    half = len(events) // 2
    put_archive(s3, bucket, NOW - timedelta(days=2), ndjson(events[:half]), "a")
    body = ndjson(events[half:-10])
    body += b"not json at all\n" + b'{"user_id": "x"}\n' + b"\xff\xfe\n"
    body += b"".join(json.dumps(e).encode() for e in events[-10:]) + b"\n"  # Firehose without a delimiter
    put_archive(s3, bucket, NOW - timedelta(hours=5), body, "b")
    s3.put_object(Bucket=bucket, Key=f"events/{NOW - timedelta(hours=1):%Y/%m/%d/%H}/broken.gz", Body=b"not gzip")
    put_archive(s3, bucket, NOW - timedelta(days=9), ndjson(ordinary_events(50, seed=1)), "too-old")
    put_archive(s3, bucket, NOW + timedelta(hours=1), ndjson(ordinary_events(50, seed=2)), "future")
    return events


def test_publishes_a_model_from_the_window(s3, bucket, archive):
    store = S3Store(s3, bucket)
    report = run_training(s3, config(bucket), NOW, store)
    assert report.status == "published", report.reason
    assert report.objects_read == 3 and report.bad_objects == 1
    assert report.events == len(archive)
    assert report.rejected == {"not_json": 1, "missing_event_type": 1, "not_utf8": 1}
    assert report.window_start == "2025-11-20T03:00:00Z" and report.window_end == "2025-11-27T03:00:00Z"
    model = artifact.load_latest(store)
    assert model.version == report.version
    assert model.stats["events"] == len(archive) and model.stats["sessions"] >= 300
    assert 0 < model.thresholds.flag_rate < 0.05


def test_two_runs_publish_equal_models(s3, bucket, archive):
    store = S3Store(s3, bucket)
    first = run_training(s3, config(bucket), NOW, store)
    meta1 = s3.get_object(Bucket=bucket, Key=f"models/{first.version}/model.json")["Body"].read()
    second = run_training(s3, config(bucket), NOW, store)
    meta2 = s3.get_object(Bucket=bucket, Key=f"models/{second.version}/model.json")["Body"].read()
    assert first.version == second.version and meta1 == meta2


def test_too_little_data_keeps_the_previous_model(s3, bucket, archive):
    store = S3Store(s3, bucket)
    good = run_training(s3, config(bucket), NOW, store)
    later = NOW + timedelta(days=30)  # the window is empty by then
    skipped = run_training(s3, config(bucket), later, store)
    assert skipped.status == "skipped" and "no valid events" in skipped.reason
    thin = run_training(s3, config(bucket, min_sessions=10_000), NOW, store)
    assert thin.status == "skipped" and "fewer than the minimum of 10000" in thin.reason
    assert artifact.read_pointer(store)["version"] == good.version


def test_blocked_users_from_reviewer_labels_are_left_out(s3, bucket, archive):
    labels = [{"user_key": "user-1", "decision": "fraud", "decided_at": "2025-11-26T00:00:00Z"},
              {"user_key": "user-2", "decision": "fraud", "decided_at": "2025-11-25T00:00:00Z"},
              {"user_key": "user-2", "decision": "cleared", "decided_at": "2025-11-26T00:00:00Z"}]
    s3.put_object(Bucket=bucket, Key="labels/2025/11/26/reviews.ndjson", Body=ndjson(labels))
    report = run_training(s3, config(bucket), NOW, S3Store(s3, bucket))
    assert report.stats["excluded_users"] == 1
    assert report.stats["excluded_events"] == sum(1 for e in archive if e["user_id"] == "user-1")


def test_config_from_env_names_the_bad_setting():
    with pytest.raises(ConfigError, match=settings.ENV_DATA_BUCKET):
        TrainingConfig.from_env({})
    with pytest.raises(ConfigError, match=settings.ENV_WINDOW_DAYS):
        TrainingConfig.from_env({settings.ENV_DATA_BUCKET: "b", settings.ENV_WINDOW_DAYS: "seven"})
    with pytest.raises(ConfigError, match="mean_bits_quantile"):
        TrainingConfig.from_env({settings.ENV_DATA_BUCKET: "b", settings.ENV_MEAN_BITS_QUANTILE: "1.5"})
    cfg = TrainingConfig.from_env({settings.ENV_DATA_BUCKET: "b", settings.ENV_MIN_SESSIONS: "5"})
    assert cfg.model_bucket == "b" and cfg.min_sessions == 5


def test_scheduled_handler_publishes_and_emits_metrics(s3, bucket, archive, monkeypatch, capsys):
    monkeypatch.setenv(settings.ENV_DATA_BUCKET, bucket)
    monkeypatch.setenv(settings.ENV_MIN_SESSIONS, "20")
    monkeypatch.setenv(settings.ENV_MIN_TOKEN_COUNT, "1")
    sys.modules.pop("training.handler", None)
    handler = importlib.import_module("training.handler")
    event = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": "2025-11-27T03:00:00Z", "detail": {}}

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "trainer", 1024, "req-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:trainer"

    result = handler.lambda_handler(event, Context())
    assert result["status"] == "published"
    out = capsys.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for doc in emf for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ModelPublished", "EventsRead", "LinesRejected", "Sessions", "VocabularySize"} <= names
    assert artifact.read_pointer(S3Store(s3, bucket))["version"] == result["version"]
