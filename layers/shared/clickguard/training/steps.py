"""Distributed training as the steps of a Step Functions state machine (issue 13): what each Lambda of the run does,
with everything a step leaves for the next in S3 (``RunStore``), so any step can be retried or the execution redriven.

The state machine (``infra/components/training_map.py``):

1. ``plan`` (the reduce function): list the window's partitions; a window of at most ``single_pass_max_mb`` trains in
   the single-pass trainer function; otherwise write the run's spec and the list of partitions not cached yet;
2. a Distributed Map over that list (``map_step``, batches of partitions, bounded concurrency): each partition
   mapped unless cached;
3. ``advance`` (the reduce function): take the last pass's results and decide the next pass (``mapreduce.advance``),
   or publish;
4. a Distributed Map over the shards (``shard_step``): the pass on one shard; then back to 3.

A run is named by a digest of its spec (window, partitions as listed, parameters, layout, blocked users), so a
repeated execution of the same schedule finds the same run. Every step is idempotent: a partition whose summary is
cached is not mapped again, a shard whose result is written is not run again, ``advance`` after pass ``k`` reads the
state it wrote when it issued pass ``k`` and writes the same next request, and the publish is conditional
(``model.artifact``): a crash anywhere loses at most the step it hit, and the model is published once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickguard import settings
from clickguard.model import artifact
from clickguard.model.ports import BlobNotFound, BlobStore
from clickguard.training import codec, mapreduce, shards
from clickguard.training.distributed import (
    DistributedConfig,
    DistributedPorts,
    Partials,
    PartitionReader,
    map_cached,
    plan,
    prepared_shard,
    report_of,
    run_spec,
    single_pass_fits,
)
from clickguard.training.job import record_publication
from clickguard.training.partials import Summary
from clickguard.training.pipeline import InsufficientData

MODE_SINGLE = "single"
MODE_DISTRIBUTED = "distributed"


@dataclass(frozen=True)
class RunStore:
    """A run's files under ``training-runs/<run>/`` in the data bucket."""

    store: BlobStore
    run: str
    prefix: str = settings.TRAINING_RUNS_PREFIX

    def key(self, name: str) -> str:
        return f"{self.prefix}{self.run}/{name}"

    def put(self, name: str, value: Any) -> None:
        self.store.put(self.key(name), codec.encode(value))

    def get(self, name: str) -> Any:
        return codec.decode(self.store.get(self.key(name)))

    def has(self, name: str) -> bool:
        try:
            self.store.get(self.key(name))
        except BlobNotFound:
            return False
        return True

    def spec(self) -> mapreduce.RunSpec:
        return mapreduce.RunSpec.from_dict(self.get("spec.bin"))

    def summaries(self) -> list[Summary]:
        return [Summary(**s) for s in self.get("summaries.bin")]


