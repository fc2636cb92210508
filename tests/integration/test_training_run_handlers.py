"""The training run's three Lambda handlers on moto S3, invoked as the state machine invokes them: plan (the S3
listing of the window), the map's batches (each partition's objects read from S3, its partial written next to the
archive), the shard passes and the advances; the published model is the single-pass trainer's on the same bucket,
and the reduce reports as the trainer does (its metrics under the trainer's service)."""

from __future__ import annotations

import json
import sys

import pytest

from clickguard import settings
from clickguard.local.lambda_host import load_handler
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from clickguard.store.trainer import s3_trainer_ports
from clickguard.training.job import TrainingConfig, run_training
from tests.mapreduce_support import NOW, assert_same_model
from tests.unit.test_mapreduce_equality import _archive

BLOCKED = ["u1", "u2", "u3"]


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "training", 1024, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:training"


@pytest.fixture
def handlers(s3, bucket, monkeypatch):
    env = {
        settings.ENV_DATA_BUCKET: bucket,
        settings.ENV_MIN_SESSIONS: "3",
        settings.ENV_MIN_TOKEN_COUNT: "1",
        settings.ENV_MIN_EVENTS: "3",
        settings.ENV_TRAINING_SHARDS: "3",
        settings.ENV_SINGLE_PASS_MAX_MB: "0",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    for name, value in env.items():  # set here first, so the fixture's teardown restores what load_handler sets
        monkeypatch.setenv(name, value)
    loaded = {
        name: load_handler(settings.TRAINER_ASSET_DIR, handler, env, f"cg_test_training_{name}")
        for name, handler in (
            ("reduce", settings.TRAINING_REDUCE_HANDLER),
            ("map", settings.TRAINING_MAP_HANDLER),
            ("shard", settings.TRAINING_SHARD_HANDLER),
        )
    }
    yield loaded
    for name in loaded:
        sys.modules.pop(f"cg_test_training_{name}", None)


def _play(s3, bucket, handlers) -> dict:
    """The state machine's path through a distributed run."""
    plan = handlers["reduce"]({"step": "plan", "time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}, Context())
    assert plan["mode"] == "distributed"
    todo = json.loads(s3.get_object(Bucket=bucket, Key=plan["todo_key"])["Body"].read())
    for i in range(0, len(todo), 2):  # the ItemBatcher's batches
        handlers["map"]({"Items": todo[i : i + 2], "BatchInput": {"run": plan["run"]}}, Context())
    out = handlers["reduce"]({"step": "advance", "run": plan["run"]}, Context())
    while not out["done"]:
        for shard in out["shards"]:
            handlers["shard"]({"run": out["run"], "pass": out["pass"], "shard": shard}, Context())
        out = handlers["reduce"]({"step": "advance", "run": out["run"], "pass": out["pass"]}, Context())
    return out


def test_the_handlers_on_s3_publish_the_single_pass_model(s3, bucket, handlers, capsys):
    archive = _archive(seed=31, n_users=25, hours=5, flood=True)
    for key, body in archive.objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for user in BLOCKED:
        decision = {"user_key": user, "decision": "block", "decided_at": "2025-11-26T00:00:00Z"}
        s3.put_object(Bucket=bucket, Key=f"labels/{user}.ndjson", Body=json.dumps(decision).encode())
    done = _play(s3, bucket, handlers)
    assert done["status"] == "published"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    published = [doc for doc in emf if "ModelPublished" in doc]
    assert published and published[0]["service"] == settings.TRAINER_SERVICE  # POWERTOOLS_SERVICE_NAME unset here
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith(settings.PARTIALS_PREFIX) for k in keys)  # cached next to the archive
    models = S3Store(s3, bucket)
    distributed_model = artifact.load_latest(models)
    config = TrainingConfig.from_env(
        {settings.ENV_DATA_BUCKET: bucket, settings.ENV_MIN_SESSIONS: "3", settings.ENV_MIN_TOKEN_COUNT: "1",
         settings.ENV_MIN_EVENTS: "3"}
    )  # fmt: skip
    single = run_training(s3_trainer_ports(s3, config), config, NOW)
    assert single.version == done["version"] and single.stats["excluded_users"] == len(BLOCKED)
    assert_same_model(distributed_model, artifact.load_version(models, single.version))
