"""Reading the raw event archive that Kinesis Data Firehose writes: ``<prefix>YYYY/MM/DD/HH/<name>.gz``.

Each object is a gzip of newline-delimited JSON records. Objects are fetched by a small thread pool (S3 GETs are
latency-bound) and decompressed in the caller's thread, in key order, so a run is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from clickguard import settings
from clickguard.training.partials import decompressed, hour_prefix
from clickguard.training.ports import ArchiveStats

__all__ = ["ArchiveStats", "S3Archive", "hour_prefix", "iter_objects", "keys_in_window"]

FETCH_THREADS = settings.ARCHIVE_FETCH_THREADS


class S3Archive:
    """The trainer's ``ArchiveReader`` over the Firehose archive in ``bucket`` under ``prefix``."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def bodies(self, start: datetime, end: datetime, stats: ArchiveStats) -> Iterator[bytes]:
        keys = keys_in_window(self.s3, self.bucket, self.prefix, start, end)
        return iter_objects(self.s3, self.bucket, keys, stats)


def keys_in_window(s3: Any, bucket: str, prefix: str, start: datetime, end: datetime) -> list[str]:
    """Keys from the hour folder of ``start`` through that of ``end`` (an object in the current hour's folder was
    written before ``end``); one paginated listing per day touched."""
    lo, hi = hour_prefix(prefix, start), hour_prefix(prefix, end + timedelta(hours=1))
    keys: list[str] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    paginator = s3.get_paginator("list_objects_v2")
    while day <= end:
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}{day:%Y/%m/%d}/"):
            keys.extend(o["Key"] for o in page.get("Contents", ()) if lo <= o["Key"] < hi)
        day += timedelta(days=1)
    return sorted(keys)


def iter_objects(s3: Any, bucket: str, keys: list[str], stats: ArchiveStats) -> Iterator[bytes]:
    """Yield the decompressed body of every object. Trailing garbage or a cut-short member keeps the whole lines
    before it (counted in ``cut_objects``); an object with nothing valid is counted in ``bad_objects`` and skipped."""

    def fetch(key: str) -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        for key, body in zip(keys, pool.map(fetch, keys), strict=True):
            data = decompressed(key, body, stats)
            if data is not None:
                yield data
