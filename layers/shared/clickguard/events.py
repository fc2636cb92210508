"""The event schema: canonical events, the nested clickstream envelope, Segment/RudderStack messages, Amazon
Pinpoint's event stream records and Mixpanel events, parsed to one internal record.

Only the user key, the token (event type, ``#fail`` appended when the outcome failed), the time and the optional
session / event ids survive parsing. The envelope's device, request and location blocks carry personal data
(IMEI, IP, GPS, advertising id) and are never read into the record.

The parser is total: any byte string or str becomes an ``Event`` or raises ``RejectedRecord`` with a ``Reason``,
and nothing else escapes, so one hostile record can only ever be routed to the rejected sink (consumer) or counted
and skipped (trainer), never fail a batch. Hence:

* nesting deeper than ``MAX_DEPTH`` is rejected before decoding (the C decoder recurses, so thousands of levels
  raised ``RecursionError``); the depth scan runs only when the text holds more than ``MAX_DEPTH`` brackets;
* ``NaN`` / ``Infinity``, a number that overflows a float where a timestamp is read, and integers with more digits
  than ``int()`` converts are ``bad_number``;
* the string fields (user key, event type, outcome, session and event ids) take a string or an integer (an outcome
  also a boolean); an object or list there is ``bad_type``, never flattened by ``str()`` (an object-valued id once
  carried an IP and IMEI into DynamoDB);
* every string that leaves the parser encodes as UTF-8 (a JSON ``\\ud800`` escape decodes to a lone surrogate that
  DynamoDB and the sink cannot store): ``bad_unicode``;
* a rejection's ``detail`` is ASCII, short, and quotes at most a cut snippet of one field, never the payload.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import functools
import json
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, NamedTuple, NoReturn

import numpy as np

from clickguard import settings
from clickguard.field_names import OUTCOME_ALIASES, RecordNames

FAIL_SUFFIX = "#fail"
# Canonical events nest 2 levels (record, attributes), the envelope 4; 64 leaves room for any real attribute bag.
MAX_DEPTH = 64


class Reason(enum.StrEnum):
    """Why a record was rejected; used as a metric dimension and in the rejected-records sink."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_USER_KEY = "missing_user_key"
    EMPTY_USER_KEY = "empty_user_key"
    MISSING_EVENT_TYPE = "missing_event_type"
    BAD_TIMESTAMP = "bad_timestamp"
    MISSING_TIMESTAMP = "missing_timestamp"
    USER_KEY_TOO_LONG = "user_key_too_long"
    EVENT_TYPE_TOO_LONG = "event_type_too_long"
    RECORD_TOO_LARGE = "record_too_large"
    UNKNOWN_OUTCOME = "unknown_outcome"
    TOO_DEEP = "too_deep"  # JSON nested deeper than MAX_DEPTH
    BAD_NUMBER = "bad_number"  # NaN / Infinity, a non-finite timestamp, an integer with too many digits
    BAD_TYPE = "bad_type"  # an object, list, float or boolean (allowed for an outcome) where a string is read
    BAD_UNICODE = "bad_unicode"  # a kept string that is not valid UTF-8 (a lone surrogate escape)
    GZIP_GARBAGE = "gzip_garbage"  # trainer: bytes of an archive object after its last whole gzip member
    INTERNAL_ERROR = "internal_error"  # valid or not, the consumer failed on it (a bug): kept with its payload
    IGNORED_MESSAGE_TYPE = "ignored_message_type"  # a Segment/RudderStack message that is no action (identify...)
    BAD_AMOUNT = "bad_amount"  # attributes.amount not a finite number >= 0 (a JSON number or a decimal string)
    # Producer formats (clickguard.decoding): each one's own failure, so a dashboard tells them apart.
    FORMAT_DISABLED = "format_disabled"  # the record's format (detected from its first bytes) is switched off
    KPL_CHECKSUM = "kpl_checksum"  # a KPL aggregate whose MD5 trailer does not match: corrupt or truncated
    KPL_MALFORMED = "kpl_malformed"  # a KPL aggregate whose checksum matches but whose protobuf does not parse
    BAD_COMPRESSION = "bad_compression"  # a gzip/zlib/zstd payload that is corrupt, truncated or followed by garbage
    DECOMPRESSED_TOO_LARGE = "decompressed_too_large"  # inflates past the cap: a decompression bomb, never inflated
    CONTROL_MESSAGE = "control_message"  # a CloudWatch Logs CONTROL_MESSAGE (the subscription's own probe)
    BAD_TSV = "bad_tsv"  # a Snowplow enriched line without the published column count
    BAD_SNOWPLOW_FRAME = "bad_snowplow_frame"  # a Snowplow compressed record whose header or lengths do not parse
    BAD_ACCESS_LOG = "bad_access_log"  # a line of an access log record that is not a common or combined log line
    BAD_BASE64 = "bad_base64"  # base64 text of a record (AWS CLI v1's --data) whose whole does not decode
    STATIC_FILE = "static_file"  # a page's image, script, stylesheet or font: its browser's doing, not its user's


# Records that hold no user action: counted by reason (metrics, the trainer's report) but neither sunk nor logged one
# by one. A web server's log is mostly static files; a sink object and a log line each would cost more than the rest.
SKIPPED: frozenset[Reason] = frozenset({Reason.STATIC_FILE})


