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

import enum
import json
import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any, NamedTuple, NoReturn

import numpy as np

from clickguard import settings
from clickguard.field_names import NO_VALUE, OUTCOME_ALIASES, RecordNames, loose, no_value
from clickguard.pages import is_static_file, page_of
from clickguard.rejections import Reason, RejectedRecord, shown
from clickguard.timestamps import MAX_MS, MAX_S, MIN_MS, MIN_S, parse_timestamp

FAIL_SUFFIX = "#fail"
# Canonical events nest 2 levels (record, attributes), the envelope 4; 64 leaves room for any real attribute bag.
MAX_DEPTH = 64


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


def _not_json(text: str, pos: int) -> str:
    """Where the JSON broke; for text that never started as JSON, which other forms the decoder reads, since such a
    record is more often a log line in a format it does not know than broken JSON."""
    if text.lstrip()[:1] in ("{", "[", '"'):
        return f"JSONDecodeError at char {pos}"
    what = "neither JSON nor a line of a log format read (common or combined, W3C, load balancer, CloudFront, Snowplow)"
    if max(text.count(","), text.count(";"), text.count("|")) >= 2 and "\t" not in text:
        return what + "; a row of delimited values? name the columns in a header line (in a file: .csv, .tsv)"
    return what


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
        raise RejectedRecord(Reason.NOT_JSON, _not_json(text, exc.pos)) from None
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
    params = obj.get("event_params")
    if type(params) is list and "event_name" in obj and "user_pseudo_id" in obj:
        return _parse_ga4(obj, params)
    return _parse_canonical(obj)


def _parse_canonical(obj: Mapping[str, Any]) -> Event:
    get = obj.get
    attrs = get("attributes")
    net = network_fields(attrs) if type(attrs) is dict and ("amount" in attrs or "friend_id" in attrs) else _NO_NET
    user, kind, ts = (None if no_value(v := get(field)) else v for field in _REQUIRED)  # "NA": no value (``NO_VALUE``)
    outcome = None if no_value(o := get("outcome")) else o
    if user is None or kind is None or ts is None:  # another naming scheme: every field by its other names too
        # The Kinesis Agent's LOGTOJSON line (its ADDEC2METADATA adds an accountId): the decoder reads it as the line.
        if user is None and all(map(obj.__contains__, ACCESS_LOG_PARTS)):
            raise RejectedRecord(Reason.MISSING_USER_KEY, "an access log line's parts: its user is its client address")
        if is_caddy_access(obj):  # its user_id is the request's authenticated login, never read
            raise RejectedRecord(Reason.MISSING_USER_KEY, "a Caddy access log record: its user is its client address")
        names = RecordNames(obj)
        user, kind, sid, eid = map(names.named, ("user_id", "event_type", "session_id", "event_id"))
        kind = specific_action(kind, obj, get("properties"))  # PostHog's page in its properties
        ts = aliased_time(names)
        outcome = _aliased_outcome(names) if outcome is None else outcome
        if user is None and kind is not None and ts is not None:
            user = visitor_of_session(sid)
        elif user is None and visitor_of_session(sid) is not None:  # the verdict wrappers are looked for by; the why
            lacks = "event type" if kind is None else "time"
            raise RejectedRecord(Reason.MISSING_USER_KEY, f"no user id, and no {lacks} for its session's visitor")
    else:  # the canonical names: the other fields by theirs alone, as the typed fast path (``jsonfast``) reads them
        sid, eid = (None if no_value(v := get(name)) else v for name in ("session_id", "event_id"))
        # ... but the outcome under an alias too: the notebook's logs say ``status``, and a canonical record's
        # ``"status": "fail"`` went unread while the same record under other names read it (a tester's AP 0.88 -> 0.62)
        outcome = _named_outcome(get) if outcome is None else outcome
    return canonical_event(user, kind, outcome, ts, sid, eid, net)


# What analytics tools call every page view, compared loosely: read as the action, every page is one state and a
# scraper's walk through a catalogue looks like a person's. Such an event's action is the page it viewed, where the
# record names it (a path or a URL, read as ``page_of`` reads one), as for GA4's rows and Segment's pages.
PAGE_VIEWS = frozenset(
    map(loose, ("page_view", "pageview", "$pageview", "$mp_web_page_view", "page viewed", "loaded a page"))
)
_PAGE_FIELDS = (
    "page_urlpath", "page_path", "pagePath", "$pathname", "pathname", "$current_url", "current_url", "page_location",
    "page_url", "pageUrl", "page_url_path", "location", "url", "uri", "path",
)  # fmt: skip
# Snowplow's structured event ("struct", named "event"): what was done is its ``se_action``, else ``se_category``.
_STRUCTURED = frozenset(("struct", "event"))
_STRUCTURED_FIELDS = ("se_action", "se_category")


