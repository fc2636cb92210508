"""Which of a file's fields the decoder read as the user, the action and the time: said when they are not the
canonical names, since a guessed column read silently (a page number taken for the action, a product id for the
user) is the worst kind of misreading, and reading ``model.json``'s vocabulary was the only way to tell."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgspec

from clickguard.decoding import DecodeConfig, Decoder
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import FAIL_SUFFIX, VISITOR_PREFIX, Event, UserKeySource
from clickguard.files import event_lines, open_binary
from clickguard.pages import page_of
from clickguard.rejections import RejectedRecord
from clickguard.timestamps import parse_timestamp

_LOOKED_AT = 200  # lines read for a first event of one flat object: past them, the file is not such a file
_CANONICAL = {"user": "user_id", "action": "event_type", "time": "timestamp"}


def fields_read(
    path: Path, source: UserKeySource, mapping: FieldMapping | None, columns: tuple[str, ...] = ()
) -> str | None:
    """``user <- 'visitorid', action <- 'event', time <- 'timestamp' (epoch milliseconds)``: the top-level fields of
    the file's first event whose values the decoder's event holds, or None when they are the canonical names, or
    the file's first events are no flat objects (a log line, an envelope: read by their format, not by names)."""
    if not path.is_file():  # a pipe was read once already
        return None
    decoder = Decoder(DecodeConfig(user_key_source=source, mapping=mapping))
    try:
        with open_binary(path) as fh:
            for line in itertools.islice(event_lines(fh, path, columns=columns), _LOOKED_AT):
                found = _first_event(decoder, line)
                if found is not None:
                    return _said(*found)
    except (OSError, EOFError, ValueError):  # csv.Error is a ValueError's kin: the read itself said why
        return None
    return None


def _first_event(decoder: Decoder, line: bytes) -> tuple[dict[str, Any], Event] | None:
    try:
        obj = msgspec.json.decode(line)
        event = decoder.decode(line)
    except (msgspec.DecodeError, RejectedRecord, RecursionError):
        return None
    return (obj, event) if isinstance(obj, dict) and isinstance(event, Event) else None


def _said(obj: dict[str, Any], event: Event) -> str | None:
    fields = {
        "user": _keys(obj, "user", lambda v: v in (event.user_key, event.user_key.removeprefix(VISITOR_PREFIX))),
        "action": _keys(obj, "action", lambda v: event.token.removesuffix(FAIL_SUFFIX) in (v, page_of(v))),
        "time": _keys(obj, "time", lambda v: _time(v) == event.ts_ms, raw=True),
    }
    if all(names[:1] == [_CANONICAL[what]] for what, names in fields.items()):
        return None
    said = [f"{what} <- {' or '.join(map(repr, names)) if names else '(by shape)'}" for what, names in fields.items()]
    if event.user_key.startswith(VISITOR_PREFIX):
        said[0] += " (a session: its visitor)"
    if unit := _unit(obj, fields["time"], event.ts_ms):
        said[2] += f" ({unit})"
    return ", ".join(said)


def _keys(obj: dict[str, Any], what: str, matches: Any, raw: bool = False) -> list[str]:
    """The keys whose value (as text, stripped, unless ``raw``) ``matches``; of several, those whose name says
    ``what`` they hold, when any does (a session id of 1 is also the row's day and order of 1)."""
    found = [
        key
        for key, value in obj.items()
        if type(value) in (str, int, float) and matches(value if raw else str(value).strip())
    ]
    named = [key for key in found if any(word in key.lower() for word in _WORDS[what])]
    return named or found


_WORDS = {
    "user": ("user", "session", "visitor", "client", "customer", "distinct", "id"),
    "action": ("event", "action", "type", "page", "url", "path", "name", "activity", "behavio"),
    "time": ("time", "date", "ts", "when"),
}


def _time(value: Any) -> int | None:
    try:
        return parse_timestamp(value)
    except RejectedRecord:
        return None


_UNITS = ((1000, "epoch seconds"), (1, "epoch milliseconds"), (1e-3, "epoch microseconds"), (1e-6, "epoch nanoseconds"))


def _unit(obj: dict[str, Any], keys: list[str], ts_ms: int) -> str | None:
    """How the time's number was read (its text said it otherwise)."""
    value: Any = obj[keys[0]] if keys else None
    if type(value) not in (int, float, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number <= 0:
        return None
    return next((name for scale, name in _UNITS if abs(number * scale - ts_ms) < 1000), None)
