"""The rejected-records sink: one gzip NDJSON object per batch under ``rejected/YYYY/MM/DD/``.

Each line keeps what is needed to inspect or re-drive the record: reason, detail, shard, sequence number,
arrival time and the raw payload in base64. The key is derived from the records (date of the first arrival,
shard, first and last sequence number) and the gzip header carries no time, so a replayed batch overwrites the
same object with the same bytes; a bisected replay may store a record twice, under lines that name its
sequence number, which makes duplicates trivial to drop. The bucket encrypts and expires these objects.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard.consumer.ports import RejectedEntry, StoreError
from clickguard.events import format_ms


def object_key(prefix: str, entries: Sequence[RejectedEntry]) -> str:
    first = entries[0].record
    day = datetime.fromtimestamp(first.arrival_ms / 1000, tz=UTC).strftime("%Y/%m/%d")
    return f"{prefix}{day}/{first.shard_id}-{first.seq_str}-{entries[-1].record.seq_str}.ndjson.gz"


def encode(entries: Sequence[RejectedEntry]) -> bytes:
    lines = (
        json.dumps(
            {
                "reason": e.reason.value,
                "detail": e.detail,
                "shard_id": e.record.shard_id,
                "sequence_number": e.record.seq_str,
                "partition_key": e.record.partition_key,
                "arrival_time": format_ms(e.record.arrival_ms),
                "data_base64": base64.b64encode(e.record.data).decode("ascii"),
            },
            sort_keys=True,
        )
        for e in entries
    )
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


class S3RejectedSink:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.calls = 0

    def put(self, entries: Sequence[RejectedEntry]) -> None:
        if not entries:
            return
        key = object_key(self.prefix, entries)
        try:
            self.calls += 1
            self.client.put_object(Bucket=self.bucket, Key=key, Body=encode(entries), ContentType="application/gzip")
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"rejected-records sink put failed: {type(exc).__name__}") from exc