def run_name(spec: mapreduce.RunSpec) -> str:
    digest = hashlib.sha256(json.dumps(spec.as_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return f"{spec.window_end.replace('-', '').replace(':', '')}-{digest}"


def plan_step(ports: DistributedPorts, config: DistributedConfig, now: datetime) -> dict[str, Any]:
    """List the window; the single pass for a small one, else the run's spec and its list of partitions to map."""
    partials = Partials(ports.partials, config.layout)
    window = plan(ports.archive, partials, config.training.window_days, now)
    if single_pass_fits(config, window):
        return {"mode": MODE_SINGLE, "bytes": window.size}
    spec = run_spec(config, window, ports.labels.blocked_users())
    run = RunStore(ports.partials, run_name(spec))
    run.put("spec.bin", spec.as_dict())
    todo = {p.digest for p in window.todo}
    indices = [i for i, p in enumerate(spec.partitions) if p.digest in todo]
    ports.partials.put(run.key("todo.json"), json.dumps(indices).encode(), "application/json")
    return {
        "mode": MODE_DISTRIBUTED,
        "run": run.run,
        "todo_key": run.key("todo.json"),
        "to_map": len(indices),
        "partitions": len(spec.partitions),
        "bytes": window.size,
    }


def map_step(archive: PartitionReader, store: BlobStore, run: str, indices: list[int]) -> dict[str, Any]:
    """Map each listed partition of the run not cached yet (a retried batch skips those already done)."""
    spec = RunStore(store, run).spec()
    partials = Partials(store, spec.layout)
    mapped = sum(map_cached(archive, partials, spec.partitions[i]) for i in indices)
    return {"mapped": mapped, "cached": len(indices) - mapped}


def shard_step(store: BlobStore, run: str, pass_no: int, shard: int) -> dict[str, Any]:
    """One shard's part of pass ``pass_no``; nothing to do when its result is already written."""
    files = RunStore(store, run)
    name = f"pass-{pass_no:03d}/shard-{shard:04d}.bin"
    if files.has(name):
        return {"shard": shard, "skipped": True}
    spec = files.spec()
    prepared = prepared_shard(Partials(store, spec.layout), spec, files.summaries(), shard)
    files.put(name, shards.run_pass(prepared, files.get(f"pass-{pass_no:03d}/request.bin")))
    return {"shard": shard, "skipped": False}


def _issue(files: RunStore, state: mapreduce.RunState, request: dict[str, Any], pass_no: int) -> dict[str, Any]:
    files.put(f"pass-{pass_no:03d}/request.bin", request)
    files.put(f"state-{pass_no:03d}.bin", state.as_dict())
    return {
        "mode": MODE_DISTRIBUTED,
        "run": files.run,
        "done": False,
        "pass": pass_no,
        "stage": request["pass"],
        "shards": list(range(state.spec.layout.shards)),
    }


def _summaries(ports: DistributedPorts, spec: mapreduce.RunSpec, run: str) -> list[Summary]:
    partials = Partials(ports.partials, spec.layout)
    out = []
    for p in spec.partitions:
        summary = partials.summary(p)
        if summary is None:
            raise RuntimeError(f"run {run}: the partial of {p.hour} is missing after the map")
        out.append(summary)
    return out


def advance_step(ports: DistributedPorts, run: str, finished: int | None) -> dict[str, Any]:
    """After the map (``finished`` None) or pass ``finished``: issue the next pass, or publish the model."""
    t0 = time.perf_counter()
    files = RunStore(ports.partials, run)
    spec = files.spec()
    if finished is None:
        files.put("summaries.bin", [vars(s) for s in _summaries(ports, spec, run)])
        state = mapreduce.RunState(spec)
        return _issue(files, state, mapreduce.first_request(state), 0)
    state = mapreduce.RunState.from_dict(files.get(f"state-{finished:03d}.bin"))
    results = [files.get(f"pass-{finished:03d}/shard-{s:04d}.bin") for s in range(spec.layout.shards)]
    try:
        request = mapreduce.advance(state, results, files.summaries() if finished == 0 else [])
    except InsufficientData as exc:
        return _done(ports, files, None, str(exc), finished + 1, t0)
    if request is not None:
        return _issue(files, state, request, finished + 1)
    return _done(ports, files, state, "", finished + 1, t0)


def _done(
    ports: DistributedPorts, files: RunStore, state: mapreduce.RunState | None, reason: str, passes: int, t0: float
) -> dict[str, Any]:
    """Publish (conditionally: ``artifact.publish``) and report as the single-pass trainer does."""
    report = report_of(files.spec(), files.summaries())
    report.reason = reason
    if state is not None:
        model = mapreduce.model_of(state)
        record_publication(report, model, artifact.publish(ports.models, model))
    assert report.distributed is not None
    report.distributed["passes"] = passes
    report.seconds["reduce"] = round(time.perf_counter() - t0, 3)
    out = report.as_dict()
    files.store.put(files.key("report.json"), json.dumps(out, default=str).encode(), "application/json")
    return {"mode": MODE_DISTRIBUTED, "run": files.run, "done": True, "status": report.status, "report": out}
