"""The archive's hour folders as partitions (issue 13): one listing per day touched, each object's key, entity tag
and size, grouped by its ``YYYY/MM/DD/HH`` folder. What the distributed trainer's plan lists; the map reads the
objects themselves (``store.partition_objects``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from clickguard.training.partials import Partition, hour_prefix

_HOUR = len("YYYY/MM/DD/HH")


def list_partitions(s3: Any, bucket: str, prefix: str, start: datetime, end: datetime) -> list[Partition]:
    """The hour folders from that of ``start`` through that of ``end`` (the single-pass trainer's window,
    ``archive.keys_in_window``), in key order."""
    lo, hi = hour_prefix(prefix, start), hour_prefix(prefix, end + timedelta(hours=1))
    hours: dict[str, list[tuple[str, str, int]]] = {}
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    paginator = s3.get_paginator("list_objects_v2")
    while day <= end:
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}{day:%Y/%m/%d}/"):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                if lo <= key < hi:
                    hours.setdefault(key[len(prefix) : len(prefix) + _HOUR], []).append(
                        (key, str(obj["ETag"]), int(obj["Size"]))
                    )
        day += timedelta(days=1)
    return [
        Partition(hour, tuple((k, e) for k, e, _ in sorted(objs)), sum(size for _, _, size in objs))
        for hour, objs in sorted(hours.items())
    ]


class S3Partitions:
    """The plan's view of the archive in ``bucket`` under ``prefix``."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def partitions(self, start: datetime, end: datetime) -> list[Partition]:
        return list_partitions(self.s3, self.bucket, self.prefix, start, end)