def specific_action(kind: Any, *field_sets: Any) -> Any:
    """The action of an event whose name says only what kind of event it is (a page view, a structured event):
    the page or the action the first of ``field_sets`` (mappings; others are passed over) names for it, else
    ``kind``."""
    if type(kind) is not str:
        return kind
    names: tuple[str, ...]
    if kind in _STRUCTURED:
        names, wanted = _STRUCTURED_FIELDS, _is_name
    elif loose(kind) in PAGE_VIEWS:
        names, wanted = _PAGE_FIELDS, _is_page
    else:
        return kind
    found = (v for fields in field_sets if type(fields) is dict for name in names if wanted(v := fields.get(name)))
    return next(found, None) or _flattened(field_sets[0], names, wanted) or kind


def _flattened(obj: Any, names: tuple[str, ...], wanted: Callable[[Any], bool]) -> Any:
    """The first of ``names`` that ``obj`` holds as a flattened export's column (``properties.$current_url``, as
    PostHog's CSV export and ``pandas.json_normalize`` write a nested field): read as the nested field would be."""
    if type(obj) is not dict:
        return None
    last = {key.rsplit(".", 1)[1]: v for key, v in obj.items() if type(key) is str and "." in key}
    return next((v for name in names if wanted(v := last.get(name))), None)


def _is_name(value: Any) -> bool:
    return type(value) is str and present(value)


def _is_page(value: Any) -> bool:
    return type(value) is str and value.startswith(_PAGES)


_PAGES = ("/", "http://", "https://")  # a path or a URL: never a place ("location": "Bakersfield, CA")
_REQUIRED = ("user_id", "event_type", "timestamp")


def is_caddy_access(obj: Mapping[str, Any]) -> bool:
    """Caddy's structured access log record (``"logger": "http.log.access..."``, the request's parts under
    ``request``), which ``decoding.access_log.json_request`` reads."""
    logger = obj.get("logger")
    return type(logger) is str and logger.startswith("http.log.access") and type(obj.get("request")) is dict


# An access log line in parts, as the Kinesis Agent's LOGTOJSON names them (``decoding.access_log`` reads them): no
# alias of a user may be read from such a record, since the decoder reads it as the line, its client the user.
ACCESS_LOG_PARTS = ("host", "datetime", "request", "response")


