"""The distributed trainer on a process pool (``clickguard train`` and the local stack on every core): worker
processes compute, the parent reads and writes; the model is the single pass's, from an archive directory too."""

from __future__ import annotations

from datetime import timedelta

from clickguard.local.dir_archive import DirArchive
from clickguard.local.training_pool import PoolExecutor
from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.store.blobs import LocalDirStore
from clickguard.training.distributed import DistributedConfig, DistributedPorts, Partials, run_distributed
from tests.mapreduce_support import NOW, PartitionedView, assert_same_model, single_pass, training_config
from tests.training_support import FakeLabels, MemoryStore
from tests.unit.test_mapreduce_equality import _archive

CONFIG = training_config(ModelParams(min_token_count=1, min_events=3), min_sessions=3)


def _pool_run(archive, partials, models, blocked=()):
    dconfig = DistributedConfig(CONFIG, shards=5)
    executor = PoolExecutor(archive, Partials(partials, dconfig.layout), workers=2)
    return run_distributed(
        DistributedPorts(archive, partials, FakeLabels(set(blocked)), models), dconfig, NOW, executor
    )


def test_a_pool_of_workers_trains_the_single_pass_model_and_reuses_its_partials():
    memory = _archive(seed=7, n_users=25, hours=6, flood=True)
    blocked = ["u1", "u2", "u3"]
    partials, models = MemoryStore(), MemoryStore()
    first = _pool_run(PartitionedView(memory), partials, models, blocked)
    again = _pool_run(PartitionedView(memory), partials, MemoryStore(), blocked)
    _, one_store = single_pass(memory, CONFIG, blocked)
    assert first.status == again.status == "published" and again.version == first.version
    assert (first.distributed["mapped"], again.distributed["mapped"]) == (6, 0)
    assert_same_model(artifact.load_latest(models), artifact.load_latest(one_store))


def test_an_archive_directory_trains_the_same_model_in_one_pass_and_on_a_pool(tmp_path):
    memory = _archive(seed=8, n_users=20, hours=4, flood=False)
    for key, body in memory.objects.items():  # the same objects, as files laid out as the archive
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(body)
    folder = DirArchive(tmp_path)
    assert [p.hour for p in folder.partitions(NOW - timedelta(days=7), NOW)] == [
        p.hour for p in memory.partitions(NOW - timedelta(days=7), NOW)
    ]
    report = _pool_run(folder, LocalDirStore(tmp_path / "partials"), LocalDirStore(tmp_path / "models"))
    _, one_store = single_pass(folder, CONFIG)
    assert_same_model(artifact.load_latest(LocalDirStore(tmp_path / "models")), artifact.load_latest(one_store))
    assert report.objects_read == len(memory.objects)
