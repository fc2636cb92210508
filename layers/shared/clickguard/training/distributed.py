"""Distributed training (issue 13) as one run: list the window's partitions, map those not cached yet, run the
passes over the user shards until the reduce has the model, publish as the single pass does.

Where each part runs is an ``Executor``: ``InlineExecutor`` here (one process, for tests and small runs), a process
pool on one machine (``clickguard.local.training_pool``), or Lambda functions under a Step Functions state machine
(``training/map_handler.py``, ``shard_handler.py``, ``reduce_handler.py``), which call the same functions
(``map_cached``, ``shards.prepare``/``run_pass``, ``mapreduce.advance``) with the run's state in S3 between steps.

Cost model (per run, a window of E events in P hour partitions, U users, J judged sessions, S shards):

* map: each partition not cached is read and decoded once (the archive's gzip NDJSON, about 1 / decode rate per
  event); its partial (about 30 bytes per event) is written next to the archive and read by every later run whose
  window holds it: a daily run of a 7-day window maps 1/7 of it;
* passes: ``mapreduce.STAGES`` (8 without labels): each shard loads its P blocks (E / S events) and recomputes what
  the pass needs with the trainer's own per-user functions, so every pass costs what one of the single pass's
  steps costs, divided by S and run S at a time;
* reduce: sums and gathers, O(J) floats (the tail tables and the calibration are fitted on every judged session,
  exactly) and O(U) per-user numbers, never O(E).

A run is resumable: a partition's partial is written block by block and its summary last, so an interrupted map is
redone and a finished one is read back; a pass depends only on the partials and the request, so a failed shard is
run again alone; the model's version is a digest of its content and the publish moves ``latest.json`` with a
compare-and-swap (``model.artifact``), so a run repeated after a crash publishes the same model once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from clickguard import settings
from clickguard.envconfig import ConfigError, number
from clickguard.model import artifact
from clickguard.model.ports import BlobNotFound, BlobStore
from clickguard.training import mapreduce, shards
from clickguard.training.job import TrainingConfig, TrainingReport, iso, record_publication
from clickguard.training.partials import Block, Layout, Partition, Summary, map_partition
from clickguard.training.pipeline import InsufficientData
from clickguard.training.ports import LabelReader

MB = 1 << 20


class PartitionLister(Protocol):
    """The archive by partition: what the plan lists."""

    def partitions(self, start: datetime, end: datetime) -> list[Partition]:
        """Every hour folder from that of ``start`` through that of ``end`` holding objects, in key order, each with
        its objects' keys, entity tags and total size."""
        ...


class PartitionReader(Protocol):
    """A partition's objects: what the map reads."""

    def objects(self, partition: Partition) -> Iterator[tuple[str, bytes]]:
        """``(key, body as stored)`` of each of the partition's objects, in key order."""
        ...


class PartitionedArchive(PartitionLister, PartitionReader, Protocol):
    """Both (one machine's archive; on AWS the plan and the map are separate functions with separate roles)."""


@dataclass(frozen=True)
class DistributedPorts:
    archive: PartitionLister
    partials: BlobStore  # the data bucket: partials (and a Step Functions run's state) next to the archive
    labels: LabelReader
    models: BlobStore


@dataclass(frozen=True)
class DistributedConfig:
    training: TrainingConfig
    shards: int = settings.DEFAULT_TRAINING_SHARDS
    single_pass_max_mb: int = settings.DEFAULT_SINGLE_PASS_MAX_MB

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DistributedConfig:
        low, high = settings.TRAINING_SHARDS_RANGE
        shards = number(env, settings.ENV_TRAINING_SHARDS, settings.DEFAULT_TRAINING_SHARDS, int, low)
        if shards > high:
            raise ConfigError(f"environment variable {settings.ENV_TRAINING_SHARDS}={shards} must be <= {high}")
        max_mb = number(env, settings.ENV_SINGLE_PASS_MAX_MB, settings.DEFAULT_SINGLE_PASS_MAX_MB, int, 0)
        return cls(TrainingConfig.from_env(env), shards, max_mb)

    @property
    def layout(self) -> Layout:
        return Layout(self.shards, self.training.user_key_source)