class RejectedRecord(ValueError):
    """A record that cannot become an event. ``detail`` never contains the payload itself."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class Event(NamedTuple):
    user_key: str
    token: str
    ts_ms: int
    session_id: str | None = None
    event_id: str | None = None
    # Read from the canonical event's ``attributes`` (or the field mapping) only when present: for rules on purchases
    # in a user's network. Nothing else of ``attributes`` is kept.
    amount: float | None = None
    friend_id: str | None = None


class UserKeySource(enum.StrEnum):
    """Which envelope field identifies a user. The thesis keyed by device token; the app's own id is steadier."""

    SESSION_USER_ID = "session_user_id"  # data.session.user_id, else device access token
    DEVICE_TOKEN = "device_token"  # noqa: S105 - a field name, not a secret  # data.device.access_token_id, else session user id


_SUCCESS = frozenset({"success", "succeeded", "ok", "true", "1", "pass"})
_FAIL = frozenset({"fail", "failed", "failure", "error", "false", "0", "denied"})
_PLAIN_OUTCOMES = {"success": False, "fail": True, "ok": False, "failure": True, "error": True}
# What each plain outcome appends to the event type (none for no outcome).
_SUFFIX: dict[str | None, str] = {None: ""} | {k: FAIL_SUFFIX if bad else "" for k, bad in _PLAIN_OUTCOMES.items()}
_MAX_USER = settings.MAX_USER_KEY_CHARS
_MAX_TYPE = settings.MAX_EVENT_TYPE_CHARS
_new_tuple = tuple.__new__  # builds an Event without NamedTuple's Python-level __new__ (hot path)


def _reject_constant(name: str) -> NoReturn:
    raise RejectedRecord(Reason.BAD_NUMBER, f"{name} is not a JSON number")


# The C decoder calls parse_constant for NaN, Infinity and -Infinity only, so the common path pays nothing for it.
DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_decode = DECODER.decode
# Every byte but a bracket, and the brackets as parentheses: what is left of a text outside its strings.
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_PAREN_RUNS = re.compile(rb"\(+|\)+")
_PASSES = 8