def aliased_time(names: RecordNames) -> Any:
    """The first of the record's times (``field_names``: its names, best first) that reads as one, in epoch
    milliseconds; else the first found, whose rejection ``canonical_event`` then reports; None when there is none.
    A value that is no time (a page number under ``time``, a duration under ``load_time``) is another field of that
    name, passed over; when none reads, and the first is a number none of whose names is a time's name or alias, the
    record has no time. A time of day alone (``10:00:05``) is read on the day a field named for a date holds
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
    # Found only by its name's words, a number that is no time (Confluent's shoe_clickstream ``view_time``: seconds
    # spent on a page) says the name was no time: the record has none (on the stream, its arrival's), not a bad one.
    # A text keeps its verdict (an ambiguous date is a time misread, not none).
    return None if _is_number(first) and not names.by_name("timestamp") else first


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float or (kind is str and value.strip().replace(".", "", 1).isdigit())


_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?")


def _aliased_outcome(names: RecordNames) -> Any:
    """The first outcome alias whose value reads as an outcome: a word of success or failure, a boolean, an HTTP
    status (100-599). Any other value (a status of "active", an exit code 0) is another field of that name, passed
    over: an alias never rejects an event that the canonical ``outcome`` would not."""
    if (outcome := _named_outcome(names.obj.get)) is not None:
        return outcome
    for value in names.other_outcome_values():
        if (outcome := _as_outcome(value)) is not None:  # False is an outcome: a failure
            return outcome
    return None


def _named_outcome(get: Callable[[str], Any]) -> Any:
    """The first of ``OUTCOME_ALIASES``, spelled as written, whose value reads as an outcome."""
    for alias in OUTCOME_ALIASES:
        if (outcome := _as_outcome(get(alias))) is not None:
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
        and user not in NO_VALUE
        and event_type not in NO_VALUE
        and user.isascii()
        and event_type.isascii()
        and user.isprintable()  # for ASCII: no C0 control or DEL (``_printable``)
        and event_type.isprintable()
        and not user[0].isspace()
        and not user[-1].isspace()
        and not event_type[0].isspace()
        and not event_type[-1].isspace()
        and "/" not in event_type  # maybe a URL: token_of templates it (``page_of``)
        and "?" not in event_type  # a query string: token_of drops it
        and "@" not in event_type  # an e-mail in it: token_of templates it
        and (outcome is None or (type(outcome) is str and outcome in _SUFFIX))
    ):
        token = event_type + _SUFFIX[outcome]
        user_key = user
    else:
        user_key = user_key_of(user)
        token = token_of(event_type, outcome)
    # Epoch seconds as a float (or milliseconds as an integer) inside 1990-2100: parse_timestamp's result, inlined.
    if type(timestamp) is float and MIN_S <= timestamp <= MAX_S:
        ts_ms = int(timestamp * 1000)
    elif type(timestamp) is int and MIN_MS <= timestamp <= MAX_MS:
        ts_ms = timestamp
    else:
        ts_ms = parse_timestamp(timestamp)
    if sid is not None and (not (type(sid) is str and 0 < len(sid) <= _MAX_USER and sid.isascii()) or sid in NO_VALUE):
        sid = None if sid == NO_SESSION else opt_id(sid, "session_id")
    if eid is not None and (not (type(eid) is str and 0 < len(eid) <= _MAX_USER and eid.isascii()) or eid in NO_VALUE):
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
    if not (NO_VALUE.isdisjoint(users) and NO_VALUE.isdisjoint(types)):  # "NA": no value, read by the reference
        return None
    pages = _pages(types, joined_types)
    tokens = _tokens(pages, outcomes) if pages is not None else None
    ts_ms = _epoch_ms(timestamps)
    if tokens is None or ts_ms is None:
        return None
    return CanonicalColumns(users, tokens, ts_ms, sids, eids)


_NONE = type(None)


def _plain_keys(values: list[Any], cap: int) -> str | None:
    """The values joined when every one is a str of 1 to ``cap`` printable ASCII characters with no space at either
    end (``str.strip`` strips what ``str.isspace`` calls space), else None."""
    if not values:
        return ""
    if set(map(type, values)) != {str} or min(map(len, values)) == 0 or max(map(len, values)) > cap:
        return None
    joined = "".join(values)
    plain = joined.isascii() and joined.isprintable()  # no control character: ``_printable``'s verdict otherwise
    return joined if plain and list(map(str.strip, values)) == values else None


def _pages(types: list[str], joined: str) -> list[str] | None:
    """``page_of`` of each type (a cached call) when some may be a URL or hold an e-mail (``joined``: the types' text
    holds a ``/``, a ``?`` or an ``@``; a page is never longer than its URL); None when one is a static file (its
    event's own verdict is ``static_file``)."""
    if "/" not in joined and "?" not in joined and "@" not in joined:
        return types
    pages = list(map(page_of, types))
    return None if any(map(is_static_file, pages)) or not all(pages) else pages  # "?q=x" is no action: its verdict


def _plain_ids(*columns: list[Any]) -> bool:
    """Every value None or a str of 1 to ``_MAX_USER`` ASCII characters (``opt_id`` would change anything else)."""
    for values in columns:
        kinds = set(map(type, values))
        if not kinds <= {str, _NONE}:
            return False
        if str in kinds:
            present = list(filter(None, values))
            if not NO_VALUE.isdisjoint(values) or max(map(len, present)) > _MAX_USER or not "".join(present).isascii():
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
    """Integer epoch milliseconds or float epoch seconds, every one inside 1990-2100 (``canonical_event``'s
    inlined cases; ``t * 1000`` as there, so each float gives the same millisecond)."""
    if not timestamps:
        return []
    kinds = set(map(type, timestamps))
    if kinds == {int} and min(timestamps) >= MIN_MS and max(timestamps) <= MAX_MS:
        return timestamps
    if kinds == {float}:
        seconds = np.array(timestamps, dtype=np.float64)
        if ((seconds >= MIN_S) & (seconds <= MAX_S)).all():  # NaN fails both
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
            raise RejectedRecord(Reason.BAD_AMOUNT, f"amount {shown(text)} is not a decimal number")
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
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, f"message type {shown(kind)} is not track/page/screen")
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
    ``properties.$insert_id`` (Mixpanel's own deduplication key); a page view's action its page
    (``properties.$current_url``, ``specific_action``). The other properties (``ip``, ``$city``, the device's:
    personal data) are never read. PostHog's events have this shape too, their time at the top level
    (``timestamp``), read when ``properties.time`` is absent, their session ``properties.$session_id``."""
    time = props.get("time")
    time = obj.get("timestamp") if time is None else time
    action = specific_action(obj["event"], props)  # $mp_web_page_view, PostHog's $pageview: its $current_url
    return canonical_event(props["distinct_id"], action, None, time, props.get("$session_id"), props.get("$insert_id"))


def _parse_ga4(obj: Mapping[str, Any], params: list[Any]) -> Event:
    """A Google Analytics 4 BigQuery export row: the user ``user_id``, else ``user_pseudo_id``; the action
    ``event_name``, a page view's being the page it viewed (its ``page_location`` param: read as ``page_view``, every
    page is one state, and a scraper's walk through a catalogue looks like a person's); the time ``event_timestamp``
    (microseconds); the session its ``ga_session_id`` param. The other params, the device, geo and traffic source
    are never read."""
    values = {p.get("key"): _ga4_value(p.get("value")) for p in params if type(p) is dict}
    action = specific_action(obj["event_name"], values)
    user = obj.get("user_id") or obj["user_pseudo_id"]
    return canonical_event(user, action, None, obj.get("event_timestamp"), values.get("ga_session_id"), None)


def _ga4_value(value: Any) -> Any:
    """A GA4 param's value: the one of its typed fields that is set."""
    if type(value) is not dict:
        return None
    return next((v for k in ("string_value", "int_value", "double_value", "float_value") if (v := value.get(k))), None)


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
    return not no_value(value)


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
    if no_value(value):
        raise RejectedRecord(Reason.MISSING_USER_KEY, "no user id (or device token) in the record")
    key = _as_text(value, "user id").strip()
    if not key:
        raise RejectedRecord(Reason.EMPTY_USER_KEY, "user id is empty")
    if len(key) > _MAX_USER:
        raise RejectedRecord(Reason.USER_KEY_TOO_LONG, f"user key has {len(key)} chars > {_MAX_USER}")
    return _printable(_utf8(key, "user id"), "user id")