class Partials:
    """The partial cache over a blob store (``Layout`` names the keys)."""

    def __init__(self, store: BlobStore, layout: Layout) -> None:
        self.store, self.layout = store, layout

    def summary(self, partition: Partition) -> Summary | None:
        try:
            return Summary.decode(self.store.get(self.layout.summary_key(partition)))
        except BlobNotFound:
            return None

    def put(self, partition: Partition, partial: EncodedPartial) -> None:
        """The blocks, then the summary: a summary is only ever read beside all its blocks."""
        summary, blocks = partial
        for shard, block in sorted(blocks.items()):
            self.store.put(self.layout.block_key(partition, shard), block)
        self.store.put(self.layout.summary_key(partition), summary)

    def shard_blocks(
        self, partitions: Sequence[Partition], summaries: Sequence[Summary], shard: int
    ) -> list[tuple[int, bytes]]:
        """The shard's block of each partition that has one (encoded), with the partition's ordinal in the window."""
        return [
            (i, self.store.get(self.layout.block_key(p, shard)))
            for i, (p, s) in enumerate(zip(partitions, summaries, strict=True))
            if shard in s.shards
        ]


EncodedPartial = tuple[bytes, dict[int, bytes]]  # a partition's summary and its blocks by shard, encoded


def map_encoded(objects: Iterable[tuple[str, bytes]], layout: Layout) -> EncodedPartial:
    """``partials.map_partition``, encoded for the cache."""
    summary, blocks = map_partition(objects, layout.user_key_source, layout.shards)
    return summary.encode(), {shard: block.encode() for shard, block in blocks.items()}


def map_cached(archive: PartitionReader, partials: Partials, partition: Partition) -> bool:
    """Map the partition unless its partial is cached; whether it was mapped now."""
    if partials.summary(partition) is not None:
        return False
    partials.put(partition, map_encoded(archive.objects(partition), partials.layout))
    return True


def prepared_shard(
    partials: Partials, spec: mapreduce.RunSpec, summaries: Sequence[Summary], shard: int
) -> shards.Prepared:
    """One shard of the run, loaded from the cache and prepared (``shards.prepare``)."""
    blocks = [(i, Block.decode(b)) for i, b in partials.shard_blocks(spec.partitions, summaries, shard)]
    return shards.prepare(*shards.load(blocks), spec.blocked, spec.params)