def nesting_depth(text: str | bytes, limit: int = MAX_DEPTH) -> int:
    """Deepest ``[``/``{`` nesting of JSON text (the highest count of brackets open at once), brackets inside
    strings not counted; at most ``limit + 1``. Linear time, in C but for one step per run of brackets:

    escaped quotes and backslashes are dropped, the text is split at its quotes and only the brackets outside
    strings kept. Deleting every adjacent ``()`` lowers the depth by exactly one (each deepest point is such a pair);
    a few such passes leave only structures deeper than that, so few runs of ``(`` and ``)`` to sum one by one.
    Unbalanced text (not JSON) may be over-counted."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.split(b'"')[::2]).translate(_AS_PARENS, _NOT_BRACKET)
    depth = 0
    while depth < _PASSES:
        inner = brackets.replace(b"()", b"")
        if len(inner) == len(brackets):
            break
        brackets, depth = inner, depth + 1
    steps = [len(run) if run[0] == 40 else -len(run) for run in _PAREN_RUNS.findall(brackets)]  # 40 is "("
    return min(depth + max(accumulate(steps, initial=0)), limit + 1)


def decode_json(text: str) -> Any:
    """One JSON value, strictly: ``NaN``/``Infinity`` and nesting beyond ``MAX_DEPTH`` are rejected."""
    opens = text.count("{")
    if "[" in text:  # a membership test is far cheaper than a second count, and most events hold no list
        opens += text.count("[")
    if opens > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise RejectedRecord(Reason.TOO_DEEP, f"JSON nested deeper than {MAX_DEPTH}")
    try:
        return _decode(text)
    except json.JSONDecodeError as exc:
        raise RejectedRecord(Reason.NOT_JSON, f"JSONDecodeError at char {exc.pos}") from None
    except RejectedRecord:
        raise
    except ValueError:  # the only other one: an integer with more digits than int() converts
        raise RejectedRecord(Reason.BAD_NUMBER, "integer with too many digits") from None
    except RecursionError:  # not reachable within MAX_DEPTH; kept so no stack depth of the caller can leak one
        raise RejectedRecord(Reason.TOO_DEEP, "JSON nested too deep to decode") from None


def parse_record(
    data: bytes | str,
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID,
    max_bytes: int = settings.MAX_RECORD_BYTES,
) -> Event:
    """Parse one raw record (a Kinesis record's data or an archive line) or raise ``RejectedRecord``."""
    if len(data) > max_bytes:
        raise RejectedRecord(Reason.RECORD_TOO_LARGE, f"{len(data)} bytes > cap of {max_bytes}")
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RejectedRecord(Reason.NOT_UTF8, f"invalid byte at offset {exc.start}") from None
    return parse_object(decode_json(data), user_key_source)


def parse_object(obj: Any, user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID) -> Event:
    """Turn a decoded JSON value into an ``Event``; the form (canonical, the app envelope, a Segment/RudderStack
    message) is recognised by shape."""
    if not isinstance(obj, dict):
        raise RejectedRecord(Reason.NOT_OBJECT, f"top-level JSON value is {type(obj).__name__}")
    data = obj.get("data")
    if isinstance(data, dict) and isinstance(data.get("event"), dict):  # a row's "event" column is no envelope
        return _parse_envelope(obj, data, user_key_source)
    if "user_id" not in obj and ("userId" in obj or "anonymousId" in obj) and _segment_kind(obj.get("type", "")):
        return _parse_segment(obj)
    client, props = obj.get("client"), obj.get("properties")
    if "user_id" not in obj and type(client) is dict and "client_id" in client:
        return _parse_pinpoint(obj, client)
    if "user_id" not in obj and type(props) is dict and "distinct_id" in props and "event" in obj:
        return _parse_mixpanel(obj, props)
    return _parse_canonical(obj)


def _parse_canonical(obj: Mapping[str, Any]) -> Event:
    get = obj.get
    attrs = get("attributes")
    net = network_fields(attrs) if type(attrs) is dict and ("amount" in attrs or "friend_id" in attrs) else _NO_NET
    user, kind, ts = (get(field) for field in _REQUIRED)
    outcome = get("outcome")
    if user is None or kind is None or ts is None:  # another naming scheme: every field by its other names too
        names = RecordNames(obj)
        user, kind, sid, eid = map(names.named, ("user_id", "event_type", "session_id", "event_id"))
        ts = _aliased_time(names)
        outcome = _aliased_outcome(names) if outcome is None else outcome
    else:  # the canonical names: the other fields by theirs alone, as the typed fast path (``jsonfast``) reads them
        sid, eid = get("session_id"), get("event_id")
    return canonical_event(user, kind, outcome, ts, sid, eid, net)


_REQUIRED = ("user_id", "event_type", "timestamp")


def _aliased_time(names: RecordNames) -> Any:
    """The first of the record's times (``field_names``: its names, best first) that reads as one, in epoch
    milliseconds; else the first found, whose rejection ``canonical_event`` then reports; None when there is none.
    A value that is no time (a page number under ``time``, a duration under ``load_time``) is another field of that
    name, passed over. A time of day alone (``10:00:05``) is read on the day a field named for a date holds
    (``date``, ``event_date``: ``RecordNames.date``)."""
    first = names.named("timestamp")
    if first is None:
        return None
    try:
        return parse_timestamp(first)
    except RejectedRecord:
        pass
    for value in names.values("timestamp"):  # the rarer case, off the usual path: read on
        try:
            return parse_timestamp(value)
        except RejectedRecord:
            continue
    if type(first) is str and _TIME_OF_DAY.fullmatch(first.strip()) and (day := names.date()) is not None:
        try:  # a date and a time of day in two fields, as spreadsheets and SQL exports keep them
            return parse_timestamp(f"{day.strip()} {first.strip()}")
        except RejectedRecord:
            pass
    return first


_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?")


def _aliased_outcome(names: RecordNames) -> Any:
    """The first outcome alias whose value reads as an outcome: a word of success or failure, a boolean, an HTTP
    status (100-599). Any other value (a status of "active", an exit code 0) is another field of that name, passed
    over: an alias never rejects an event that the canonical ``outcome`` would not."""
    get = names.obj.get
    for alias in OUTCOME_ALIASES:
        if (outcome := _as_outcome(get(alias))) is not None:
            return outcome
    for value in names.other_outcome_values():
        if (outcome := _as_outcome(value)) is not None:  # False is an outcome: a failure
            return outcome
    return None


def _as_outcome(value: Any) -> Any:
    """``value`` if it reads as an outcome (lower-cased text), else None."""
    if type(value) is bool or (type(value) is int and 100 <= value <= 599):
        return value
    if type(value) is str and (_is_outcome_word(text := value.strip().lower()) or _is_http_status(text)):
        return text
    return None


def _is_outcome_word(text: str) -> bool:
    return (text in _SUCCESS or text in _FAIL) and not text.isdigit()


def _is_http_status(text: str) -> bool:
    return len(text) == 3 and text.isascii() and text.isdigit() and "100" <= text <= "599"


_NO_NET: tuple[float | None, str | None] = (None, None)


def canonical_event(
    user: Any,
    event_type: Any,
    outcome: Any,
    timestamp: Any,
    sid: Any,
    eid: Any,
    net: tuple[float | None, str | None] = _NO_NET,
) -> Event:
    """The canonical event's fields (decoded by any JSON decoder) -> an ``Event``; the checks in the order the
    reasons are reported: user key, event type and outcome, time, ids (``net``: amount and friend, checked before)."""
    # Fast path for the common well-formed record; anything unusual falls through to the checked path.
    if (
        type(user) is str
        and type(event_type) is str
        and 0 < len(user) <= _MAX_USER
        and 0 < len(event_type) <= _MAX_TYPE
        and user.isascii()
        and event_type.isascii()
        and not user[0].isspace()
        and not user[-1].isspace()
        and not event_type[0].isspace()
        and not event_type[-1].isspace()
        and "/" not in event_type  # maybe a URL: token_of templates it (``page_of``)
        and (outcome is None or (type(outcome) is str and outcome in _SUFFIX))
    ):
        token = event_type + _SUFFIX[outcome]
        user_key = user
    else:
        user_key = user_key_of(user)
        token = token_of(event_type, outcome)
    # Epoch seconds as a float (or milliseconds as an integer) inside 2000-2100: parse_timestamp's result, inlined.
    if type(timestamp) is float and _MIN_S <= timestamp <= _MAX_S:
        ts_ms = int(timestamp * 1000)
    elif type(timestamp) is int and _MIN_MS <= timestamp <= _MAX_MS:
        ts_ms = timestamp
    else:
        ts_ms = parse_timestamp(timestamp)
    if sid is not None and not (type(sid) is str and 0 < len(sid) <= _MAX_USER and sid.isascii()):
        sid = opt_id(sid, "session_id")
    if eid is not None and not (type(eid) is str and 0 < len(eid) <= _MAX_USER and eid.isascii()):
        eid = opt_id(eid, "event_id")
    return _new_tuple(Event, (user_key, token, ts_ms, sid, eid, *net))


class CanonicalColumns(NamedTuple):
    """Many events' ``Event`` fields as columns (without the network fields)."""

    users: list[str]
    tokens: list[str]
    ts_ms: list[int]
    session_ids: list[str | None]
    event_ids: list[str | None]


def canonical_columns(
    users: list[Any], types: list[Any], outcomes: list[Any], timestamps: list[Any], sids: list[Any], eids: list[Any]
) -> CanonicalColumns | None:
    """Many canonical events' fields -> the columns ``canonical_event`` makes of them one by one, when every event
    takes its fast path (plain ASCII user and type, a plain outcome, epoch time in range, plain ids), checked a
    column at a time in C loops; None when one does not, and the caller gives each event its own verdict."""
    joined_types = _plain_keys(types, _MAX_TYPE)
    if _plain_keys(users, _MAX_USER) is None or joined_types is None or not _plain_ids(sids, eids):
        return None
    pages = _pages(types, joined_types)
    tokens = _tokens(pages, outcomes) if pages is not None else None
    ts_ms = _epoch_ms(timestamps)
    if tokens is None or ts_ms is None:
        return None
    return CanonicalColumns(users, tokens, ts_ms, sids, eids)


_NONE = type(None)


def _plain_keys(values: list[Any], cap: int) -> str | None:
    """The values joined when every one is a str of 1 to ``cap`` ASCII characters with no space at either end
    (``str.strip`` strips what ``str.isspace`` calls space), else None."""
    if not values:
        return ""
    if set(map(type, values)) != {str} or min(map(len, values)) == 0 or max(map(len, values)) > cap:
        return None
    joined = "".join(values)
    return joined if joined.isascii() and list(map(str.strip, values)) == values else None


def _pages(types: list[str], joined: str) -> list[str] | None:
    """``page_of`` of each type (a cached call) when some may be a URL (``joined``: the types' text holds a ``/``;
    a page is never longer than its URL); None when one is a static file (its event's own verdict is
    ``static_file``)."""
    if "/" not in joined:
        return types
    pages = list(map(page_of, types))
    return None if any(map(is_static_file, pages)) else pages


def _plain_ids(*columns: list[Any]) -> bool:
    """Every value None or a str of 1 to ``_MAX_USER`` ASCII characters (``opt_id`` would change anything else)."""
    for values in columns:
        kinds = set(map(type, values))
        if not kinds <= {str, _NONE}:
            return False
        if str in kinds:
            present = list(filter(None, values))
            if "" in values or max(map(len, present)) > _MAX_USER or not "".join(present).isascii():
                return False
    return True


def _tokens(types: list[str], outcomes: list[Any]) -> list[str] | None:
    kinds = set(map(type, outcomes))
    if kinds == {_NONE}:
        return types
    if not kinds <= {str, _NONE} or not set(outcomes) <= _SUFFIX.keys():
        return None
    return list(map(str.__add__, types, map(_SUFFIX.__getitem__, outcomes)))


def _epoch_ms(timestamps: list[Any]) -> list[int] | None:
    """Integer epoch milliseconds or float epoch seconds, every one inside 2000-2100 (``canonical_event``'s
    inlined cases; ``t * 1000`` as there, so each float gives the same millisecond)."""
    if not timestamps:
        return []
    kinds = set(map(type, timestamps))
    if kinds == {int} and min(timestamps) >= _MIN_MS and max(timestamps) <= _MAX_MS:
        return timestamps
    if kinds == {float}:
        seconds = np.array(timestamps, dtype=np.float64)
        if ((seconds >= _MIN_S) & (seconds <= _MAX_S)).all():  # NaN fails both
            ms: list[int] = (seconds * 1000).astype(np.int64).tolist()  # truncated toward zero, as int() does
            return ms
    return None


def network_fields(attrs: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """``attributes.amount`` and ``attributes.friend_id`` of a canonical event (each None when absent)."""
    return parse_amount(attrs.get("amount")), friend_key(attrs.get("friend_id"))


_DECIMAL = re.compile(r"[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30}")


def parse_amount(value: Any) -> float | None:
    """A purchase amount: a JSON number or a decimal string (``"12.50"``), finite and >= 0; absent or null is None.
    Anything else (a boolean, an object, a negative or non-finite number, ``"1e3"``, ``"12 EUR"``) is ``bad_amount``."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        text = value.strip()
        if not _DECIMAL.fullmatch(text):
            raise RejectedRecord(Reason.BAD_AMOUNT, f"amount {text[:24]!a} is not a decimal number")
        return float(text)
    if kind is int or kind is float:
        try:
            amount = float(value)
        except OverflowError:  # an integer past a float's range
            raise RejectedRecord(Reason.BAD_AMOUNT, "amount overflows a float") from None
        if amount >= 0 and amount != _INF:  # NaN fails the first test
            return amount
        raise RejectedRecord(Reason.BAD_AMOUNT, "amount is negative or not finite")
    raise RejectedRecord(Reason.BAD_AMOUNT, f"amount is a {kind.__name__}, not a number")


_INF = float("inf")


def friend_key(value: Any) -> str | None:
    """``friend_id``: another user's key, so it follows the user key's rules (a string or an integer, stripped, at
    most the user key's length: cutting it would name another user); absent, null or empty is None."""
    if value is None or value == "":
        return None
    key = _as_text(value, "friend_id").strip()
    if not key:
        return None
    if len(key) > _MAX_USER:
        raise RejectedRecord(Reason.USER_KEY_TOO_LONG, f"friend_id has {len(key)} chars > {_MAX_USER}")
    return _utf8(key, "friend_id")


def _parse_envelope(obj: Mapping[str, Any], data: Mapping[str, Any], source: UserKeySource) -> Event:
    session, device = data.get("session"), data.get("device")
    session = session if isinstance(session, dict) else {}
    device = device if isinstance(device, dict) else {}
    event = data["event"]  # an object: parse_object's test
    by_user, by_device = session.get("user_id"), device.get("access_token_id")
    first, second = (by_user, by_device) if source is UserKeySource.SESSION_USER_ID else (by_device, by_user)
    user_key = user_key_of(first if present(first) else second)
    event_type = event.get("event_type")
    if not present(event_type):
        event_type = event.get("event_name")
    outcome = event.get("outcome", event.get("status"))
    token = token_of(event_type, outcome)
    raw_ts = event.get("event_created")
    ts_ms = parse_timestamp(raw_ts if present(raw_ts) else obj.get("timestamp"))
    event_id = event.get("event_id")
    if not present(event_id):
        event_id = obj.get("event_id")
    return Event(user_key, token, ts_ms, opt_id(session.get("session_id"), "session_id"), opt_id(event_id, "event_id"))


# Segment's and RudderStack's message types (the same spec): the three that are a user's action, and the rest.
_SEGMENT_ACTIONS = frozenset({"track", "page", "screen"})
_SEGMENT_OTHERS = frozenset({"identify", "group", "alias"})


def _segment_kind(kind: Any) -> bool:
    """A Segment or RudderStack message's ``type`` (or one that is no string: ``bad_type``). Another record with a
    ``userId`` and a ``type`` of its own (``pageview``) is a flat event whose action that type may be."""
    return type(kind) is not str or kind in _SEGMENT_ACTIONS or kind in _SEGMENT_OTHERS


def _parse_segment(obj: Mapping[str, Any]) -> Event:
    """A Segment or RudderStack message: the user key is ``userId``, else ``anonymousId``; the action is ``event``
    (track) or ``name`` (page, screen); an unnamed page is its path (``properties.path``, else ``context.page.path``,
    read as ``page_of`` reads a URL: analytics.js's default ``page()`` names none, and every page view being
    ``page`` would say nothing), and an unnamed screen ``screen``; the time ``timestamp`` (else
    ``originalTimestamp``); ``messageId`` is the event id, so a re-sent message is dropped as a duplicate;
    RudderStack's ``context.sessionId`` is the session. Traits, the rest of context and of properties (personal data:
    IP, user agent, device ids, location, e-mail) are never read."""
    kind = obj.get("type")
    if type(kind) is not str:
        raise RejectedRecord(Reason.BAD_TYPE, f"message type is a {type(kind).__name__}, not a string")
    if kind not in _SEGMENT_ACTIONS:
        if kind in _SEGMENT_OTHERS:
            raise RejectedRecord(Reason.IGNORED_MESSAGE_TYPE, f"a {kind} message is no user action")
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, f"message type {str(kind)[:32]!a} is not track/page/screen")
    user = obj.get("userId")
    user_key = user_key_of(user if present(user) else obj.get("anonymousId"))
    action = obj.get("event") if kind == "track" else obj.get("name")
    if not present(action) and kind == "page":
        action = _page_path(obj)
    token = token_of(action if present(action) or kind == "track" else kind, None)
    raw_ts = obj.get("timestamp")
    ts_ms = parse_timestamp(raw_ts if present(raw_ts) else obj.get("originalTimestamp"))
    context = obj.get("context")
    session = context.get("sessionId") if isinstance(context, dict) else None
    return Event(user_key, token, ts_ms, opt_id(session, "session_id"), opt_id(obj.get("messageId"), "event_id"))


def _parse_pinpoint(obj: Mapping[str, Any], client: Mapping[str, Any]) -> Event:
    """An Amazon Pinpoint event stream record (an app event): the user key is ``client.client_id``, the action
    ``event_type`` (``_session.start``, ``_monetization.purchase``, custom names), the time ``event_timestamp`` (ms),
    the session ``session.session_id``. The device, the application, the endpoint (its address, location and
    demographics: personal data) and the attributes are never read."""
    session = obj.get("session")
    sid = session.get("session_id") if type(session) is dict else None
    return canonical_event(client["client_id"], obj.get("event_type"), None, obj.get("event_timestamp"), sid, None)


def _parse_mixpanel(obj: Mapping[str, Any], props: Mapping[str, Any]) -> Event:
    """A Mixpanel event (its import API's and raw export's shape): the user key is ``properties.distinct_id``, the
    action ``event``, the time ``properties.time`` (epoch seconds or milliseconds), the event id
    ``properties.$insert_id`` (Mixpanel's own deduplication key). The other properties (``ip``, ``$city``, the
    device's: personal data) are never read. PostHog's events have this shape too, their time at the top level
    (``timestamp``), read when ``properties.time`` is absent."""
    time = props.get("time")
    time = obj.get("timestamp") if time is None else time
    return canonical_event(props["distinct_id"], obj["event"], None, time, None, props.get("$insert_id"))


def _page_path(msg: Mapping[str, Any]) -> str | None:
    """An unnamed page message's path: ``properties.path``, else ``context.page.path`` (a path, never a full URL)."""
    for outer, key in (("properties", None), ("context", "page")):
        block = msg.get(outer)
        block = block.get(key) if key and isinstance(block, dict) else block
        path = block.get("path") if isinstance(block, dict) else None
        if type(path) is str and path.startswith("/"):
            return path
    return None


def present(value: Any) -> bool:
    return value is not None and value != ""


def _as_text(value: Any, field: str) -> str:
    """A string field's value: a string, or an integer spelled out (a whole float too: pandas writes an id column
    that has a gap as floats, ``12.0``); any other JSON type is ``bad_type``."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer() and abs(value) < _EXACT_FLOAT:
        return str(int(value))
    raise RejectedRecord(Reason.BAD_TYPE, f"{field} is a {type(value).__name__}, not a string or integer")


_EXACT_FLOAT = 2.0**53  # past it a float no longer names one integer


def _utf8(text: str, field: str) -> str:
    """``text`` if it encodes as UTF-8 (ASCII is checked in constant time), else ``bad_unicode``."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RejectedRecord(Reason.BAD_UNICODE, f"{field} has an unpaired surrogate at {exc.start}") from None
    return text


def user_key_of(value: Any) -> str:
    if value is None:
        raise RejectedRecord(Reason.MISSING_USER_KEY, "no user id (or device token) in the record")
    key = _as_text(value, "user id").strip()
    if not key:
        raise RejectedRecord(Reason.EMPTY_USER_KEY, "user id is empty")
    if len(key) > _MAX_USER:
        raise RejectedRecord(Reason.USER_KEY_TOO_LONG, f"user key has {len(key)} chars > {_MAX_USER}")
    return _utf8(key, "user id")


def token_of(event_type: Any, outcome: Any) -> str:
    if event_type is None:
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "event_type missing")
    name = page_of(_as_text(event_type, "event_type").strip())
    if is_static_file(name):
        raise RejectedRecord(Reason.STATIC_FILE, "a page's static file, not a user action")
    if not name:
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "event_type is empty")
    if len(name) > _MAX_TYPE:
        raise RejectedRecord(Reason.EVENT_TYPE_TOO_LONG, f"event_type has {len(name)} chars > {_MAX_TYPE}")
    name = _utf8(name, "event_type")
    if outcome is None:
        return name
    norm = ("true" if outcome else "false") if type(outcome) is bool else _as_text(outcome, "outcome").strip().lower()
    if norm in _SUCCESS:
        return name
    if norm in _FAIL:
        return name + FAIL_SUFFIX
    if _is_http_status(norm):  # web logs
        return name + FAIL_SUFFIX if norm >= "400" else name
    raise RejectedRecord(Reason.UNKNOWN_OUTCOME, f"outcome {norm[:32]!a} is neither success nor fail")


