"""``clickguard produce --format``: canonical events re-encoded as another producer would put them on Kinesis.

Single-event formats keep one record per event and the user key as partition key. Formats that pack several events
in one record (``kpl``, ``gzip``, ``zlib``, ``cloudwatch``, ``clickstream``, ``snowplow_zstd``, ``amplitude``) pack
up to ``per_record`` events of one bucket of users (a hash of the user key) under the bucket's partition key, so every
event of a user lands on one shard, in order, as the KPL's own per-shard aggregation keeps it. Messages follow each
format's published shape (Segment/RudderStack ``track``, the app envelope, Pinpoint's app event, Mixpanel's event, an
application's JSON log line as Docker and Fluent Bit ship it, the canonical event as base64 text (what the AWS CLI v1
sends for ``--data "$(... | base64)"``), Snowplow's enriched TSV column order, a web server's
combined log line, CloudWatch Logs' subscription payload, the KPL aggregate, byte for byte as ``aws_kinesis_agg``
builds it, Clickstream Analytics on AWS's ingestion server record holding an SDK's gzip request, Snowplow Enrich's
compressed record of enriched lines, Amplitude's HTTP V2 API upload forwarded whole, a GA4 Measurement Protocol
request body); tests decode each with the
consumer's decoder.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import zstandard

from clickguard.decoding import kpl, snowplow
from clickguard.events import FAIL_SUFFIX, Event
from clickguard.timestamps import format_ms

SINGLE = (
    "canonical", "envelope", "segment", "rudderstack", "snowplow", "access_log", "pinpoint", "mixpanel", "logged_json",
    "base64", "ga4",
)  # fmt: skip
PACKED = ("kpl", "gzip", "zlib", "cloudwatch", "clickstream", "snowplow_zstd", "amplitude")
FORMATS = (*SINGLE, *PACKED)
DEFAULT = "canonical"  # the events as they are: one canonical JSON record each
BUCKETS = 64


def _split(ev: Event) -> tuple[str, str | None]:
    base = ev.token[: -len(FAIL_SUFFIX)] if ev.token.endswith(FAIL_SUFFIX) else ""
    return (base, "fail") if base and base == base.strip() else (ev.token, None)


def canonical(ev: Event) -> dict[str, Any]:
    etype, outcome = _split(ev)
    doc: dict[str, Any] = {"user_id": ev.user_key, "event_type": etype, "timestamp": format_ms(ev.ts_ms)}
    if outcome:
        doc["outcome"] = outcome
    if ev.session_id:
        doc["session_id"] = ev.session_id
    if ev.event_id:
        doc["event_id"] = ev.event_id
    attributes = {k: v for k, v in (("amount", ev.amount), ("friend_id", ev.friend_id)) if v is not None}
    if attributes:  # seed 003's purchase amount and friend: the network rule reads them from the canonical shape
        doc["attributes"] = attributes
    return doc


def envelope(ev: Event) -> dict[str, Any]:
    etype, outcome = _split(ev)
    event: dict[str, Any] = {"event_type": etype, "event_name": etype, "event_created": format_ms(ev.ts_ms)}
    if outcome:
        event["outcome"] = outcome
    if ev.event_id:
        event["event_id"] = ev.event_id
    session: dict[str, Any] = {"user_id": ev.user_key}
    if ev.session_id:
        session["session_id"] = ev.session_id
    return {"timestamp": format_ms(ev.ts_ms), "source": "clickstream", "data": {"session": session, "event": event}}


def segment(ev: Event) -> dict[str, Any]:
    """A ``track`` message as Segment's and RudderStack's clients build it (the same spec)."""
    msg: dict[str, Any] = {
        "type": "track",
        "userId": ev.user_key,
        "event": ev.token,
        "timestamp": format_ms(ev.ts_ms),
        "properties": {},
        "context": {"library": {"name": "clickguard-produce"}},
    }
    if ev.event_id:
        msg["messageId"] = ev.event_id
    if ev.session_id:
        msg["context"]["sessionId"] = ev.session_id
    return msg


def snowplow_line(ev: Event) -> bytes:
    row = [""] * snowplow.COLUMNS
    row[snowplow.USER_ID] = ev.user_key
    row[snowplow.EVENT] = "unstruct"
    row[snowplow.EVENT_NAME] = ev.token
    row[snowplow.COLLECTOR_TSTAMP] = format_ms(ev.ts_ms).replace("T", " ").rstrip("Z")
    row[snowplow.DOMAIN_SESSIONID] = ev.session_id or ""
    row[snowplow.EVENT_ID] = ev.event_id or ""
    return "\t".join(row).encode()


def pinpoint(ev: Event) -> dict[str, Any]:
    """An Amazon Pinpoint event stream app event (its published example's fields); Pinpoint has no outcome, so a
    failure stays in the event type, as the Snowplow encoder keeps it in the event name."""
    doc: dict[str, Any] = {
        "event_type": ev.token, "event_timestamp": ev.ts_ms, "arrival_timestamp": ev.ts_ms, "event_version": "3.1",
        "application": {"app_id": "clickguard", "sdk": {"name": "clickguard-produce"}},
        "client": {"client_id": ev.user_key}, "attributes": {}, "metrics": {},
    }  # fmt: skip
    if ev.session_id:
        doc["session"] = {"session_id": ev.session_id}
    return doc


def mixpanel(ev: Event) -> dict[str, Any]:
    """A Mixpanel event as its import API takes it (time in ms, ``$insert_id``); no session, and a failure stays in
    the event name."""
    props: dict[str, Any] = {"time": ev.ts_ms, "distinct_id": ev.user_key}
    if ev.event_id:
        props["$insert_id"] = ev.event_id
    return {"event": ev.token, "properties": props}


def ga4(ev: Event) -> dict[str, Any]:
    """A Google Analytics 4 Measurement Protocol request body of one event, as a server-side forwarder sends it:
    the user as the web stream's ``client_id``, the time in ``timestamp_micros``, the session in the event's
    params. The protocol has no outcome and no event id: a failure stays in the event name."""
    params: dict[str, Any] = {"engagement_time_msec": 100}
    if ev.session_id:
        params["session_id"] = ev.session_id
    return {
        "client_id": ev.user_key,
        "timestamp_micros": ev.ts_ms * 1000,
        "events": [{"name": ev.token, "params": params}],
    }


def access_log_line(ev: Event) -> bytes:
    """The combined log line of a request of the event's action as a page (``GET /view_item``), its failure a 401,
    as Apache and nginx write it; the client is the user key (a space in it written ``%20``: a log's host has none).
    The line's time has whole seconds, and it carries no session or event id."""
    etype, outcome = _split(ev)
    when = datetime.fromtimestamp(ev.ts_ms // 1000, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    host = ev.user_key.replace(" ", "%20")
    return (
        f'{host} - - [{when}] "GET /{etype} HTTP/1.1" {401 if outcome else 200} 512 "-" "clickguard-produce"'.encode()
    )


def clickstream_event(ev: Event) -> dict[str, Any]:
    """An event as the Clickstream Analytics on AWS SDKs send it (the user pseudo id as user key); a failure is the
    custom attribute ``outcome``, as ``clickguard.decoding.clickstream`` reads it."""
    etype, outcome = _split(ev)
    doc: dict[str, Any] = {"unique_id": ev.user_key, "event_type": etype, "timestamp": ev.ts_ms, "app_id": "clickguard"}
    if ev.event_id:
        doc["event_id"] = ev.event_id
    attributes: dict[str, Any] = {}
    if ev.session_id:
        attributes["_session_id"] = ev.session_id
    if outcome:
        attributes["outcome"] = outcome
    if attributes:
        doc["attributes"] = attributes
    return doc


def clickstream_record(events: list[Event]) -> bytes:
    """One SDK request (gzip, base64) as the solution's ingestion server puts it on Kinesis; the request's address
    and user agent are placeholders (a documentation address, this tool's name)."""
    data = base64.b64encode(gzip.compress(_json([clickstream_event(ev) for ev in events]))).decode("ascii")
    at = max(ev.ts_ms for ev in events)
    return _json(
        {
            "ip": "192.0.2.1", "ua": "clickguard-produce", "uri": "/collect?appId=clickguard&compression=gzip",
            "platform": "Web", "appId": "clickguard", "compression": "gzip", "method": "POST",
            "rid": hashlib.blake2b(data.encode(), digest_size=16).hexdigest(), "ingest_time": at,
            "server_ingest_time": at, "data": data,
        }
    )  # fmt: skip


def snowplow_zstd_record(events: list[Event]) -> bytes:
    """Enrich's compressed record: the version and payload-format bytes (1, 1), then each enriched line after its
    4-byte big-endian length, in one zstd frame flushed after every event and without a checksum or content size,
    as Enrich streams it while it fills the record."""
    writer = zstandard.ZstdCompressor(level=9, write_checksum=False).compressobj()
    parts = [writer.compress(bytes([snowplow.FRAME_VERSION, 1]))]
    for ev in events:
        line = snowplow_line(ev)
        parts.append(writer.compress(len(line).to_bytes(4, "big") + line))
        parts.append(writer.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
    parts.append(writer.flush())
    return b"".join(parts)


def amplitude_upload(events: list[Event]) -> bytes:
    """Amplitude's HTTP V2 API request body, as a proxy that forwards it whole puts it on the stream: the API key (a
    placeholder, never read) and the events, each with ``time`` in ms, ``insert_id`` (Amplitude's deduplication key)
    and ``session_id`` (Amplitude's is the session's start in ms: ``amplitude_sessions`` gives the events theirs); a
    failure stays in the event type."""
    docs = [{"user_id": ev.user_key, "event_type": ev.token, "time": ev.ts_ms} for ev in events]
    for doc, ev in zip(docs, events, strict=True):
        if ev.event_id:
            doc["insert_id"] = ev.event_id
        if ev.session_id:
            doc["session_id"] = int(ev.session_id)
    return _json({"api_key": "clickguard-produce", "events": docs})


def amplitude_sessions(events: Iterable[Event]) -> list[Event]:
    """The events with each session id replaced by the session's start in ms, as Amplitude numbers sessions: the
    time of the first event of that user and session in ``events``."""
    starts: dict[tuple[str, str], int] = {}
    out = []
    for ev in events:
        if ev.session_id is not None:
            start = starts.setdefault((ev.user_key, ev.session_id), ev.ts_ms)
            ev = ev._replace(session_id=str(start))
        out.append(ev)
    return out


def logged_json(ev: Event) -> dict[str, Any]:
    """The canonical event as an application logs it to standard output, shipped by Docker's json-file driver or
    Fluent Bit's tail input: the line (its newline kept) as the string ``log``, beside the shipper's own fields."""
    line = json.dumps(canonical(ev), separators=(",", ":")) + "\n"
    return {"log": line, "stream": "stdout", "time": format_ms(ev.ts_ms)}


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


SINGLE_ENCODERS: dict[str, Callable[[Event], bytes]] = {
    "canonical": lambda ev: _json(canonical(ev)),
    "envelope": lambda ev: _json(envelope(ev)),
    "segment": lambda ev: _json(segment(ev)),
    "rudderstack": lambda ev: _json(segment(ev)),
    "snowplow": snowplow_line,
    "access_log": access_log_line,
    "pinpoint": lambda ev: _json(pinpoint(ev)),
    "mixpanel": lambda ev: _json(mixpanel(ev)),
    "logged_json": lambda ev: _json(logged_json(ev)),
    "ga4": lambda ev: _json(ga4(ev)),
    # The canonical event as `aws kinesis put-record --data "$(... | base64)"` puts it with the AWS CLI v1: the text
    # of `base64`'s output (76-character lines; the shell drops the last newline).
    "base64": lambda ev: base64.encodebytes(_json(canonical(ev))).rstrip(b"\n"),
}


def _packed(fmt: str, events: list[Event]) -> bytes:
    lines = [_json(canonical(ev)) for ev in events]
    if fmt == "kpl":
        return kpl.aggregate([(ev.user_key, line) for ev, line in zip(events, lines, strict=True)])
    if fmt == "gzip":
        return gzip.compress(b"\n".join(lines) + b"\n")
    if fmt == "zlib":
        return zlib.compress(b"\n".join(lines) + b"\n")
    if fmt == "clickstream":
        return clickstream_record(events)
    if fmt == "snowplow_zstd":
        return snowplow_zstd_record(events)
    if fmt == "amplitude":
        return amplitude_upload(events)
    log_events = [{"id": str(i), "timestamp": ev.ts_ms, "message": line.decode()} for i, (ev, line) in
                  enumerate(zip(events, lines, strict=True))]  # fmt: skip
    doc = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/clickguard/produce",
           "logStream": "produce", "subscriptionFilters": ["clickguard"], "logEvents": log_events}  # fmt: skip
    return gzip.compress(_json(doc))


def bucket_of(user_key: str) -> str:
    return f"bucket-{int.from_bytes(hashlib.blake2b(user_key.encode(), digest_size=2).digest()) % BUCKETS}"


def encode(fmt: str, events: Iterable[Event], per_record: int = 25) -> list[dict[str, Any]]:
    """PutRecords entries (``Data``, ``PartitionKey``) holding ``events`` in format ``fmt``, order kept per user."""
    if fmt in SINGLE_ENCODERS:
        enc = SINGLE_ENCODERS[fmt]
        return [{"Data": enc(ev), "PartitionKey": ev.user_key} for ev in events]
    if fmt == "amplitude":
        events = amplitude_sessions(events)
    out: list[dict[str, Any]] = []
    open_buckets: dict[str, list[Event]] = {}
    for ev in events:
        key = bucket_of(ev.user_key)
        chunk = open_buckets.setdefault(key, [])
        chunk.append(ev)
        if len(chunk) >= per_record:
            out.append({"Data": _packed(fmt, chunk), "PartitionKey": key})
            del open_buckets[key]
    out.extend({"Data": _packed(fmt, chunk), "PartitionKey": key} for key, chunk in open_buckets.items())
    return out