class Executor(Protocol):
    """Where the map and the shard passes run."""

    def map_partitions(self, partitions: Sequence[Partition]) -> None:
        """Compute and cache the partials of ``partitions`` (none of them cached)."""
        ...

    def open(self, spec: mapreduce.RunSpec, summaries: Sequence[Summary]) -> None:
        """Make every shard of the run ready for passes."""
        ...

    def run_pass(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """The pass on every shard: one result per shard, in shard order."""
        ...

    def close(self) -> None: ...


class InlineExecutor:
    """Everything in this process, one shard after the other (each shard prepared once per run)."""

    def __init__(self, archive: PartitionReader, partials: Partials) -> None:
        self.archive, self.partials = archive, partials
        self._shards: list[shards.Prepared] = []

    def map_partitions(self, partitions: Sequence[Partition]) -> None:
        for p in partitions:
            map_cached(self.archive, self.partials, p)

    def open(self, spec: mapreduce.RunSpec, summaries: Sequence[Summary]) -> None:
        self._shards = [prepared_shard(self.partials, spec, summaries, s) for s in range(spec.layout.shards)]

    def run_pass(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        return [shards.run_pass(p, request) for p in self._shards]

    def close(self) -> None:
        self._shards = []


@dataclass(frozen=True)
class Plan:
    """A run's window and its partitions, and which of them are not cached yet."""

    start: datetime
    end: datetime
    partitions: tuple[Partition, ...]
    todo: tuple[Partition, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.partitions)


def plan(archive: PartitionLister, partials: Partials, window_days: int, now: datetime) -> Plan:
    end = now.astimezone(UTC)
    start = end - timedelta(days=window_days)
    partitions = tuple(archive.partitions(start, end))
    todo = tuple(p for p in partitions if partials.summary(p) is None)
    return Plan(start, end, partitions, todo)


def single_pass_fits(config: DistributedConfig, window: Plan) -> bool:
    """Small windows still train in one pass (one function, no partials written)."""
    return window.size <= config.single_pass_max_mb * MB


def run_spec(config: DistributedConfig, window: Plan, blocked: set[str]) -> mapreduce.RunSpec:
    t = config.training
    return mapreduce.RunSpec(
        window_start=iso(window.start),
        window_end=iso(window.end),
        created_at=iso(window.end),
        params=t.params,
        min_sessions=t.min_sessions,
        layout=config.layout,
        partitions=window.partitions,
        blocked=tuple(sorted(blocked)),
    )


def report_of(spec: mapreduce.RunSpec, summaries: Sequence[Summary]) -> TrainingReport:
    """The run's report before it trains: the window and what its partitions' maps read."""
    rejected: dict[str, int] = {}
    for s in summaries:
        for reason, n in s.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    return TrainingReport(
        status="skipped",
        reason="",
        version=None,
        window_start=spec.window_start,
        window_end=spec.window_end,
        objects_read=sum(s.objects for s in summaries),
        bad_objects=sum(s.bad_objects for s in summaries),
        cut_objects=sum(s.cut_objects for s in summaries),
        lines=sum(s.lines for s in summaries),
        events=sum(s.events for s in summaries),
        rejected=dict(sorted(rejected.items())),
        stats={},
        thresholds=None,
        seconds={},
        distributed={"partitions": len(spec.partitions), "shards": spec.layout.shards},
    )


def train_passes(executor: Executor, state: mapreduce.RunState, summaries: Sequence[Summary]) -> int:
    """Every pass of the run (``mapreduce.advance`` deciding each next one); the passes run."""
    executor.open(state.spec, summaries)
    request: dict[str, Any] | None = mapreduce.first_request(state)
    passes = 0
    while request is not None:
        results = executor.run_pass(request)
        passes += 1
        request = mapreduce.advance(state, results, summaries if passes == 1 else ())
    return passes


def run_distributed(
    ports: DistributedPorts, config: DistributedConfig, now: datetime, executor: Executor, window: Plan | None = None
) -> TrainingReport:
    """Train on ``[now - window_days, now)`` as a map over its partitions and passes over user shards; publish."""
    t0 = time.perf_counter()
    partials = Partials(ports.partials, config.layout)
    window = window or plan(ports.archive, partials, config.training.window_days, now)
    executor.map_partitions(window.todo)
    t1 = time.perf_counter()
    summaries = [partials.summary(p) for p in window.partitions]
    if any(s is None for s in summaries):
        raise RuntimeError("a partition's partial is missing after the map")
    done = [s for s in summaries if s is not None]
    state = mapreduce.RunState(run_spec(config, window, ports.labels.blocked_users()))
    report = report_of(state.spec, done)
    assert report.distributed is not None
    report.distributed.update(mapped=len(window.todo), cached=len(window.partitions) - len(window.todo))
    report.seconds["map"] = round(t1 - t0, 3)
    try:
        report.distributed["passes"] = train_passes(executor, state, done)
    except InsufficientData as exc:
        report.reason = str(exc)
    else:
        model = mapreduce.model_of(state)
        record_publication(report, model, artifact.publish(ports.models, model))
    finally:
        executor.close()
    report.seconds["train"] = round(time.perf_counter() - t1, 3)
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    return report
