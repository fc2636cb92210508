"""An archive in a local directory laid out as Firehose lays out S3 (``<root>/events/YYYY/MM/DD/HH/<name>``): read by
the single-pass trainer (``training.ports.ArchiveReader``) and by the distributed one's map
(``training.distributed.PartitionedArchive``), so both can be run and compared on one machine (the benchmark)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from clickguard import settings
from clickguard.training.partials import Partition, decompressed
from clickguard.training.ports import ArchiveStats


class DirArchive:
    def __init__(self, root: str | Path, prefix: str = settings.ARCHIVE_PREFIX) -> None:
        self.root, self.prefix = Path(root), prefix

    def _hours(self, start: datetime, end: datetime) -> list[tuple[str, list[Path]]]:
        """The hour folders from that of ``start`` through that of ``end``, each with its files in name order."""
        out = []
        hour = start.replace(minute=0, second=0, microsecond=0)
        while hour <= end:
            folder = self.root / self.prefix / f"{hour:%Y/%m/%d/%H}"
            if folder.is_dir():
                files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
                if files:
                    out.append((f"{hour:%Y/%m/%d/%H}", files))
            hour += timedelta(hours=1)
        return out

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def bodies(self, start: datetime, end: datetime, stats: ArchiveStats) -> Iterator[bytes]:
        for _, files in self._hours(start, end):
            for path in files:
                data = decompressed(self._key(path), path.read_bytes(), stats)
                if data is not None:
                    yield data

    def partitions(self, start: datetime, end: datetime) -> list[Partition]:
        """Each file's entity tag is its size and modification time: a rewritten file is a new object."""
        out = []
        for hour, files in self._hours(start, end):
            stats = [p.stat() for p in files]
            objects = tuple((self._key(p), f"{s.st_size}-{s.st_mtime_ns}") for p, s in zip(files, stats, strict=True))
            out.append(Partition(hour, objects, sum(s.st_size for s in stats)))
        return out

    def objects(self, partition: Partition) -> Iterator[tuple[str, bytes]]:
        for key, _ in partition.objects:
            yield key, (self.root / key).read_bytes()
