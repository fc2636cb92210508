"""The local stack plays its training run's state machine (issue 13): with the stack's single_pass_max_mb at 0 the
schedule's run maps the archive's hours and passes over the user shards on a process pool, with the emulator's S3
as archive, partial cache and model store, and publishes the model the single-pass trainer gives on the same
archive; a second run a day later maps only the new hours."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from clickguard import settings
from clickguard.local.runtime import LocalRuntime
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from clickguard.store.trainer import s3_trainer_ports
from clickguard.training.job import TrainingConfig, run_training
from tests.mapreduce_support import NOW, assert_same_model
from tests.unit.test_mapreduce_equality import _archive

pytestmark = pytest.mark.e2e


def test_the_local_runtime_plays_a_distributed_training_run(tmp_path):
    context = {"single_pass_max_mb": 0, "training_shards": 3, "min_sessions": 3, "min_token_count": 1, "min_events": 3}
    with LocalRuntime(tmp_path / "stack", context=context) as rt:
        h, s3 = rt.handles, rt.client("s3")
        for key, body in _archive(seed=41, n_users=60, hours=6, flood=True).objects.items():
            s3.put_object(Bucket=h.data_bucket, Key=key, Body=body)
        report = rt.run_training(NOW)
        assert report["status"] == "published"
        assert report["distributed"] == {"partitions": 6, "shards": 3, "mapped": 6, "cached": 0, "passes": 11}
        later = NOW + timedelta(days=1)
        s3.put_object(Bucket=h.data_bucket, Key=f"events/{later - timedelta(hours=1):%Y/%m/%d/%H}/new.gz",
                      Body=s3.get_object(Bucket=h.data_bucket, Key=sorted(
                          o["Key"] for o in s3.list_objects_v2(Bucket=h.data_bucket, Prefix="events/")["Contents"]
                      )[0])["Body"].read())  # fmt: skip
        again = rt.run_training(later)
        assert (again["distributed"]["mapped"], again["distributed"]["cached"]) == (1, 6)
        s3.create_bucket(Bucket="single-pass-models")  # the single pass publishes beside, not over, the run's model
        config = replace(TrainingConfig.from_env(rt.function_env or {}), model_bucket="single-pass-models")
        single = run_training(s3_trainer_ports(s3, config), config, NOW)
        assert single.version == report["version"]
        ours = artifact.load_version(S3Store(s3, h.model_bucket), report["version"])
        assert_same_model(ours, artifact.load_latest(S3Store(s3, "single-pass-models")))
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=h.data_bucket, Prefix=settings.PARTIALS_PREFIX)["Contents"]]
        assert keys  # the partials are cached next to the archive
