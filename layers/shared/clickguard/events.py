"""The event schema: canonical events and the nested clickstream envelope, parsed to one internal record.

Only the user key, the token (event type, ``#fail`` appended when the outcome failed), the time and the optional
session / event ids survive parsing. The envelope's device, request and location blocks carry personal data
(IMEI, IP, GPS, advertising id) and are never read into the record.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from clickguard import settings

FAIL_SUFFIX = "#fail"


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


class UserKeySource(enum.StrEnum):
    """Which envelope field identifies a user. The thesis keyed by device token; the app's own id is steadier."""

    SESSION_USER_ID = "session_user_id"  # data.session.user_id, else device access token
    DEVICE_TOKEN = "device_token"  # noqa: S105 - a field name, not a secret  # data.device.access_token_id, else session user id


_SUCCESS = frozenset({"success", "succeeded", "ok", "true", "1", "pass"})
_FAIL = frozenset({"fail", "failed", "failure", "error", "false", "0", "denied"})
_PLAIN_OUTCOMES = {"success": False, "fail": True, "ok": False, "failure": True, "error": True}
_decode = json.JSONDecoder().decode


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
    try:
        obj = _decode(data)
    except ValueError as exc:
        raise RejectedRecord(Reason.NOT_JSON, f"{type(exc).__name__} at char {getattr(exc, 'pos', '?')}") from None
    return parse_object(obj, user_key_source)


def parse_object(obj: Any, user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID) -> Event:
    """Turn a decoded JSON value into an ``Event``; envelope or canonical form is recognised by shape."""
    if not isinstance(obj, dict):
        raise RejectedRecord(Reason.NOT_OBJECT, f"top-level JSON value is {type(obj).__name__}")
    data = obj.get("data")
    if isinstance(data, dict) and "event" in data:
        return _parse_envelope(obj, data, user_key_source)
    return _parse_canonical(obj)


def _parse_canonical(obj: Mapping[str, Any]) -> Event:
    user, event_type, outcome = obj.get("user_id"), obj.get("event_type"), obj.get("outcome")
    # Fast path for the common well-formed record; anything unusual falls through to the checked path.
    if (
        type(user) is str
        and type(event_type) is str
        and 0 < len(user) <= settings.MAX_USER_KEY_CHARS
        and 0 < len(event_type) <= settings.MAX_EVENT_TYPE_CHARS
        and not user[0].isspace()
        and not user[-1].isspace()
        and not event_type[0].isspace()
        and not event_type[-1].isspace()
        and (outcome is None or outcome in _PLAIN_OUTCOMES)
    ):
        token = event_type + FAIL_SUFFIX if outcome is not None and _PLAIN_OUTCOMES[outcome] else event_type
        user_key = user
    else:
        user_key = _user_key(user)
        token = _token(event_type, outcome)
    ts_ms = parse_timestamp(obj.get("timestamp"))
    sid, eid = obj.get("session_id"), obj.get("event_id")
    return Event(
        user_key,
        token,
        ts_ms,
        None if sid is None else _opt_str(sid),
        None if eid is None else _opt_str(eid),
    )


def _parse_envelope(obj: Mapping[str, Any], data: Mapping[str, Any], source: UserKeySource) -> Event:
    session = data.get("session") if isinstance(data.get("session"), dict) else {}
    device = data.get("device") if isinstance(data.get("device"), dict) else {}
    event = data.get("event")
    if not isinstance(event, dict):
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "data.event is not an object")
    by_user, by_device = session.get("user_id"), device.get("access_token_id")
    first, second = (by_user, by_device) if source is UserKeySource.SESSION_USER_ID else (by_device, by_user)
    user_key = _user_key(first if _present(first) else second)
    event_type = event.get("event_type")
    if not _present(event_type):
        event_type = event.get("event_name")
    outcome = event.get("outcome", event.get("status"))
    token = _token(event_type, outcome)
    raw_ts = event.get("event_created")
    ts_ms = parse_timestamp(raw_ts if _present(raw_ts) else obj.get("timestamp"))
    event_id = event.get("event_id") or obj.get("event_id")
    return Event(user_key, token, ts_ms, _opt_str(session.get("session_id")), _opt_str(event_id))


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _user_key(value: Any) -> str:
    if value is None:
        raise RejectedRecord(Reason.MISSING_USER_KEY, "no user id (or device token) in the record")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RejectedRecord(Reason.MISSING_USER_KEY, f"user id is a {type(value).__name__}, not a string or integer")
    key = str(value).strip()
    if not key:
        raise RejectedRecord(Reason.EMPTY_USER_KEY, "user id is empty")
    if len(key) > settings.MAX_USER_KEY_CHARS:
        raise RejectedRecord(
            Reason.USER_KEY_TOO_LONG, f"user key has {len(key)} chars > {settings.MAX_USER_KEY_CHARS}"
        )
    return key


def _token(event_type: Any, outcome: Any) -> str:
    if event_type is None or isinstance(event_type, bool) or not isinstance(event_type, str | int):
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "event_type missing or not a string")
    name = str(event_type).strip()
    if not name:
        raise RejectedRecord(Reason.MISSING_EVENT_TYPE, "event_type is empty")
    if len(name) > settings.MAX_EVENT_TYPE_CHARS:
        raise RejectedRecord(
            Reason.EVENT_TYPE_TOO_LONG, f"event_type has {len(name)} chars > {settings.MAX_EVENT_TYPE_CHARS}"
        )
    if outcome is None:
        return name
    norm = str(outcome).strip().lower() if not isinstance(outcome, bool) else ("true" if outcome else "false")
    if norm in _SUCCESS:
        return name
    if norm in _FAIL:
        return name + FAIL_SUFFIX
    raise RejectedRecord(Reason.UNKNOWN_OUTCOME, f"outcome {str(outcome)[:32]!r} is neither success nor fail")


def _opt_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[: settings.MAX_USER_KEY_CHARS]


# Timestamps before 2000 or after 2100 are almost always unit mistakes (seconds read as ms or the reverse).
_MIN_MS = 946_684_800_000
_MAX_MS = 4_102_444_800_000


def parse_timestamp(value: Any) -> int:
    """ISO 8601 (``Z`` or an offset; naive means UTC) or epoch seconds / milliseconds -> epoch milliseconds.

    Sub-millisecond digits are dropped; every whole millisecond round-trips exactly (a test checks it)."""
    if value is None or value == "":
        raise RejectedRecord(Reason.MISSING_TIMESTAMP, "no timestamp")
    kind = type(value)
    if kind is float or kind is int:
        ms = int(value * 1000) if abs(value) < 1e11 else int(value)
    elif kind is str:
        text = value.strip()
        try:
            if text.replace(".", "", 1).isdigit():
                number = float(text)
                ms = int(number * 1000) if number < 1e11 else int(number)
            else:
                dt = datetime.fromisoformat(text)
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=UTC)
                ms = int(dt.timestamp() * 1000)
        except (ValueError, OverflowError):
            raise RejectedRecord(Reason.BAD_TIMESTAMP, f"unparseable timestamp {text[:40]!r}") from None
    else:
        raise RejectedRecord(Reason.BAD_TIMESTAMP, f"timestamp is a {kind.__name__}")
    if not _MIN_MS <= ms <= _MAX_MS:
        raise RejectedRecord(Reason.BAD_TIMESTAMP, "timestamp outside 2000-2100")
    return ms


def format_ms(ts_ms: int) -> str:
    """Epoch ms -> ISO 8601 UTC with a ``Z``, millisecond precision."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