def page_of(name: str) -> str:
    """A URL (a path, or with its scheme) as the event type names the page, not one request of it:

    * the query string is dropped: it would make every request its own action, push long ones past the type's cap,
      and often carries personal data (emails, tokens);
    * each identifier in the path becomes ``*`` (``/product/123/reviews`` -> ``/product/*/reviews``, ``/files/
      60844.pdf`` -> ``/files/*.pdf``), as APM tools group routes: a site's thousands of product pages are one state of
      the model instead of thousands of rare ones folded into ``OTHER``, and an id, an email or an IP in a path is
      personal data. A segment that holds an ``@`` (an email) is one; so is a part of a segment (between dots and
      colons) that is all digits, a hex run of 8 or more with a digit (hashes, UUIDs), or 16 or more letters and
      digits with 2 or more digits (random tokens). Slugs and words are kept. A fragment stays: single-page
      apps route by it (``/#/cart``).

    An HTTP request line (``GET /product/123?ref=mail HTTP/1.1``, as a web log's JSON or a clickstream generator
    names its event) is the page it requests, prefixed by its method when that is not GET (``request_action``).
    Anything else is returned as it is."""
    if name[:1] != "/":
        line = _REQUEST_LINE.fullmatch(name) if " " in name[:17] else None
        if line is not None:
            return request_action(*line.groups())
        if "://" not in name[:12]:
            return name
    return _templated(name.split("?", 1)[0])


