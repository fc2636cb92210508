"""What the training job needs from the outside world; ``clickguard.store`` implements these over S3.

The job (``clickguard.training.job``) takes a ``TrainerPorts`` and nothing else that does I/O, so its logic is
tested with in-memory fakes (``tests/training_support.py``) and the S3 adapters are tested once against moto.
The model store is the model package's ``BlobStore``: publishing, and its compare-and-swap on ``latest.json``,
live in ``clickguard.model.artifact``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clickguard.model.ports import BlobStore


@dataclass
class ArchiveStats:
    """What reading an archive window met: objects read, their compressed bytes, objects that were not gzip at
    all, and objects whose gzip ended in garbage or was cut short (their whole lines before that were kept)."""

    objects: int = 0
    bytes: int = 0
    bad_objects: int = 0
    cut_objects: int = 0


class ArchiveReader(Protocol):
    def bodies(self, start: datetime, end: datetime, stats: ArchiveStats) -> Iterator[bytes]:
        """The decompressed NDJSON body of every archive object written in ``[start, end]``, in key order (so a
        run is deterministic); an unreadable object is counted in ``stats`` and skipped."""
        ...


class LabelReader(Protocol):
    def blocked_users(self) -> set[str]:
        """User keys whose latest reviewer decision blocks them: left out of training."""
        ...


@dataclass(frozen=True)
class TrainerPorts:
    archive: ArchiveReader
    labels: LabelReader
    models: BlobStore
