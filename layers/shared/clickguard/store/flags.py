"""Pre-block flags onto SQS: SendMessageBatch, 10 messages a call, failed entries retried with backoff.

Each message carries its ``flag_id`` as an attribute. The stack's flag queue is FIFO: the ``flag_id`` is the
deduplication id and the user the message group (``fifo.group_id``: a digest for a key SQS would refuse), so SQS
itself drops a flag re-sent within its five-minute deduplication window (a replay after a failed state write), and a
user's flags arrive in order. On a standard queue (a queue URL without ``.fifo``) reviewers must drop repeated ids
themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard.consumer.flags import Flag
from clickguard.store.fifo import group_id
from clickguard.store.retry import Backoff, chunks, run_all

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
            entry["MessageGroupId"] = group_id(flag.user_key)
            entry["MessageDeduplicationId"] = flag.flag_id
        return entry

    def send(self, flags: Sequence[Flag]) -> set[str]:
        results = run_all(self.executor, self._send_chunk, chunks(list(flags), SEND_LIMIT))
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
