"""The state machine's steps played in order as Step Functions runs them (plan, the Distributed Map over partitions
in batches, advance and the map over shards until done): the model is the single pass's; a failed partition is
retried alone; a shard or an advance retried after a crash does the same work again or none; a small window goes to
the single-pass trainer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.training import steps
from clickguard.training.distributed import DistributedConfig, DistributedPorts
from tests.mapreduce_support import (
    NOW,
    PartitionedView,
    assert_same_model,
    distributed,
    single_pass,
    training_config,
)
from tests.training_support import FakeLabels, MemoryStore
from tests.unit.test_mapreduce_equality import _archive

CONFIG = training_config(ModelParams(min_token_count=1, min_events=3), min_sessions=3)
BATCH = 2  # partitions per map invocation (the ItemBatcher)


def _ports(archive, data: MemoryStore, models: MemoryStore, blocked=()) -> DistributedPorts:
    return DistributedPorts(PartitionedView(archive), data, FakeLabels(set(blocked)), models)


def _map_all(ports: DistributedPorts, data: MemoryStore, out: dict) -> list[list[int]]:
    """The Distributed Map over the plan's todo list, as the ItemReader and ItemBatcher deal it (a failed batch
    raises, as its Lambda task would, and Step Functions retries it)."""
    todo = json.loads(data.get(out["todo_key"]))
    batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
    for batch in batches:
        for _attempt in range(3):  # the task's Retry
            try:
                steps.map_step(ports.archive, data, out["run"], batch)
                break
            except OSError:
                continue
    return batches


def _passes(ports: DistributedPorts, data: MemoryStore, run: str, before_each=None) -> dict:
    out = steps.advance_step(ports, run, None)
    while not out["done"]:
        for shard in out["shards"]:
            steps.shard_step(data, run, out["pass"], shard)
        if before_each is not None:
            before_each(out)
        out = steps.advance_step(ports, run, out["pass"])
    return out


def test_the_state_machine_steps_train_the_single_pass_model_and_retry_a_partition_alone():
    archive = _archive(seed=21, n_users=25, hours=7, flood=True)
    data, models = MemoryStore(), MemoryStore()
    ports = _ports(archive, data, models, ["u1", "u2", "u3", "u4"])
    config = DistributedConfig(CONFIG, shards=4, single_pass_max_mb=0)
    out = steps.plan_step(ports, config, NOW)
    assert (out["mode"], out["to_map"], out["partitions"]) == ("distributed", 7, 7)
    victim = archive.partitions(NOW - timedelta(days=7), NOW)[3].objects[0][0]
    archive.fail_on.add(victim)
    _map_all(ports, data, out)
    assert archive.reads.count(victim) == 2  # the failed partition read again on the retry, the others once
    assert all(archive.reads.count(k) == 1 for k in archive.objects if k != victim)
    done = _passes(ports, data, out["run"])
    inline, _, _ = distributed(archive, CONFIG, 4, ["u1", "u2", "u3", "u4"])  # the same run in one process
    assert done["status"] == "published" and done["report"]["distributed"]["passes"] == inline.distributed["passes"]
    assert done["report"]["version"] == inline.version
    _, one_store = single_pass(archive, CONFIG, ["u1", "u2", "u3", "u4"])
    assert_same_model(artifact.load_latest(models), artifact.load_latest(one_store))


def test_a_repeated_execution_finds_its_run_and_redoes_nothing_but_the_publish_is_once():
    archive = _archive(seed=22, n_users=20, hours=4, flood=False)
    data, models = MemoryStore(), MemoryStore()
    ports = _ports(archive, data, models)
    config = DistributedConfig(CONFIG, shards=3, single_pass_max_mb=0)
    first = steps.plan_step(ports, config, NOW)
    _map_all(ports, data, first)
    _passes(ports, data, first["run"])
    writes = len(data.writes)
    again = steps.plan_step(ports, config, NOW)  # the same schedule's execution, started again
    assert again["run"] == first["run"] and again["to_map"] == 0
    skipped = [steps.shard_step(data, again["run"], 0, s)["skipped"] for s in range(3)]
    done = _passes(ports, data, again["run"])
    assert skipped == [True] * 3 and done["status"] == "published"
    assert models.writes.count("models/latest.json") == 1
    new = [k for k in data.writes[writes:] if "/shard-" in k]
    assert new == []  # no shard recomputed a result it had written


def test_an_advance_retried_after_a_crash_issues_the_same_pass():
    archive = _archive(seed=23, n_users=15, hours=3, flood=False)
    data = MemoryStore()
    ports = _ports(archive, data, MemoryStore())
    out = steps.plan_step(ports, DistributedConfig(CONFIG, shards=2, single_pass_max_mb=0), NOW)
    _map_all(ports, data, out)
    issued = steps.advance_step(ports, out["run"], None)
    for shard in issued["shards"]:
        steps.shard_step(data, out["run"], 0, shard)
    first = steps.advance_step(ports, out["run"], 0)
    request = data.get(f"training-runs/{out['run']}/pass-001/request.bin")
    second = steps.advance_step(ports, out["run"], 0)  # Step Functions' retry of the same task
    assert first == second and data.get(f"training-runs/{out['run']}/pass-001/request.bin") == request


@pytest.mark.parametrize(("max_mb", "mode"), [(1, "single"), (0, "distributed")])
def test_a_window_under_the_single_pass_size_goes_to_the_single_pass_trainer(max_mb, mode):
    archive = _archive(seed=24, n_users=10, hours=2, flood=False)
    data = MemoryStore()
    out = steps.plan_step(_ports(archive, data, MemoryStore()), DistributedConfig(CONFIG, 2, max_mb), NOW)
    assert out["mode"] == mode
    assert bool(data.blobs) == (mode == "distributed")  # the single pass writes no run