def request_action(method: str, target: str) -> str:
    """The action of an HTTP request: its target's page (``page_of``), after its method unless that is GET."""
    page = page_of(target)
    return page if method == "GET" else f"{method} {page}"


@functools.lru_cache(maxsize=8192)  # a site's paths repeat, whatever their queries: each is templated once
def _templated(path: str) -> str:
    return "/".join("*" if "@" in segment else _PART.sub(_part, segment) for segment in path.split("/"))


def is_static_file(page: str) -> bool:
    """A URL (``page_of``'s) of an image, script, stylesheet, source map or font. Web usage mining drops these before
    anything else: a browser fetches them with each page, in a burst, so they make people look like machines (more
    events a minute, sub-second gaps, many distinct requests) and say nothing of what the person did."""
    return (page[:1] == "/" or "://" in page[:12]) and _STATIC_FILE.search(page) is not None


def _part(match: re.Match[str]) -> str:
    text = match[0]
    if text.isdigit() or (_HAS_DIGIT.search(text) and (_HEX_ID.fullmatch(text) or _TOKEN_ID.fullmatch(text))):
        return "*"
    return text


_PART = re.compile(r"[^.:]+")
_REQUEST_LINE = re.compile(r"([A-Z][A-Z_-]{0,15}) ((?:/|[A-Za-z][A-Za-z0-9+.-]{0,15}://)\S*)(?: HTTP/\d(?:\.\d)?)?")
_STATIC_FILE = re.compile(r"\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|woff2?|ttf|otf|eot)(?:#.*)?$", re.I)
_HAS_DIGIT = re.compile(r"[0-9]")
_HEX_ID = re.compile(r"[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_TOKEN_ID = re.compile(r"(?=(?:[A-Za-z]*[0-9]){2})[A-Za-z0-9]{16,}")


def opt_id(value: Any, field: str) -> str | None:
    """A session or event id: absent or empty is None; longer than the user key cap is cut to it."""
    if value is None or value == "":
        return None
    return _utf8(_as_text(value, field)[:_MAX_USER], field)


# Timestamps before 2000 or after 2100 are almost always unit mistakes (seconds read as ms or the reverse).
_MIN_MS = 946_684_800_000
_MAX_MS = 4_102_444_800_000
_MIN_S, _MAX_S = _MIN_MS / 1000, _MAX_MS / 1000


def parse_timestamp(value: Any) -> int:
    """ISO 8601 / RFC 3339 (``Z`` or an offset; naive means UTC), epoch seconds, milliseconds, microseconds or
    nanoseconds (told apart by size: each range of 2000-2100 is its own order of magnitude), or the two forms web
    logs carry (the common log format's ``10/Oct/2024:13:55:36 -0700``, as Apache, nginx and Fluent Bit's parsers
    write it, and RFC 2822 / HTTP-date ``Thu, 10 Oct 2024 20:55:36 GMT``) -> epoch milliseconds.

    Sub-millisecond digits are dropped; every whole millisecond round-trips exactly (a test checks it)."""
    if value is None or value == "":
        if (default := _TIME_IF_MISSING.get()) is not None:
            return default
        raise RejectedRecord(Reason.MISSING_TIMESTAMP, "no timestamp")
    kind = type(value)
    if kind is float or kind is int:
        try:
            ms = _scaled_ms(value)
        except (ValueError, OverflowError):  # NaN or +-inf (1e400 decodes to inf)
            raise RejectedRecord(Reason.BAD_NUMBER, f"timestamp is {value!r}") from None
    elif kind is str:
        text = value.strip()
        try:
            if text[4:5] == "-" or not text.replace(".", "", 1).isdigit():  # ISO in extended form skips the test
                dt = _text_time(text)
                ms = int((dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp() * 1000)
            else:  # digits, maybe one dot: an epoch number (a whole one read exactly, nanoseconds included)
                ms = _scaled_ms(int(text) if text.isdigit() else float(text))
        except (ValueError, OverflowError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
            raise RejectedRecord(Reason.BAD_TIMESTAMP, _unparseable(text)) from None
    else:
        raise RejectedRecord(Reason.BAD_TIMESTAMP, f"timestamp is a {kind.__name__}")
    if not _MIN_MS <= ms <= _MAX_MS:
        raise RejectedRecord(Reason.BAD_TIMESTAMP, "timestamp outside 2000-2100")
    return ms


# The time of an event whose record carries none (its arrival on the stream), set only while such a record is decoded
# again (``time_if_missing``): every format reads its time through ``parse_timestamp``, so one rule covers them all.
_TIME_IF_MISSING: ContextVar[int | None] = ContextVar("time_if_missing", default=None)


@contextlib.contextmanager
def time_if_missing(ts_ms: int) -> Iterator[None]:
    """Within the block an absent time reads as ``ts_ms`` instead of ``missing_timestamp``; a time that is present
    but wrong keeps its own verdict."""
    token = _TIME_IF_MISSING.set(ts_ms)
    try:
        yield
    finally:
        _TIME_IF_MISSING.reset(token)


def _unparseable(text: str) -> str:
    if _SLASH_DATE.match(text):  # none of the forms read has one: said here, off the path of the times that parse
        return f"ambiguous date {text[:24]!a}: month/day or day/month? Write ISO 8601 (2024-10-02T13:55:36Z) or epoch"
    return f"unparseable timestamp {text[:40]!a}"


def _scaled_ms(value: int | float) -> int:
    """An epoch number in seconds, milliseconds, microseconds or nanoseconds -> milliseconds, truncated toward zero
    (a whole number exactly: a float would round a nanosecond count's last digits)."""
    size = abs(value)
    if size < 1e11:
        return int(value * 1000)
    if size < 1e14:
        return int(value)
    divisor = 1_000 if size < 1e17 else 1_000_000
    if isinstance(value, int):
        whole = abs(value) // divisor
        return whole if value >= 0 else -whole
    return int(value / divisor)


def _text_time(text: str) -> datetime:
    """ISO 8601 first (what nearly every producer writes), but for the common log format's time, which no ISO time
    is (a ``/`` third: tried first, without an ISO attempt's exception); then the other forms. ``ValueError`` if
    none."""
    if text[2:3] == "/":  # 10/Oct/2024:13:55:36 -0700 (English month names, whatever the locale)
        return _clf_time(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if text[4:5] == "-":
        return _iso_variant(text.upper())
    if text[4:5] == "/":  # 2024/10/10 13:55:36: Go's log package, nginx's error log
        return _iso_variant(text.replace("/", "-", 2).upper())
    if dotted := _DOTTED_DATE.fullmatch(text):  # 02.10.2024 13:55: day first, as German and Russian write it
        day, month, year, hour, rest = dotted.groups()
        return datetime.fromisoformat(f"{year}-{month:0>2}-{day:0>2} {hour or 0:0>2}{rest or ':00'}")
    if js := _JS_DATE.fullmatch(text):  # String(new Date()) in JavaScript
        month, day, year, clock, offset = js.groups()
        return datetime.fromisoformat(f"{year}-{_MONTHS.index(month.lower()) + 1:02d}-{day:0>2}T{clock}{offset}")
    if text[:1].isalpha() or text[:2].strip().isdigit():
        return _mail_time(text)
    raise ValueError("not a time")


# 10/2/2024: month first in the US, day first elsewhere; a file holds either, and a row cannot tell which.
_SLASH_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}(?:$|[ T,])")
# d.m.yyyy, then h:mm[:ss[.fraction]]
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2})(:\d\d(?::\d\d(?:\.\d+)?)?))?")
_JS_DATE = re.compile(
    r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{4}) (\d\d:\d\d:\d\d) GMT([+-]\d{4})(?: \([^()]*\))?"
)


