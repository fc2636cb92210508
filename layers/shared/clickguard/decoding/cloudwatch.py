"""CloudWatch Logs subscription payloads (gzip-compressed by CloudWatch; ``compressed`` inflates them first).

``{"messageType": "DATA_MESSAGE", "logGroup", "logStream", "logEvents": [{"id", "timestamp", "message"}]}``: each
log event's ``message`` is a JSON event (any shape the decoder reads); a message without a time of its own takes
the log event's ``timestamp`` (epoch milliseconds). A ``CONTROL_MESSAGE`` (CloudWatch checking that the
destination is reachable) holds no events and is counted as ``control_message``. The log group, stream and
owner are never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clickguard.rejections import Reason, RejectedRecord, shown

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"


def is_subscription(obj: Any) -> bool:
    return isinstance(obj, dict) and "messageType" in obj and "logEvents" in obj


def log_messages(obj: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """(message, log event time in ms) of each log event of a DATA_MESSAGE; raises for any other message type."""
    kind = obj.get("messageType")
    if kind == CONTROL_MESSAGE:
        raise RejectedRecord(Reason.CONTROL_MESSAGE, "a CloudWatch Logs control message holds no events")
    if kind != DATA_MESSAGE:
        raise RejectedRecord(Reason.NOT_OBJECT, f"CloudWatch Logs messageType {shown(kind)} is not DATA_MESSAGE")
    log_events = obj.get("logEvents")
    if not isinstance(log_events, list):
        raise RejectedRecord(Reason.BAD_TYPE, "logEvents is not a list")
    out: list[tuple[str, int | None]] = []
    for entry in log_events:
        message = entry.get("message") if isinstance(entry, dict) else None
        ts = entry.get("timestamp") if isinstance(entry, dict) else None
        out.append((message if type(message) is str else "", ts if type(ts) is int else None))
    return out
