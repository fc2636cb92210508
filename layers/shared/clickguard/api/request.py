"""The ``POST /score`` body, parsed and checked: ``{"user_key": "...", "events": [canonical events, optional]}``.

Checks, in the order their reasons are reported (``errors.Reason``): the body's size, that it is UTF-8 JSON (the
consumer's strict decoder: no ``NaN``, nesting bounded), an object with no field but ``user_key`` and ``events``,
the user key (a string, by the event schema's rule: trimmed, non-empty, at most 256 characters), ``events`` a
list of at most ``MAX_EVENTS``, each event accepted by the consumer's own decoder (``events.parse_object``: the
canonical event, the app envelope or a Segment/RudderStack message, with the same rejection reasons), and each one
the named user's.

Limits: the consumer keeps a session as O(1) state, so a caller needs to send only what the stream has not carried
yet (seconds of events, not a history). 500 events of a few hundred bytes fit well inside 256 KiB, and a request
at both limits is scored in milliseconds (bench/bench_score_api.py), far inside the function's timeout.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from clickguard.api.errors import ApiError, Reason, bad_request
from clickguard.events import Event, UserKeySource, decode_json, parse_object, user_key_of
from clickguard.rejections import RejectedRecord

MAX_BODY_BYTES = 256 * 1024
MAX_EVENTS = 500
FIELDS = ("user_key", "events")
_BASE64_CHARS = (MAX_BODY_BYTES + 2) // 3 * 4


@dataclass(frozen=True)
class ScoreRequest:
    user_key: str
    events: tuple[Event, ...] = ()  # in the order sent: the order the consumer would apply them


def body_bytes(body: str | None, is_base64: bool) -> bytes:
    """The raw body of a Function URL request (text, or base64 for binary content types), size-checked first."""
    text = body or ""
    # Before any work on it: a character is at least one byte, and base64 holds 3 bytes in 4 characters.
    if len(text) > (_BASE64_CHARS if is_base64 else MAX_BODY_BYTES):
        raise _too_large(len(text) * 3 // 4 if is_base64 else len(text))
    if is_base64:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(Reason.BAD_BASE64, "the body is marked base64 but does not decode") from None
    else:
        raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large(len(raw))
    return raw


def _too_large(size: int) -> ApiError:
    return bad_request(Reason.BODY_TOO_LARGE, f"the body has {size} bytes; at most {MAX_BODY_BYTES}")


def parse_request(raw: bytes, user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID) -> ScoreRequest:
    """The request, or ``ApiError`` (400) with the first problem found."""
    obj = _json_object(raw)
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        names = ", ".join(ascii(name)[:40] for name in unknown[:3])
        raise bad_request(Reason.UNKNOWN_FIELD, f"unknown field(s) {names}; the body holds only {list(FIELDS)}")
    user_key = _user_key(obj.get("user_key"))
    events = _events(obj.get("events"), user_key, user_key_source)
    return ScoreRequest(user_key, events)


def _json_object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large(len(raw))
    if not raw.strip():
        raise bad_request(Reason.EMPTY_BODY, 'the body is empty; send {"user_key": "..."}')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(Reason.NOT_UTF8, f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        obj = decode_json(text)
    except RejectedRecord as exc:
        raise bad_request(Reason.BAD_JSON, f"the body is not valid JSON: {exc.reason.value}: {exc.detail}") from None
    if not isinstance(obj, dict):
        raise bad_request(Reason.NOT_OBJECT, f"the body is a JSON {type(obj).__name__}, not an object")
    return obj


def _user_key(value: Any) -> str:
    if value is None:
        raise bad_request(Reason.MISSING_USER_KEY, "user_key is required")
    if type(value) is not str:
        raise bad_request(Reason.BAD_USER_KEY, f"user_key is a JSON {type(value).__name__}, not a string")
    try:
        return user_key_of(value)  # the event schema's rule, so a key compares equal to its events' keys
    except RejectedRecord as exc:
        raise bad_request(Reason.BAD_USER_KEY, f"user_key: {exc.reason.value}: {exc.detail}") from None


def _events(value: Any, user_key: str, source: UserKeySource) -> tuple[Event, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise bad_request(Reason.BAD_EVENTS, f"events is a JSON {type(value).__name__}, not a list")
    if len(value) > MAX_EVENTS:
        raise bad_request(Reason.TOO_MANY_EVENTS, f"events holds {len(value)} events; at most {MAX_EVENTS}")
    out = []
    for i, item in enumerate(value):
        try:
            event = parse_object(item, source)
        except RejectedRecord as exc:
            detail = f": {exc.detail}" if exc.detail else ""
            raise bad_request(Reason.BAD_EVENT, f"events[{i}]: {exc.reason.value}{detail}") from None
        if event.user_key != user_key:
            raise bad_request(Reason.USER_KEY_MISMATCH, f"events[{i}] belongs to another user than user_key")
        out.append(event)
    return tuple(out)