def _mail_time(text: str) -> datetime:
    """RFC 2822 and HTTP-date's three forms (IMF-fixdate, RFC 850, asctime: RFC 9110 asks recipients to read all
    three), and date(1)'s ``Thu Oct 10 13:55:36 UTC 2024``. A date without a zone is UTC; a zone it does not know
    is refused (it would read ``... 2024 junk`` as UTC): the text ends in a year, a time or a zone it knows. A
    12-hour clock's time has its own reader: the mail parser would take ``PM`` for an unknown zone and the time for
    the morning's."""
    if text[-2:].upper() in ("AM", "PM"):
        return _twelve_hour_time(text)
    try:
        dt = email.utils.parsedate_to_datetime(text)
    except (TypeError, IndexError) as exc:  # what it raises on some malformed dates
        raise ValueError(str(exc)) from None
    last = text.rsplit(None, 1)[-1]
    if dt.tzinfo is None and not (last.isdigit() or ":" in last or text.endswith("-0000")):  # ends in a year or time
        raise ValueError("a zone it does not know")
    return dt


def _twelve_hour_time(text: str) -> datetime:
    """``Oct 10, 2024 8:55:36 PM`` (Java's default date format, spreadsheets' and many US logs' form), with or
    without its weekday and seconds: UTC, as every time without a zone."""
    match = _TWELVE_HOUR.fullmatch(text)
    if match is None:
        raise ValueError("not Mon dd, yyyy h:mm[:ss] AM|PM")
    month, day, year, hour, minute, second, half = match.groups()
    if not 1 <= int(hour) <= 12 or month.lower() not in _MONTHS:
        raise ValueError("no such 12-hour time")
    hour24 = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
    return datetime(int(year), _MONTHS.index(month.lower()) + 1, int(day), hour24, int(minute), int(second or 0))


