"""The trainer's S3 adapters and Lambda handler against moto S3 holding a Firehose-style archive.

The job's logic is tested with in-memory fakes in ``tests/unit/test_trainer_pipeline_fakes.py``; here the same job
runs on the real adapters: hourly archive folders, bad objects, reviewer labels, and S3's conditional writes on
``latest.json`` (moto 5.2 enforces ``IfMatch`` and ``IfNoneMatch="*"`` on PutObject).
"""

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
from clickguard.store.blobs import ConditionalWriteFailed, S3Store
from clickguard.store.trainer import s3_trainer_ports
from clickguard.training.job import ConfigError, TrainingConfig, run_training
from tests.factories import ndjson, ordinary_events

NOW = datetime(2025, 11, 27, 3, 0, tzinfo=UTC)


def put_archive(s3, bucket, when: datetime, body: bytes, name: str = "obj") -> str:
    key = f"events/{when:%Y/%m/%d/%H}/clickguard-archive-1-{when:%Y-%m-%d-%H-%M-%S}-{name}.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body))
    return key


def config(bucket, **kw) -> TrainingConfig:
    return TrainingConfig(
        data_bucket=bucket,
        model_bucket=bucket,
        min_sessions=kw.pop("min_sessions", 20),
        params=ModelParams(min_token_count=1),
        **kw,
    )


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


def train_on_s3(s3, cfg: TrainingConfig, now: datetime = NOW):
    return run_training(s3_trainer_ports(s3, cfg), cfg, now)


def test_publishes_a_model_from_the_window(s3, bucket, archive):
    store = S3Store(s3, bucket)
    report = train_on_s3(s3, config(bucket))
    assert report.status == "published", report.reason
    assert report.objects_read == 3 and report.bad_objects == 1
    assert report.events == len(archive)
    assert report.rejected == {"not_json": 1, "missing_event_type": 1, "not_utf8": 1}
    assert report.window_start == "2025-11-20T03:00:00Z" and report.window_end == "2025-11-27T03:00:00Z"
    model = artifact.load_latest(store)
    assert model.version == report.version
    assert model.stats["events"] == len(archive) and model.stats["sessions"] >= 300
    assert 0 < model.thresholds.flag_rate < 0.05


def test_trailing_garbage_after_a_gzip_object_keeps_its_valid_lines(s3, bucket):
    events = ordinary_events(300, seed=12, t0_ms=int((NOW - timedelta(days=1)).timestamp() * 1000))
    half = len(events) // 2
    put_archive(s3, bucket, NOW - timedelta(days=1), ndjson(events[:half]), "clean")
    key = f"events/{NOW - timedelta(hours=3):%Y/%m/%d/%H}/garbage-tail.gz"
    body = gzip.compress(ndjson(events[half:])) + b"\x00\x00garbage, not a gzip member"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    report = train_on_s3(s3, config(bucket))
    assert report.status == "published", report.reason
    assert report.events == len(events) and report.cut_objects == 1 and report.bad_objects == 0


def test_two_runs_publish_equal_models(s3, bucket, archive):
    first = train_on_s3(s3, config(bucket))
    meta1 = s3.get_object(Bucket=bucket, Key=f"models/{first.version}/model.json")["Body"].read()
    second = train_on_s3(s3, config(bucket))
    meta2 = s3.get_object(Bucket=bucket, Key=f"models/{second.version}/model.json")["Body"].read()
    assert first.version == second.version and meta1 == meta2
    assert second.status == "published" and second.latest == first.version  # already current: nothing to move


def test_a_late_run_for_an_earlier_window_leaves_the_newer_model(s3, bucket, archive):
    newer = train_on_s3(s3, config(bucket), NOW)
    late = train_on_s3(s3, config(bucket), NOW - timedelta(hours=1))  # the previous hour's run, finishing last
    assert newer.status == "published" and late.status == "superseded"
    assert late.latest == newer.version and "must end after 2025-11-27T03:00:00Z" in late.reason
    pointer = artifact.read_pointer(S3Store(s3, bucket))
    assert pointer["version"] == newer.version and pointer["window_end"] == "2025-11-27T03:00:00Z"


def test_s3_put_if_is_enforced(s3, bucket):
    """The adapter maps S3's 412 (and IfMatch on a vanished key, 404) to ConditionalWriteFailed."""
    store = S3Store(s3, bucket)
    store.put_if("k", b"1", None)
    with pytest.raises(ConditionalWriteFailed):
        store.put_if("k", b"2", None)
    tag = store.get_versioned("k").etag
    with pytest.raises(ConditionalWriteFailed):
        store.put_if("k", b"2", '"0123456789abcdef0123456789abcdef"')
    store.put_if("k", b"2", tag)
    assert store.get("k") == b"2"
    with pytest.raises(ConditionalWriteFailed):
        store.put_if("gone", b"x", tag)


def test_a_rival_write_between_read_and_write_is_retried_on_s3(s3, bucket, archive):
    """A second trainer moves latest.json after this one read it: S3 refuses the stale write, the job re-reads,
    sees the rival's later window and leaves it."""
    store = S3Store(s3, bucket)
    rival = train_on_s3(s3, config(bucket), NOW + timedelta(hours=1))
    s3.put_object(Bucket=bucket, Key=settings.LATEST_POINTER_KEY, Body=b"{}")  # unreadable: replaceable by anyone
    stale_tag = store.get_versioned(settings.LATEST_POINTER_KEY).etag
    real_put = s3.put_object
    calls = []

    def rival_first(**kw):
        if kw.get("IfMatch") == stale_tag and not calls:
            calls.append(kw["Key"])
            artifact.rollback_to(store, rival.version)  # the rival's pointer lands first
        return real_put(**kw)

    s3.put_object = rival_first
    try:
        report = train_on_s3(s3, config(bucket), NOW)
    finally:
        s3.put_object = real_put
    assert calls == [settings.LATEST_POINTER_KEY]
    assert report.status == "superseded" and report.latest == rival.version
    assert artifact.read_pointer(store)["version"] == rival.version


def test_blocked_users_from_reviewer_labels_are_left_out(s3, bucket, archive):
    labels = [
        {"user_key": "user-1", "decision": "fraud", "decided_at": "2025-11-26T00:00:00Z"},
        {"user_key": "user-2", "decision": "fraud", "decided_at": "2025-11-25T00:00:00Z"},
        {"user_key": "user-2", "decision": "cleared", "decided_at": "2025-11-26T00:00:00Z"},
    ]
    s3.put_object(Bucket=bucket, Key="labels/2025/11/26/reviews.ndjson", Body=ndjson(labels))
    report = train_on_s3(s3, config(bucket))
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
    event = {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2025-11-27T03:00:00Z",
        "detail": {},
    }

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