def _printable(text: str, field: str) -> str:
    """``text`` unless it holds a control character (C0, DEL, C1): ``control_character``. ``isprintable`` answers
    in C for nearly every text; a text it calls unprintable for another reason (an emoji's zero-width joiner, a
    no-break space) is looked at again for controls."""
    if not text.isprintable() and (control := _CONTROL.search(text)) is not None:
        code = ord(control.group())
        raise RejectedRecord(Reason.CONTROL_CHARACTER, f"{field} holds the control character U+{code:04X}")
    return text


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def token_of(event_type: Any, outcome: Any) -> str:
    if no_value(event_type):
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "event_type missing")
    name = page_of(_as_text(event_type, "event_type").strip())
    if is_static_file(name):
        raise RejectedRecord(Reason.STATIC_FILE, "a page's static file, not a user action")
    if not name:
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "event_type is empty")
    if len(name) > _MAX_TYPE:
        raise RejectedRecord(Reason.EVENT_TYPE_TOO_LONG, f"event_type has {len(name)} chars > {_MAX_TYPE}")
    name = _printable(_utf8(name, "event_type"), "event_type")
    if no_value(outcome):
        return name
    norm = ("true" if outcome else "false") if type(outcome) is bool else _as_text(outcome, "outcome").strip().lower()
    if norm in _SUCCESS:
        return name
    if norm in _FAIL:
        return name + FAIL_SUFFIX
    if _is_http_status(norm):  # web logs
        return name + FAIL_SUFFIX if norm >= "400" else name
    raise RejectedRecord(Reason.UNKNOWN_OUTCOME, f"outcome {shown(norm)} is neither success nor fail")


# A numeric session id of -1 is "no session": Amplitude's export writes it for the events it keeps outside any
# session. Read as an id, it made those events one session of their own, cutting the user's real one around them.
NO_SESSION = -1


# An event of nobody signed in (a guest's, an anonymous visitor's: eventsim's logged-out pages, Diginetica's "NA"
# users, YooChoose's sessions, which name no user at all) is its session's: a bot seldom signs in, and its events were
# all ``missing_user_key``. The prefix keeps a session apart from a user whose id is the same number.
VISITOR_PREFIX = "session:"


def visitor_of_session(sid: Any) -> str | None:
    """The user key of an event that names no user but a session (``VISITOR_PREFIX`` and the session id); None when
    it names no session either."""
    if sid is None or sid == NO_SESSION or no_value(sid) or type(sid) not in (str, int):
        return None
    text = str(sid).strip()
    return VISITOR_PREFIX + text if text else None


def copy_key(event_id: str, ts_ms: int, token: str) -> str:
    """What makes a record with an event id a copy of an earlier one (a producer's retry): the same id on the same
    event, its time and action. The id alone is not enough: some producers number events per device or per session
    (Amplitude's ``event_id``), so that one id names several events of a user. The consumer and the trainer both
    drop copies by it."""
    return f"{event_id}\x1f{ts_ms}\x1f{token}"


def opt_id(value: Any, field: str) -> str | None:
    """A session or event id: absent or empty is None; longer than the user key cap is cut to it."""
    if no_value(value):
        return None
    return _utf8(_as_text(value, field)[:_MAX_USER], field)
