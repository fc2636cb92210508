"""One decoder for every producer format: a Kinesis record's bytes -> its events, or why not.

The consumer, the Firehose transformation that writes the archive, the local archiver and the trainer all call
``Decoder.decode``, so the archive holds exactly the events the consumer scored. The format is told from the first
bytes, cheaply, and each can be switched off (``Format``; a record of a disabled format is ``format_disabled``):

=============  =====================  ============================================================================
format         first bytes            content
=============  =====================  ============================================================================
``kpl``        ``F3 89 9A C2``        KPL aggregate: each sub-record decoded as a record of its own (``kpl``)
``gzip``       ``1F 8B``              one JSON object, a JSON array, NDJSON, Snowplow lines, or CloudWatch Logs
``zlib``       ``78`` (RFC 1950)      the same, zlib-wrapped (Fluent Bit ``compression zlib``)
``zstd``       ``28 B5 2F FD``        the same, zstd-compressed; or Snowplow's compressed enriched record (``snowplow``)
``snowplow``   a line with tabs       Snowplow enriched TSV (``snowplow``)
``access_log`` ``host - - [time] "``  web server access log lines, common or combined format (``access_log``)
``base64``     base64 text            the base64 of a JSON or binary record above, as the AWS CLI v1 sends
                                      ``--data "$(... | base64)"`` (``base64_text``): read as that record
``cloudwatch`` (inside gzip)          a CloudWatch Logs subscription payload (``cloudwatch``)
``json``       ``{``, ``[``, other    one event (canonical, app envelope, Segment/RudderStack, or mapped), an array
                                      of events, NDJSON, or a Clickstream Analytics on AWS record (``clickstream``);
                                      an object with no user key whose ``log`` is an access log line (Fluent Bit,
                                      Docker) is that line, and one of the Kinesis Agent's ``LOGTOJSON`` names
                                      (``host``, ``datetime``, ``request``, ``response``) is that line's parts
=============  =====================  ============================================================================

A record that is one event (the usual case) decodes to that ``Event``, through the msgspec fast path when it is a
JSON object. A record that holds several (an aggregate, an array, NDJSON, a log batch) decodes to a list of
``Item``: one per event in order, each an ``Event`` or the ``RejectedRecord`` of that part alone, so one bad line
costs one event. A record rejected as a whole raises ``RejectedRecord``. Nothing else escapes (``tests/unit/
test_decode_fuzz.py``).
"""

from __future__ import annotations

import codecs
import enum
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, NamedTuple, TypeVar

from clickguard import settings
from clickguard.decoding import access_log, base64_text, clickstream, cloudwatch, compressed, jsonfast, kpl, snowplow
from clickguard.decoding.mapping import FieldMapping
from clickguard.decoding.wrappers import (
    dms_row,
    dynamodb_insert,
    eventbridge_detail,
    ga360_hits,
    measurement_protocol,
    shared_field_events,
    sole_nested_event,
    wrapped_events,
)
from clickguard.envconfig import ConfigError, choice, number, user_key_source
from clickguard.events import DECODER, Event, UserKeySource, decode_json, parse_object, parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import DateOrder, date_order, parse_timestamp, time_if_missing


class Format(enum.StrEnum):
    JSON = "json"
    KPL = "kpl"
    GZIP = "gzip"
    ZLIB = "zlib"
    ZSTD = "zstd"
    SNOWPLOW = "snowplow"
    CLOUDWATCH = "cloudwatch"
    ACCESS_LOG = "access_log"
    BASE64 = "base64"


ALL_FORMATS = frozenset(Format)


class MissingTime(enum.StrEnum):
    """A record whose event carries no time at all (many generators and SDK calls send none): ``arrival`` reads it
    at the record's arrival on the stream (Kinesis's ``approximateArrivalTimestamp``, the same for the consumer and
    the archive), ``reject`` rejects it (``missing_timestamp``). Files have no arrival: there it is always rejected."""

    ARRIVAL = "arrival"
    REJECT = "reject"