_TWELVE_HOUR = re.compile(
    r"(?:[A-Za-z]+,? )?([A-Za-z]{3})[A-Za-z]*\.? (\d{1,2}),? (\d{4}),? (\d{1,2}):(\d\d)(?::(\d\d))? ?([AaPp][Mm])"
)


def _iso_variant(upper: str) -> datetime:
    """The ISO 8601 / RFC 3339 forms ``fromisoformat`` refuses, upper-cased: RFC 3339's lower-case ``t`` and ``z``;
    a zone named after the time (" UTC", as data dumps write it); RFC 9557's suffix (Java's ``ZonedDateTime``
    writes ``...+02:00[Europe/Paris]``: the offset alone fixes the instant, so a suffix needs one); an ordinal date
    (``2024-284``); the leap second ``23:59:60`` and the end of day ``24:00``, each the instant after, as POSIX
    time counts them."""
    if upper.endswith("]"):
        upper = upper[: upper.index("[")]
        if not _OFFSET_AT_END.search(upper[10:]):
            raise ValueError("a zone name without an offset")
    if upper.endswith((" UTC", " GMT")):
        upper = upper[:-4] + "+00:00"
    if ordinal := _ORDINAL_DATE.match(upper):
        year, day = int(ordinal[1]), int(ordinal[2])
        date = datetime(year, 1, 1) + timedelta(days=day - 1)
        if day < 1 or date.year != year:
            raise ValueError(f"day {day} of {year}")
        upper = f"{date:%Y-%m-%d}{upper[8:]}"
    if past := _PAST_THE_CLOCK.search(upper):
        name = "hour" if past["hour"] else "second"
        start, end = past.span(name)
        step = timedelta(days=1) if name == "hour" else timedelta(seconds=1)
        return datetime.fromisoformat(upper[:start] + ("00" if name == "hour" else "59") + upper[end:]) + step
    return datetime.fromisoformat(upper)


