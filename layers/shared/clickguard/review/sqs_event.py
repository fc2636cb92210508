"""The Lambda event of an SQS event source mapping: decoded for the recorder, and built for the local runtime.

The shape is Lambda's (``Records[].messageId``, ``receiptHandle``, ``body``, ``attributes`` with
``MessageGroupId`` on a FIFO queue, ``eventSource`` ``aws:sqs``, ``eventSourceARN``); ``lambda_event`` builds it
from ReceiveMessage results so the local event source mapping invokes the real handler with what Lambda sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clickguard.review.recorder import Inbound


def decode_event(event: Mapping[str, Any]) -> list[Inbound]:
    """The messages of the event, in order; a record without a message id cannot be reported and is skipped."""
    out = []
    for record in event.get("Records") or ():
        if not isinstance(record, Mapping) or not record.get("messageId"):
            continue
        attributes = record.get("attributes") or {}
        group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
        out.append(Inbound(str(record["messageId"]), str(record.get("body") or ""), group))
    return out


def lambda_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """The event Lambda sends for ReceiveMessage results (``AttributeNames=["All"]``)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m.get("Body", ""),
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
