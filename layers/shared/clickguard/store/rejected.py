"""The rejected-records sink: one small JSON object per rejected record, keyed by shard and sequence number.

``rejected/YYYY/MM/DD/<shard>/<sequence number>.json`` (the date of the record's arrival) holds what an operator
needs to find and replay the record, and nothing of its content: reason, detail, shard, sequence number, the part
of the record (``sub_record``), arrival time, size and the sha256 of the payload. The key is the record's own, so
a replayed or bisected batch writes the same object with the same bytes again: never a second line for one record.

A record that holds several events (a KPL aggregate, an NDJSON or array payload, a log batch) can have several bad
parts: each is its own object, ``<sequence number>-<sub>.json`` for the part at index ``sub`` > 0 (part 0, like a
record rejected whole, keeps ``<sequence number>.json``), so no part's entry overwrites another's.

The raw payload (which may carry personal data: IP, device ids, location) is kept only where configured
(``KeepPayloads``), under its own prefix that the bucket expires after a few days: by default only for
``internal_error`` records, the ones a developer must replay to fix the consumer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard.consumer.config import KeepPayloads
from clickguard.consumer.ports import RejectedEntry, StoreError
from clickguard.store.retry import run_all
from clickguard.timestamps import format_ms


def _record_path(entry: RejectedEntry) -> str:
    rec = entry.record
    day = datetime.fromtimestamp(rec.arrival_ms / 1000, tz=UTC).strftime("%Y/%m/%d")
    name = f"{rec.seq_str}-{rec.sub}" if rec.sub else rec.seq_str
    return f"{day}/{rec.shard_id}/{name}"


def object_key(prefix: str, entry: RejectedEntry) -> str:
    return f"{prefix}{_record_path(entry)}.json"


def payload_key(prefix: str, entry: RejectedEntry) -> str:
    return f"{prefix}{_record_path(entry)}.bin"


def describe(entry: RejectedEntry, kept_at: str | None) -> bytes:
    """The metadata object: deterministic bytes for a given record and reason."""
    rec = entry.record
    doc: dict[str, Any] = {
        "reason": entry.reason.value,
        "detail": entry.detail,
        "shard_id": rec.shard_id,
        "sequence_number": rec.seq_str,
        "sub_record": rec.sub,
        "arrival_time": format_ms(rec.arrival_ms),
        "size": len(rec.data),
        "sha256": hashlib.sha256(rec.data).hexdigest(),
        "payload_key": kept_at,
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=True).encode()


class S3RejectedSink:
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        payload_prefix: str,
        keep: KeepPayloads = KeepPayloads.INTERNAL_ERROR,
        executor: Executor | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.payload_prefix = payload_prefix
        self.keep = keep
        self.executor = executor
        self.calls = 0

    def put(self, entries: Sequence[RejectedEntry]) -> None:
        """Write every entry (payload first, where kept, so a metadata object never names a missing payload)."""
        if not entries:
            return
        failed = [ok for ok in run_all(self.executor, self._put_one, list(entries)) if not ok]
        if failed:
            raise StoreError(f"rejected-records sink: {len(failed)} of {len(entries)} records not stored")

    def _put_one(self, entry: RejectedEntry) -> bool:
        kept_at = payload_key(self.payload_prefix, entry) if self.keep.keeps(entry.reason) else None
        try:
            if kept_at is not None:
                self._put(kept_at, entry.record.data, "application/octet-stream")
            self._put(object_key(self.prefix, entry), describe(entry, kept_at), "application/json")
        except (ClientError, BotoCoreError):
            return False
        return True

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.calls += 1
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
