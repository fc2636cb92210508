"""Shared by the distributed trainer's tests: an in-memory archive that both trainers read (the single pass by window,
the map by partition), and the run of either on it."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from clickguard.model.model import Model, ModelParams
from clickguard.training.distributed import (
    DistributedConfig,
    DistributedPorts,
    InlineExecutor,
    Partials,
    run_distributed,
)
from clickguard.training.job import TrainingConfig, TrainingReport, run_training
from clickguard.training.partials import Partition, decompressed
from clickguard.training.ports import ArchiveStats, TrainerPorts
from tests.training_support import FakeLabels, MemoryStore

NOW = datetime(2025, 11, 27, 3, 0, tzinfo=UTC)
PREFIX = "events/"


def hour_folder(when: datetime) -> str:
    return f"{when:%Y/%m/%d/%H}"


@dataclass
class MemoryArchive:
    """Objects by key (``events/YYYY/MM/DD/HH/name``), as S3 lists them: both ``ArchiveReader`` (the single pass)
    and ``PartitionedArchive`` (the map). ``fail_on`` makes reading that key raise once (a crashed map)."""

    objects: dict[str, bytes] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)

    def put(self, when: datetime, name: str, body: bytes) -> str:
        key = f"{PREFIX}{hour_folder(when)}/{name}"
        self.objects[key] = body
        return key

    def _keys(self, start: datetime, end: datetime) -> list[str]:
        lo, hi = f"{PREFIX}{hour_folder(start)}/", f"{PREFIX}{hour_folder(end + timedelta(hours=1))}/"
        return sorted(k for k in self.objects if lo <= k < hi)

    def bodies(self, start: datetime, end: datetime, stats: ArchiveStats) -> Iterator[bytes]:
        for key in self._keys(start, end):
            data = decompressed(key, self.objects[key], stats)
            if data is not None:
                yield data

    def partitions(self, start: datetime, end: datetime) -> list[Partition]:
        hours: dict[str, list[str]] = {}
        for key in self._keys(start, end):
            hours.setdefault(key[len(PREFIX) : len(PREFIX) + 13], []).append(key)
        return [
            Partition(
                hour,
                tuple((k, hashlib.md5(self.objects[k]).hexdigest()) for k in keys),
                sum(len(self.objects[k]) for k in keys),
            )
            for hour, keys in sorted(hours.items())
        ]

    def objects_of(self, partition: Partition) -> Iterator[tuple[str, bytes]]:
        for key, _ in partition.objects:
            self.reads.append(key)
            if key in self.fail_on:
                self.fail_on.discard(key)
                raise OSError(f"lost the connection reading {key}")
            yield key, self.objects[key]


class PartitionedView:
    """The archive's ``PartitionedArchive`` face (its ``objects`` attribute is the dict of bodies)."""

    def __init__(self, archive: MemoryArchive) -> None:
        self.archive = archive

    def partitions(self, start: datetime, end: datetime) -> list[Partition]:
        return self.archive.partitions(start, end)

    def objects(self, partition: Partition) -> Iterator[tuple[str, bytes]]:
        return self.archive.objects_of(partition)


def lines_of(events: list[dict]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


def gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(line + b"\n" for line in lines))


def training_config(params: ModelParams | None = None, min_sessions: int = 5, **kw) -> TrainingConfig:
    return TrainingConfig(
        data_bucket="data", model_bucket="models", min_sessions=min_sessions, params=params or ModelParams(), **kw
    )


def single_pass(archive: MemoryArchive, config: TrainingConfig, blocked=(), now: datetime = NOW):
    models = MemoryStore()
    report = run_training(TrainerPorts(archive, FakeLabels(set(blocked)), models), config, now)
    return report, models


def distributed(
    archive: MemoryArchive,
    config: TrainingConfig,
    shards: int,
    blocked=(),
    now: datetime = NOW,
    partials: MemoryStore | None = None,
    models: MemoryStore | None = None,
) -> tuple[TrainingReport, MemoryStore, MemoryStore]:
    models = models if models is not None else MemoryStore()
    partials = partials if partials is not None else MemoryStore()
    dconfig = DistributedConfig(config, shards=shards)
    view = PartitionedView(archive)
    ports = DistributedPorts(view, partials, FakeLabels(set(blocked)), models)
    executor = InlineExecutor(view, Partials(partials, dconfig.layout))
    return run_distributed(ports, dconfig, now, executor), models, partials


def assert_same_model(a: Model, b: Model) -> None:
    """Every field equal, arrays bit for bit: vocabulary, counts, thresholds, detector and behaviour groups."""
    for name in vars(a):
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        else:
            assert x == y, name
