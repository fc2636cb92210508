"""Shared by the trainer's tests: in-memory fakes of its ports (archive, labels, model store) and small windows."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clickguard.model.model import ModelParams
from clickguard.model.ports import OCTET_STREAM, BlobNotFound, ConditionalWriteFailed, VersionedBlob
from clickguard.training.job import TrainingConfig
from clickguard.training.ports import ArchiveStats, TrainerPorts
from tests.factories import ndjson, ordinary_events

NOW = datetime(2025, 11, 27, 3, 0, tzinfo=UTC)


@dataclass
class MemoryStore:
    """A ``BlobStore`` in a dict that enforces ``put_if`` as S3 does: every write gets a fresh entity tag.

    ``before_put_if`` runs just before each conditional write is checked: a test uses it to slip in a rival
    writer between this writer's read and its write, the race the compare-and-swap exists for.
    """

    blobs: dict[str, bytes] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    conditional_failures: int = 0
    before_put_if: Callable[[str], None] | None = None
    _tags: Iterator[int] = field(default_factory=itertools.count)

    def get(self, key: str) -> bytes:
        return self.get_versioned(key).data

    def get_versioned(self, key: str) -> VersionedBlob:
        if key not in self.blobs:
            raise BlobNotFound(key)
        return VersionedBlob(self.blobs[key], self.etags[key])

    def put(self, key: str, data: bytes, content_type: str = OCTET_STREAM) -> None:
        self.blobs[key] = bytes(data)
        self.etags[key] = f'"e{next(self._tags)}"'
        self.writes.append(key)

    def put_if(self, key: str, data: bytes, expected_etag: str | None, content_type: str = OCTET_STREAM) -> None:
        if self.before_put_if is not None:
            hook, self.before_put_if = self.before_put_if, None  # once: the rival writes, then this writer retries
            hook(key)
        if self.etags.get(key) != expected_etag:
            self.conditional_failures += 1
            raise ConditionalWriteFailed(key)
        self.put(key, data, content_type)

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.blobs if k.startswith(prefix))

    def describe(self) -> str:
        return "memory://"


@dataclass
class FakeArchive:
    """Archive objects as ``(written_at, gzip body)``; a body that is not gzip counts as a bad object."""

    objects: list[tuple[datetime, bytes]] = field(default_factory=list)
    reads: int = 0

    def add(self, when: datetime, events: list[dict], raw: bytes | None = None) -> None:
        self.objects.append((when, gzip.compress(ndjson(events)) if raw is None else raw))

    def bodies(self, start: datetime, end: datetime, stats: ArchiveStats) -> Iterator[bytes]:
        self.reads += 1
        for when, body in sorted(self.objects, key=lambda o: o[0]):
            if not start <= when <= end:
                continue
            stats.objects += 1
            stats.bytes += len(body)
            try:
                yield gzip.decompress(body)
            except OSError:
                stats.bad_objects += 1


@dataclass
class FakeLabels:
    blocked: set[str] = field(default_factory=set)

    def blocked_users(self) -> set[str]:
        return set(self.blocked)


def fake_ports(
    archive: FakeArchive | None = None, labels: FakeLabels | None = None, models: MemoryStore | None = None
) -> TrainerPorts:
    return TrainerPorts(archive or FakeArchive(), labels or FakeLabels(), models or MemoryStore())


def config(**kw) -> TrainingConfig:
    base = dict(data_bucket="data", model_bucket="models", min_sessions=20, params=ModelParams(min_token_count=1))
    base.update(kw)
    return TrainingConfig(**base)


def window_archive(now: datetime = NOW, n_users: int = 300, seed: int = 11) -> tuple[FakeArchive, list[dict]]:
    """Two days of ordinary events ending at ``now``, in two objects, plus one object from before the window."""
    events = ordinary_events(n_users, seed=seed, t0_ms=int((now - timedelta(days=2)).timestamp() * 1000))
    half = len(events) // 2
    archive = FakeArchive()
    archive.add(now - timedelta(days=2), events[:half])
    archive.add(now - timedelta(hours=5), events[half:])
    archive.add(now - timedelta(days=9), ordinary_events(50, seed=1))
    return archive, events


def pointer(store: MemoryStore) -> dict:
    return json.loads(store.get("models/latest.json"))