_OFFSET_AT_END = re.compile(r"(Z|[+-]\d\d(:?\d\d)?)$")
_ORDINAL_DATE = re.compile(r"(\d{4})-(\d{3})(?=[T ]|$)")
_PAST_THE_CLOCK = re.compile(r"[T ](?:(?P<hour>24)(?=:00(:00([.,]0+)?)?(Z|[+-]|$))|\d\d:\d\d:(?P<second>60))")


@functools.lru_cache(maxsize=4096)  # a busy log repeats each second: parsed once (strptime took 6.7 us a time)
def _clf_time(text: str) -> datetime:
    """The common log format's time, ``10/Oct/2024:13:55:36 -0700``: two-digit day, English month, a zone."""
    match = _CLF.fullmatch(text)
    if match is None:
        raise ValueError("not dd/Mon/yyyy:HH:MM:SS +hhmm")
    day, month, year, hour, minute, second, sign, zh, zm = match.groups()
    offset = timedelta(hours=int(zh), minutes=int(zm))
    zone = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), _MONTHS.index(month.lower()) + 1, int(day), int(hour), int(minute), int(second), 0, zone)


_CLF = re.compile(r"(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def format_ms(ts_ms: int) -> str:
    """Epoch ms -> ISO 8601 UTC with a ``Z``, millisecond precision."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
