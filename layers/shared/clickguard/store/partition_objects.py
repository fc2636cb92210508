"""Reading one archive partition's objects for the distributed trainer's map (issue 13): each object's bytes as
stored, in key order, fetched by a small thread pool (S3 GETs are latency-bound)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clickguard import settings
from clickguard.training.partials import Partition


class S3PartitionObjects:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def objects(self, partition: Partition) -> Iterator[tuple[str, bytes]]:
        def fetch(key: str) -> bytes:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body

        keys = [key for key, _ in partition.objects]
        with ThreadPoolExecutor(max_workers=settings.ARCHIVE_FETCH_THREADS) as pool:
            yield from zip(keys, pool.map(fetch, keys), strict=True)
