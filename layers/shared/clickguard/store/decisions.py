"""The decisions path over AWS: the decisions queue (SQS FIFO), the decision log and rejected messages (S3).

* ``SqsDecisionQueue`` is how ``clickguard review`` hands a decision to the one recording path. The queue is FIFO:
  the message group is the user (so one user's decisions are applied in the order they were sent), the
  deduplication id the decision's digest (so a re-sent decision within five minutes is dropped by SQS).
* ``S3DecisionLog`` writes one object per decision, ``labels/decisions/YYYY/MM/DD/<flag_id>.<digest>.json``, with
  ``IfNoneMatch="*"``: the first write wins and a redelivered message finds its object already there (412), so
  the log never holds a decision twice and no record is ever rewritten. The body is one NDJSON line, which the
  trainer's label reader (``store.labels``) reads like every other object under ``labels/``.
* ``S3RejectedDecisions`` keeps a malformed message under ``review/rejected/YYYY/MM/DD/<message id>.json`` with
  its reason, for an operator to fix and send again (outside ``labels/``: the trainer never reads it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.review.decision import Decision, InvalidDecision, parse_decision
from clickguard.review.ports import DecisionStoreError, RejectedDecision
from clickguard.store.fifo import group_id
from clickguard.timestamps import format_ms

JSON = "application/json"
_EXISTS = {"PreconditionFailed", "412"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9-]{1,100}$")


class SqsDecisionQueue:
    """The ``DecisionSink`` of ``clickguard review``: one SendMessage per decision."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.queue_url = client, queue_url

    def send(self, decision: Decision) -> None:
        kwargs: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": decision.to_json()}
        if self.queue_url.endswith(".fifo"):
            kwargs.update(MessageGroupId=group_id(decision.user_key), MessageDeduplicationId=decision.decision_id)
        try:
            self.client.send_message(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise DecisionStoreError(f"decisions queue: {_code(exc)}") from exc


class S3DecisionLog:
    """The ``DecisionLog``: one immutable object per decision."""

    def __init__(self, client: Any, bucket: str, prefix: str = settings.DECISIONS_PREFIX) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def record(self, decision: Decision) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=decision.log_key(self.prefix),
                Body=(decision.to_json() + "\n").encode(),
                ContentType=JSON,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _code(exc) in _EXISTS:
                return False
            raise DecisionStoreError(f"decision log: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DecisionStoreError(f"decision log: {type(exc).__name__}") from exc
        return True


class S3RejectedDecisions:
    """The ``RejectedDecisions`` sink: one object per message id, rewritten identically on a redelivery."""

    def __init__(self, client: Any, bucket: str, prefix: str = settings.REJECTED_DECISIONS_PREFIX) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def key(self, rejected: RejectedDecision) -> str:
        day = datetime.fromtimestamp(rejected.received_at_ms / 1000, tz=UTC).strftime("%Y/%m/%d")
        mid = rejected.message_id
        name = mid if _SAFE_ID.match(mid) else hashlib.sha256(mid.encode()).hexdigest()[:32]
        return f"{self.prefix}{day}/{name}.json"

    def put(self, rejected: RejectedDecision) -> None:
        doc = {
            "reason": rejected.reason,
            "detail": rejected.detail,
            "message_id": rejected.message_id,
            "received_at": format_ms(rejected.received_at_ms),
            "size": len(rejected.body.encode("utf-8", "surrogatepass")),
            "body": rejected.body,
        }
        body = json.dumps(doc, sort_keys=True, ensure_ascii=True).encode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(rejected), Body=body, ContentType=JSON)
        except (ClientError, BotoCoreError) as exc:
            raise DecisionStoreError(f"rejected decisions: {_code(exc)}") from exc


def read_decisions(
    client: Any, bucket: str, prefix: str = settings.DECISIONS_PREFIX, since_day: str | None = None
) -> Iterator[Decision]:
    """Every decision in the log (from ``since_day``, ``YYYY-MM-DD``, when given), in key order; an object that
    does not parse as a decision is skipped (the log only ever receives validated ones)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if since_day:
        kwargs["StartAfter"] = prefix + since_day.replace("-", "/")
    for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
        for obj in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            try:
                yield parse_decision(body.strip())
            except InvalidDecision:
                continue


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