_COMPRESSED = frozenset({Format.GZIP, Format.ZLIB, Format.ZSTD})
# The verdicts a record of several events gets as one (a Clickstream Analytics on AWS record: its events are inside
# ``data``; a wrapper of events, ``wrappers``: inside its one list): it may be larger than one event may be (its events
# are capped as any compressed payload's are).
_RECORD_OF_EVENTS = frozenset({Reason.MISSING_USER_KEY, Reason.RECORD_TOO_LARGE})
# The verdicts a GA4 Measurement Protocol body gets as one event: it names no action of its own, and an app stream's
# none of the user names either (``wrappers.measurement_protocol``).
_MEASUREMENT_VERDICTS = frozenset({Reason.MISSING_EVENT_TYPE, Reason.MISSING_USER_KEY})
# The verdicts a session object (``wrappers.shared_field_events``: a user or a session, no action, one list of its
# events) gets as one event: no action of its own (no user either, when it names only a session); too large for one
# event, as a long session's (a bot's) is, since each of its events is capped as an event.
_SESSION_VERDICTS = frozenset({Reason.MISSING_EVENT_TYPE, Reason.RECORD_TOO_LARGE, Reason.MISSING_USER_KEY})
# Keys of the envelopes and shapes read when a record names no user at its top (``_object``).
_ENVELOPE_MARKERS = (
    b'"log"', b'"message"', b'"metadata"', b'"body"', b'"request"', b'"detail-type"', b'"aws:dynamodb"',
    b'"record-type"',
)  # fmt: skip
_RAW_DECODE = DECODER.raw_decode  # the standard library's, NaN refused: where each of several values ends


