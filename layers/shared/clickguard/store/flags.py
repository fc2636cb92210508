"""Pre-block flags onto SQS: SendMessageBatch, 10 messages a call, failed entries retried with backoff.

Each message carries its ``flag_id`` as an attribute; on a FIFO queue it is also the deduplication id, so SQS
itself drops a re-sent flag within its five-minute window (standard queues rely on reviewers deduping by id).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard.consumer.flags import Flag
from clickguard.store.retry import Backoff, chunks

SEND_LIMIT = 10


class SqsFlagQueue:
    def __init__(
        self, client: Any, queue_url: str, executor: Executor | None = None, backoff: Backoff | None = None
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.executor = executor
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self.calls = 0

    def _entry(self, i: int, flag: Flag) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": str(i),
            "MessageBody": flag.body,
            "MessageAttributes": {"flag_id": {"DataType": "String", "StringValue": flag.flag_id}},
        }
        if self.fifo:
            entry["MessageGroupId"] = flag.user_key
            entry["MessageDeduplicationId"] = flag.flag_id
        return entry

    def send(self, flags: Sequence[Flag]) -> set[str]:
        parts = chunks(list(flags), SEND_LIMIT)
        if self.executor is None or len(parts) < 2:
            results = [self._send_chunk(p) for p in parts]
        else:
            results = list(self.executor.map(self._send_chunk, parts))
        return set().union(*results) if results else set()

    def _send_chunk(self, flags: list[Flag]) -> set[str]:
        pending = {str(i): f for i, f in enumerate(flags)}
        for _ in self.backoff.pauses():
            try:
                with self._lock:
                    self.calls += 1
                resp = self.client.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[self._entry(int(i), f) for i, f in pending.items()]
                )
            except (ClientError, BotoCoreError):
                break
            failed = {e["Id"] for e in resp.get("Failed", ())}
            pending = {i: f for i, f in pending.items() if i in failed}
            if not pending:
                return set()
        return {f.flag_id for f in pending.values()}
