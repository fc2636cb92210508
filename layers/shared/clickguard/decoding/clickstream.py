"""Clickstream Analytics on AWS: the records its ingestion server puts on Kinesis.

The solution's ingestion server (nginx and Vector, an ``aws_kinesis_streams`` sink with the JSON codec) puts one
record per HTTP request of an SDK: a JSON object ``{"ip", "ua", "uri", "platform", "appId", "compression", "rid",
"method", "date", "ingest_time", "server_ingest_time", ..., "data"}`` whose ``data`` is the request body as a
string: a JSON array of events (or one event), or, when the SDK compressed it (``compression=gzip``), the base64 of
its gzip. The solution's own reader of these records (its Flink ``ExplodeDataFlatMapFunction``) reads ``data`` the
same way: text that starts with ``[`` or ``{`` is JSON, anything else base64 gzip. ``server_ingest_time`` marks the
record (Vector sets it on every one). The gzip is inflated under the decoder's cap like any compressed record.

Each event has the HTTP API's and SDKs' published attributes. The user key is ``unique_id`` (the SDKs' user pseudo id,
which ties a device's anonymous and logged-in behaviour together), else ``user._user_id.value`` (the app's own user
id); the action ``event_type``; the time ``timestamp`` (epoch milliseconds); the event id ``event_id``; the session
``attributes._session_id`` (the SDKs' session attribute). The solution defines no outcome: a custom attribute
``attributes.outcome`` is read as one when present. The envelope's ``ip``, ``ua`` and ``uri`` and the events'
device, location, screen and user attributes (personal data) are never read.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from clickguard.decoding import compressed
from clickguard.events import Event, opt_id, present, token_of, user_key_of
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import parse_timestamp

MARKER_FIELD = "server_ingest_time"
MARKER = f'"{MARKER_FIELD}"'.encode()  # a record that lacks these bytes cannot be one: a cheap test first


def is_record(obj: Any) -> bool:
    """A decoded JSON value is an ingestion server record: an object with its marker and a string ``data``."""
    return isinstance(obj, dict) and MARKER_FIELD in obj and type(obj.get("data")) is str


def body(record: dict[str, Any], cap: int) -> bytes:
    """The request body the record carries (JSON text), inflated when the SDK compressed it; raises
    ``RejectedRecord`` (``bad_compression``, ``decompressed_too_large``, ``bad_unicode``)."""
    text: str = record["data"]
    if text.lstrip()[:1] in ("[", "{"):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RejectedRecord(Reason.BAD_UNICODE, f"data has an unpaired surrogate at {exc.start}") from None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII str
        raise RejectedRecord(Reason.BAD_COMPRESSION, "data is neither JSON nor base64") from None
    if not compressed.is_gzip(raw):
        raise RejectedRecord(Reason.BAD_COMPRESSION, "data's base64 does not hold gzip")
    return compressed.inflate(raw, cap)


def event(obj: Any) -> Event:
    """One event of the body -> ``Event``, with the same field checks as every other format."""
    if not isinstance(obj, dict):
        raise RejectedRecord(Reason.NOT_OBJECT, f"a Clickstream Analytics event is a {type(obj).__name__}")
    user = obj.get("unique_id")
    if not present(user):
        user = _user_id(obj.get("user"))
    attrs = obj.get("attributes")
    attrs = attrs if isinstance(attrs, dict) else {}
    return Event(
        user_key_of(user),
        token_of(obj.get("event_type"), attrs.get("outcome")),
        parse_timestamp(obj.get("timestamp")),
        opt_id(attrs.get("_session_id"), "session_id"),
        opt_id(obj.get("event_id"), "event_id"),
    )


def _user_id(user: Any) -> Any:
    """``user._user_id.value``, or None."""
    entry = user.get("_user_id") if isinstance(user, dict) else None
    return entry.get("value") if isinstance(entry, dict) else None
