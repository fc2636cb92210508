"""Reading the flag queue as a reviewer: receive up to N messages, optionally delete them once handled."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_PER_RECEIVE = 10  # SQS's limit per ReceiveMessage / DeleteMessageBatch
MAX_LONG_POLL_S = 20


@dataclass(frozen=True)
class FlagMessage:
    message_id: str
    receipt_handle: str
    body: dict[str, Any] | None  # None if the body is not a JSON object
    raw: str


def receive(
    sqs: Any, queue_url: str, max_messages: int, wait_s: float, clock: Callable[[], float] = time.monotonic
) -> list[FlagMessage]:
    """Long-poll until ``max_messages`` are read or ``wait_s`` passes with the queue empty."""
    out: list[FlagMessage] = []
    deadline = clock() + wait_s
    while len(out) < max_messages:
        left = deadline - clock()
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(MAX_PER_RECEIVE, max_messages - len(out)),
            WaitTimeSeconds=int(max(0, min(MAX_LONG_POLL_S, left))),
        )
        msgs = resp.get("Messages", [])
        for m in msgs:
            out.append(FlagMessage(m["MessageId"], m["ReceiptHandle"], _decode(m.get("Body", "")), m.get("Body", "")))
        if not msgs and clock() >= deadline:
            break
    return out


def _decode(body: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def delete(sqs: Any, queue_url: str, messages: list[FlagMessage]) -> int:
    """Delete handled messages, 10 a call; returns how many SQS reported as failed."""
    failed = 0
    for i in range(0, len(messages), MAX_PER_RECEIVE):
        chunk = messages[i : i + MAX_PER_RECEIVE]
        resp = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(k), "ReceiptHandle": m.receipt_handle} for k, m in enumerate(chunk)],
        )
        failed += len(resp.get("Failed", []))
    return failed


def release(sqs: Any, queue_url: str, messages: list[FlagMessage]) -> int:
    """Make flags read but not handled visible again at once (a reviewer skipped them), 10 a call; returns how
    many SQS reported as failed (those reappear when their visibility timeout ends)."""
    failed = 0
    for i in range(0, len(messages), MAX_PER_RECEIVE):
        chunk = messages[i : i + MAX_PER_RECEIVE]
        resp = sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(k), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0} for k, m in enumerate(chunk)
            ],
        )
        failed += len(resp.get("Failed", []))
    return failed