def parse_formats(text: str) -> frozenset[Format]:
    """``"json,kpl,gzip"`` -> the formats; empty means all; ``ValueError`` names an unknown one."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        return ALL_FORMATS
    unknown = [n for n in names if n not in Format.__members__.values()]
    if unknown:
        raise ValueError(f"unknown input formats {unknown}; known: {[f.value for f in Format]}")
    return frozenset(Format(n) for n in names)


@dataclass(frozen=True)
class DecodeConfig:
    formats: frozenset[Format] = ALL_FORMATS
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID
    mapping: FieldMapping | None = None
    max_decompressed_bytes: int = settings.DEFAULT_MAX_DECOMPRESSED_BYTES
    # msgspec; False: the standard-library reference path (benchmarks print both, tests compare them)
    fast_json: bool = True
    max_event_bytes: int = field(default=settings.MAX_RECORD_BYTES)
    missing_time: MissingTime = MissingTime.ARRIVAL
    date_order: DateOrder = DateOrder.TOLD


class Item(NamedTuple):
    """One part of a record that holds several: its event or its rejection, the KPL sub-record's own partition
    key, and the bytes it came from (kept with a rejection in the sink's size and checksum)."""

    result: Event | RejectedRecord
    partition_key: str | None = None
    data: bytes | None = None


class Decoder:
    def __init__(self, config: DecodeConfig | None = None) -> None:
        self.config = config = config or DecodeConfig()
        self.formats = config.formats
        self.source = config.user_key_source
        self.mapping = config.mapping
        self.cap = config.max_decompressed_bytes
        self.max_bytes = config.max_event_bytes
        self._plain = Format.JSON in config.formats and config.mapping is None
        self._hot = self._plain
        self._parse = jsonfast.parse_json if config.fast_json else parse_record
        if config.date_order is not DateOrder.TOLD:  # its public calls read dates in that order; else untouched
            for name in ("decode", "decode_many", "items", "decode_at"):
                setattr(self, name, _in_date_order(getattr(self, name), config.date_order))

    def decode(self, data: bytes) -> Event | list[Item]:
        """The record's event, or the list of its parts' events and rejections; raises ``RejectedRecord``."""
        if self._hot and data[:1] == b"{":  # the hot path, inlined: one canonical event
            try:
                return self._parse(data, self.source, self.max_bytes)
            except RejectedRecord as exc:
                return self._several(data, exc)
        return self._decode(data, nested=False)

    def decode_many(self, datas: Sequence[bytes]) -> list[Event | list[Item] | RejectedRecord]:
        """``decode`` of each record, a whole-record rejection returned instead of raised. Records of one plain
        canonical event each (the usual batch) are decoded a chunk per C call (``jsonfast.parse_many``), with the
        same results; any other record is decoded alone."""
        fast = self._events(datas)
        if None not in fast:
            return fast  # type: ignore[return-value]  # no None left: every entry an Event
        return [self._decode_or_reject(data) if ev is None else ev for ev, data in zip(fast, datas, strict=True)]

    def _events(self, datas: Sequence[bytes]) -> list[Event | None]:
        """Each record's event from the many-records fast path, None where the record is decoded alone."""
        if self._hot and self.config.fast_json:
            return jsonfast.parse_many(datas, self.max_bytes)
        return [None] * len(datas)

    def _decode_or_reject(self, data: bytes) -> Event | list[Item] | RejectedRecord:
        try:
            return self.decode(data)
        except RejectedRecord as exc:
            return exc

    def items(self, data: bytes, arrival_ms: int | None = None) -> list[Item]:
        """``decode`` as a list, whatever the record holds (a whole-record rejection is one item); with the record's
        ``arrival_ms``, its events without a time are read at their arrival (``decode_at``)."""
        result = self._decode_or_reject(data)
        if arrival_ms is not None and self.config.missing_time is MissingTime.ARRIVAL and lacks_time(result):
            result = self.decode_at(data, arrival_ms)
        if isinstance(result, RejectedRecord):
            return [Item(result)]
        return [Item(result)] if isinstance(result, Event) else result

    def decode_at(self, data: bytes, arrival_ms: int) -> Event | list[Item] | RejectedRecord:
        """``decode`` of a record that arrived at ``arrival_ms``: under ``missing_time`` ``arrival`` an event with
        no time at all is read at that time (off the hot path: only records that ``lacks_time`` are decoded so)."""
        try:
            arrival_ms = parse_timestamp(arrival_ms)  # an arrival outside 1990-2100 (none given: 0) times nothing
        except RejectedRecord:
            return self._decode_or_reject(data)
        if self.config.missing_time is not MissingTime.ARRIVAL:  # the caller's check, kept where the rule is
            return self._decode_or_reject(data)
        with time_if_missing(arrival_ms):
            return self._decode_or_reject(data)

    # -- formats --------------------------------------------------------------------------------------------------

    def _record(self, data: bytes, nested: bool) -> Event | list[Item]:
        if self._plain and data[:1] == b"{":  # the hot path: one canonical event
            try:
                return self._one_json(data)
            except RejectedRecord as exc:
                return self._several(data, exc)
        return self._decode(data, nested)

    def _several(self, data: bytes, exc: RejectedRecord) -> Event | list[Item]:
        """A text that is not one event may hold several: NDJSON, a Clickstream Analytics on AWS record, a Segment or
        RudderStack batch; or one in another shape (an access log line under ``log``, the Kinesis Agent's LOGTOJSON);
        re-raises ``exc`` (the verdict as one event) when it is none of these."""
        if exc.reason is Reason.NOT_JSON and (line := _json_string_body(data)) is not None:
            return self._payload(line, inflated=False)
        if exc.reason is Reason.NOT_JSON and b"\n" in data.strip():
            return self._lines(data, exc)
        if exc.reason is Reason.NOT_JSON and b"}" in data:
            return self._concatenated(data, exc)
        if exc.reason is Reason.MISSING_USER_KEY and any(map(data.__contains__, _ENVELOPE_MARKERS)):
            try:
                return self._object(self._value(data), verdict=exc)
            except RejectedRecord as inner:  # no envelope after all (an API page's "metadata"): the shapes below
                if inner.reason is not Reason.MISSING_USER_KEY:
                    raise
        if exc.reason in _RECORD_OF_EVENTS and clickstream.MARKER in data and len(data) <= self.cap:
            return self._clickstream(data, exc)
        if exc.reason in _MEASUREMENT_VERDICTS and b'"events"' in data and len(data) <= self.cap:
            events = measurement_protocol(self._value(data))
            if events is not None:  # before the wrappers: an app stream's body names no user they know
                return self._array(events)
        if exc.reason in _SESSION_VERDICTS and b"[" in data and len(data) <= self.cap:
            value = self._value(data)
            events = ga360_hits(value) if b'"visitStartTime"' in data else None
            events = events if events is not None else shared_field_events(value)
            if events is not None:  # a session's events under any name (hits, actions, events)
                return self._array(events)
        if exc.reason is Reason.MISSING_USER_KEY and len(data) <= self.cap:
            event = self._userless(self._value(data))
            if event is not None:
                return event
        if exc.reason in _RECORD_OF_EVENTS and b"[" in data and len(data) <= self.cap:
            return self._wrapped(data, exc)
        raise exc

    def _concatenated(self, data: bytes, whole: RejectedRecord) -> list[Item]:
        """JSON values one after another with no delimiter (Firehose's concatenation of records, some producers'
        batches): each its own item; else (one value, or any that does not parse) the verdict as one record."""
        try:
            text = data.decode("utf-8")
            values, pos = [], 0
            while pos < len(text):
                value, pos = _RAW_DECODE(text, pos)
                values.append(value)
                while pos < len(text) and text[pos] in " \t\r\n":
                    pos += 1
        except (ValueError, RecursionError):  # RejectedRecord (NaN) and UnicodeDecodeError are ValueErrors
            raise whole from None
        if len(values) < 2:
            raise whole
        return self._array(values)

    def _wrapped(self, data: bytes, whole: RejectedRecord) -> list[Item]:
        """A wrapper of events forwarded whole (``wrappers``: a Segment/RudderStack HTTP API batch, an Amplitude
        HTTP API upload, ...): each event its own item, as in a JSON array; else the verdict as one event."""
        try:
            events = wrapped_events(self._value(data))
        except RejectedRecord:
            raise whole from None
        if events is None:
            raise whole
        return self._array(events)

    def _decode(self, data: bytes, nested: bool) -> Event | list[Item]:
        fmt = detect(data)
        if fmt not in self.formats:
            raise RejectedRecord(Reason.FORMAT_DISABLED, f"{fmt.value} records are switched off")
        if fmt is Format.KPL:
            if nested:
                raise RejectedRecord(Reason.KPL_MALFORMED, "an aggregate inside an aggregate")
            return self._aggregate(data)
        if fmt in _COMPRESSED:
            return self._payload(compressed.inflate(data, self.cap), inflated=True)
        if fmt is Format.SNOWPLOW:
            return self._tsv(data)
        if fmt is Format.ACCESS_LOG:
            return self._access_lines(data)
        if fmt is Format.BASE64:
            return self._base64(data, nested)
        return self._payload(data, inflated=False)

    def _base64(self, data: bytes, nested: bool) -> Event | list[Item]:
        """The record the base64 text holds (``base64_text``), its verdict naming where it was found."""
        try:
            return self._decode(base64_text.inner(data), nested)
        except RejectedRecord as exc:
            raise RejectedRecord(exc.reason, f"in the record's base64 text: {exc.detail}") from None

    def _aggregate(self, data: bytes) -> list[Item]:
        keys, payloads = kpl.deaggregate_columns(data)
        fast = self._events(payloads)
        if None not in fast:  # every sub-record one plain canonical event: its Item built in C (tuple.__new__)
            return list(map(tuple.__new__, repeat(Item), zip(fast, keys, repeat(None))))
        out: list[Item] = []
        for key, payload, event in zip(keys, payloads, fast, strict=True):
            if event is not None:
                out.append(Item(event, key))
                continue
            try:
                result = self._record(payload, nested=True)
            except RejectedRecord as exc:
                out.append(Item(exc, key, payload))
                continue
            if isinstance(result, Event):
                out.append(Item(result, key))
            else:
                out.extend(Item(i.result, key, i.data if i.data is not None else payload) for i in result)
        return out

    def _payload(self, data: bytes, inflated: bool) -> Event | list[Item]:
        """JSON text (a record's, or a compressed record's once inflated): one object, an array or NDJSON; Snowplow
        lines; or a CloudWatch Logs payload."""
        # No JSON text may start with a byte-order mark (RFC 8259), yet .NET's and PowerShell's UTF-8 writers add one.
        data = data.removeprefix(codecs.BOM_UTF8)
        text = data.lstrip()
        first = text[:1]
        if first == b"{":
            try:
                return self._json_object(data, inflated)
            except RejectedRecord as exc:
                return self._several(data, exc)
        if first == b"[":
            return self._array(self._value(data))
        if inflated and snowplow.is_framed(data):
            return self._framed(data)
        if Format.SNOWPLOW in self.formats and snowplow.looks_like_tsv(text):
            return self._tsv(data)
        if Format.ACCESS_LOG in self.formats and access_log.looks_like(text):
            return self._access_lines(data)
        if (line := _json_string_body(text)) is not None:  # Fluent Bit's log_key of a text line
            return self._payload(line, inflated)
        if first == b'"':
            return self._double_encoded(data, inflated)
        return self._one_json(data)  # not JSON at all: the reference gives the verdict (not_json, not_utf8...)

    def _double_encoded(self, data: bytes, inflated: bool) -> Event | list[Item]:
        """A JSON string that holds a JSON object (a producer that encoded its event twice, API Gateway's
        ``$input.json`` of a string) is that object; any other string keeps its verdict (``not_object``)."""
        value = self._value(data)
        if isinstance(value, str) and value.lstrip()[:1] == "{":
            return self._json_object(_utf8(value, "a JSON string's event"), inflated)
        return self._one_json(data)

    def _json_object(self, data: bytes, inflated: bool) -> Event | list[Item]:
        """One JSON object; inflated, it may also be a CloudWatch Logs payload (larger than one event may be)."""
        if not inflated:
            return self._one_json(data)
        value = self._value(data)
        if cloudwatch.is_subscription(value):
            return self._log_events(value)
        if len(data) > self.max_bytes:
            raise RejectedRecord(Reason.RECORD_TOO_LARGE, f"{len(data)} bytes > cap of {self.max_bytes}")
        return self._object(value)

    def _value(self, data: bytes) -> Any:
        return jsonfast.decode_value(data) if self.config.fast_json else decode_json(jsonfast.utf8(data))

    def _one_json(self, data: bytes) -> Event:
        if self.mapping is None:
            if self.config.fast_json:
                return jsonfast.parse_json(data, self.source, self.max_bytes)
            return parse_record(data, self.source, self.max_bytes)
        if len(data) > self.max_bytes:
            raise RejectedRecord(Reason.RECORD_TOO_LARGE, f"{len(data)} bytes > cap of {self.max_bytes}")
        return self._object(self._value(data))

    def _object(self, obj: Any, unwrap: bool = True, verdict: RejectedRecord | None = None) -> Event:
        """``obj``'s event, in any of the shapes one JSON object may take; ``verdict``: ``parse_object``'s on it,
        already given (a JSON access log record was read as an event three times, a third of its cost)."""
        if self.mapping is not None and isinstance(obj, dict) and self.mapping.applies(obj):
            return self.mapping.event(obj)
        try:
            if verdict is not None:
                raise verdict
            return parse_object(obj, self.source)
        except RejectedRecord as exc:
            if exc.reason is not Reason.MISSING_USER_KEY or not isinstance(obj, dict):
                raise
            line = _logged_line(obj)
            if unwrap and isinstance(line, str) and line.lstrip()[:1] == "{":
                return self._object(self._value(_utf8(line, "a JSON log line")), unwrap=False)
            inner = (eventbridge_detail(obj) or dynamodb_insert(obj) or dms_row(obj)) if unwrap else None
            if inner is not None:
                return self._object(inner, unwrap=False)
            if access_log.is_agent_json(obj) and Format.ACCESS_LOG in self.formats:  # the Kinesis Agent's LOGTOJSON
                return access_log.parse_fields(obj)
            if (event := self._userless(obj)) is not None:
                return event
            if not (isinstance(line, str) and Format.ACCESS_LOG in self.formats and self._is_access_line(line)):
                raise
            return self._access_text(line)

    def _userless(self, value: Any) -> Event | None:
        """What an object that names no user may still be: the one nested record that does (unwrapped as deep as it
        goes, ``wrappers.sole_nested_event``), or a web server's JSON access log record (``access_log.json_request``,
        with the ``access_log`` format on); None when it is neither."""
        if not isinstance(value, dict):
            return None
        nested = sole_nested_event(value)
        if nested is not None:
            return self._object(nested)
        fields = access_log.json_request(value) if Format.ACCESS_LOG in self.formats else None
        return None if fields is None else parse_object(fields, self.source)

    @staticmethod
    def _is_access_line(text: str) -> bool:
        return access_log.looks_like(text.encode("utf-8", "surrogatepass"))

    @staticmethod
    def _access_text(text: str) -> Event:
        """An access log line met as a JSON string (a log message, Fluent Bit's ``log``)."""
        return access_log.parse_line(_utf8(text, "an access log line"))

    def _array(self, values: Any) -> list[Item]:
        if not values:  # nothing to score: rejected, as the reference rejects a top-level array
            raise RejectedRecord(Reason.NOT_OBJECT, "an empty JSON array holds no event")
        out: list[Item] = []
        for value in values:
            try:
                out.append(Item(self._object(value)))
            except RejectedRecord as exc:
                out.append(Item(exc))
        return out

    def _clickstream(self, data: bytes, whole: RejectedRecord) -> list[Item]:
        """The events of a Clickstream Analytics on AWS record (``clickstream``), each its own item."""
        record = self._value(data)
        if not clickstream.is_record(record):
            raise whole
        values = self._value(clickstream.body(record, self.cap))
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise RejectedRecord(Reason.NOT_OBJECT, "a Clickstream Analytics record with no event")
        out: list[Item] = []
        for value in values:
            try:
                out.append(Item(clickstream.event(value)))
            except RejectedRecord as exc:
                out.append(Item(exc))
        return out

    def _lines(self, data: bytes, whole: RejectedRecord) -> list[Item]:
        """NDJSON: each non-blank line its own event (a single line that is not JSON keeps its own verdict)."""
        lines = [line for line in data.split(b"\n") if line.strip()]
        if len(lines) < 2:
            raise whole
        out: list[Item] = []
        for line in lines:
            try:
                out.append(Item(self._one_json(line)))
            except RejectedRecord as exc:
                out.extend(self._line_items(line, exc))
        return out

    def _line_items(self, line: bytes, verdict: RejectedRecord) -> list[Item]:
        """An NDJSON line that is no event as it stands, read as a record of it alone would be (a log shipper's
        ``{"log": "{...}"}``, Vector's and Filebeat's ``message``: one per record was read, several lines of them
        in one record were each ``missing_user_key``); ``verdict`` when it is none of those shapes."""
        try:
            got = self._several(line, verdict)
        except RejectedRecord as exc:
            return [Item(exc, None, line)]
        return got if isinstance(got, list) else [Item(got)]

    def _access_lines(self, data: bytes) -> Event | list[Item]:
        return self._per_line(data, access_log.parse_line)

    def _tsv(self, data: bytes) -> Event | list[Item]:
        return self._per_line(data, self._tsv_line)

    def _framed(self, data: bytes) -> list[Item]:
        """Snowplow's compressed enriched record, inflated: each length-prefixed line its own event."""
        if Format.SNOWPLOW not in self.formats:
            raise RejectedRecord(Reason.FORMAT_DISABLED, "snowplow records are switched off")
        out: list[Item] = []
        for line in snowplow.framed_lines(data):
            try:
                out.append(Item(self._tsv_line(line)))
            except RejectedRecord as exc:
                out.append(Item(exc, None, line))
        return out

    def _tsv_line(self, line: bytes) -> Event:
        """A line of the mapping's ``tsv_columns`` (a CloudFront real-time log, say) by the mapping; else Snowplow."""
        row = self.mapping.row(jsonfast.utf8(line)) if self.mapping is not None else None
        return snowplow.parse_tsv(line) if row is None else self._object(row)

    @staticmethod
    def _per_line(data: bytes, parse: Callable[[bytes], Event]) -> Event | list[Item]:
        """Text of one event a line (Snowplow TSV, access logs): one line is the record's event, several are each
        their own part, a bad line rejected alone."""
        jsonfast.utf8(data)  # bytes that are not text are one rejection (not_utf8), not one per line
        lines = [line for line in data.split(b"\n") if line.strip()]
        if len(lines) == 1:
            return parse(lines[0])
        out: list[Item] = []
        for line in lines:
            try:
                out.append(Item(parse(line)))
            except RejectedRecord as exc:
                out.append(Item(exc, None, line))
        return out

    def _log_events(self, payload: Mapping[str, Any]) -> list[Item]:
        if Format.CLOUDWATCH not in self.formats:
            raise RejectedRecord(Reason.FORMAT_DISABLED, "cloudwatch records are switched off")
        out: list[Item] = []
        for message, ts_ms in cloudwatch.log_messages(payload):
            try:
                out.append(Item(self._log_event(message, ts_ms)))
            except RejectedRecord as exc:
                out.append(Item(exc))
        return out

    def _log_event(self, message: str, ts_ms: int | None) -> Event:
        message = _logged_message(message)
        if Format.ACCESS_LOG in self.formats and self._is_access_line(message):  # a web server's log group
            return self._access_text(message)
        try:
            data = message.encode("utf-8")
        except UnicodeEncodeError:
            raise RejectedRecord(Reason.BAD_UNICODE, "a log message has an unpaired surrogate") from None
        if len(data) > self.max_bytes:
            raise RejectedRecord(Reason.RECORD_TOO_LARGE, f"{len(data)} bytes > cap of {self.max_bytes}")
        obj = self._value(data)
        if isinstance(obj, dict) and ts_ms is not None and "timestamp" not in obj:
            obj["timestamp"] = ts_ms  # the log event's own time, when the message carries none
        return self._object(obj)


_T = TypeVar("_T")


def _in_date_order(method: Callable[..., _T], order: DateOrder) -> Callable[..., _T]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> _T:
        with date_order(order):
            return method(*args, **kwargs)

    return run


def lacks_time(result: Event | list[Item] | RejectedRecord) -> bool:
    """A record rejected, whole or in a part, for having no time at all."""
    if isinstance(result, RejectedRecord):
        return result.reason is Reason.MISSING_TIMESTAMP
    if isinstance(result, list):
        return any(isinstance(i.result, RejectedRecord) and i.result.reason is Reason.MISSING_TIMESTAMP for i in result)
    return False


def detect(data: bytes) -> Format:
    """The record's format from its first bytes (JSON when nothing else matches: its decoder gives the verdict)."""
    if kpl.is_aggregate(data):
        return Format.KPL
    if compressed.is_gzip(data):
        return Format.GZIP
    if compressed.is_zstd(data):
        return Format.ZSTD
    if compressed.is_zlib(data):
        return Format.ZLIB
    if snowplow.looks_like_tsv(data):
        return Format.SNOWPLOW
    if access_log.looks_like(data):
        return Format.ACCESS_LOG
    if base64_text.holds_record(data):
        return Format.BASE64
    return Format.JSON


def decode_config_from_env(env: Mapping[str, str]) -> DecodeConfig:
    """The decoder's settings from a handler's environment (consumer and archive transformation alike), validated
    once at cold start; ``ConfigError`` names the variable."""
    try:
        formats = parse_formats(env.get(settings.ENV_INPUT_FORMATS, ""))
    except ValueError as exc:
        raise ConfigError(f"{settings.ENV_INPUT_FORMATS}: {exc}") from None
    try:
        mapping = FieldMapping.parse(env.get(settings.ENV_FIELD_MAPPING, ""))
    except ValueError as exc:
        raise ConfigError(f"{settings.ENV_FIELD_MAPPING}: {exc}") from None
    low, high = settings.MAX_DECOMPRESSED_BYTES_RANGE
    cap = number(env, settings.ENV_MAX_DECOMPRESSED_BYTES, settings.DEFAULT_MAX_DECOMPRESSED_BYTES, int, low)
    if cap > high:
        raise ConfigError(f"environment variable {settings.ENV_MAX_DECOMPRESSED_BYTES}={cap} must be <= {high}")
    source = user_key_source(env, settings.ENV_USER_KEY_SOURCE)
    missing_time = choice(env, settings.ENV_MISSING_TIME, MissingTime, MissingTime.ARRIVAL)
    order = choice(env, settings.ENV_DATE_ORDER, DateOrder, DateOrder.TOLD)
    return DecodeConfig(formats, source, mapping, cap, missing_time=missing_time, date_order=order)


def _logged_line(obj: Mapping[str, Any]) -> str | None:
    """The line a log shipper wraps: ``log`` (Docker's json-file driver, Fluent Bit's tail input), else ``message``
    (Vector, Logstash, Filebeat; Filebeat's own ``log`` is an object of the file's details); or, in the two shapes
    that carry one elsewhere, the Kinesis Agent's ADDMETADATA (``{"metadata": {...}, "data": "<line>"}``) and an
    SQS message as an EventBridge pipe delivers it (``{"messageId": ..., "body": "<line>", ...}``)."""
    for key in ("log", "message"):
        line = obj.get(key)
        if isinstance(line, str):
            return line
    if obj.keys() == {"metadata", "data"} and isinstance(obj["data"], str):
        return obj["data"]
    body = obj.get("body")
    return body if isinstance(body, str) and "messageId" in obj else None


# Lambda's default (text) log format: time, request id, level, then the line (often a JSON event) that was logged.
_LAMBDA_TEXT = re.compile(r"\d{4}-\d\d-\d\dT[^\t]{8,40}\t[0-9a-fA-F-]{36}\t[A-Z]{3,8}\t(.*)", re.DOTALL)


def _logged_message(message: str) -> str:
    """A CloudWatch Logs message as the line that was logged: Lambda's text format's prefix dropped."""
    match = _LAMBDA_TEXT.match(message) if "\t" in message[:80] else None
    return match[1] if match else message


def _json_string_body(data: bytes) -> bytes | None:
    """Text whose every quote is escaped, as Fluent Bit's ``log_key`` option writes a record (the log line as a JSON
    string's inside: fluent-bit PR #9049): the line it encodes, or None."""
    escaped = data.count(b'\\"')
    if not escaped or escaped != data.count(b'"'):
        return None
    try:
        text = json.loads(b'"' + data.strip() + b'"')
    except ValueError:
        return None
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else None


def _utf8(text: str, what: str) -> bytes:
    """A record's text met as a JSON string, as bytes to decode again; ``bad_unicode`` for an unpaired surrogate."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedRecord(Reason.BAD_UNICODE, f"{what} has an unpaired surrogate") from None
