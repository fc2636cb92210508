"""Which of a file's fields the decoder read as the user, the action and the time: said when they are not the
canonical names, since a guessed column read silently (a page number taken for the action, a product id for the
user) is the worst kind of misreading, and reading ``model.json``'s vocabulary was the only way to tell."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
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

_LOOKED_AT = 2_000  # lines read for events of one object each: past them, the file is not such a file
_EVENTS = 200  # events whose fields are matched: enough to see a field that keys only some (Amplitude's user_id)
_DEPTH = 4  # levels of nested objects whose fields are named by their dotted paths (properties.distinct_id)
_CANONICAL = {"user": "user_id", "action": "event_type", "time": "timestamp"}
_BY_SHAPE = "(by shape)"
# Words a field's name holds when it holds what is matched: of several fields of equal values (a session id of 1
# is also the row's day and order of 1), those are named.
_WORDS = {
    "user": ("user", "session", "visitor", "client", "customer", "distinct", "id"),
    "action": ("event", "action", "type", "page", "url", "path", "name", "activity", "behavio"),
    "time": ("time", "date", "ts", "when"),
}


def fields_read(
    path: Path, source: UserKeySource, mapping: FieldMapping | None, columns: tuple[str, ...] = ()
) -> str | None:
    """``user <- 'visitorid', action <- 'event', time <- 'timestamp' (epoch milliseconds)``: the fields (a nested
    one by its dotted path) whose values the decoder's events hold, over the file's first events, each with its
    count when several did (``user <- 'user_id' (139 of 200) or 'amplitude_id' (61 of 200)``); None when they are
    the canonical names, or the file's first events are no objects of one event each (a log line, an envelope:
    read by their format, not by names)."""
    if not path.is_file():  # a pipe was read once already
        return None
    decoder = Decoder(DecodeConfig(user_key_source=source, mapping=mapping))
    try:
        with open_binary(path) as fh:
            read = list(itertools.islice(_events(decoder, event_lines(fh, path, columns=columns)), _EVENTS))
    except (OSError, EOFError, ValueError):  # csv.Error is a ValueError's kin: the read itself said why
        return None
    candidates = [(fields := _flat(obj), event, _matched(fields, event)) for obj, event in read]
    tally: dict[str, Counter[str]] = {}
    for what in _CANONICAL:  # of fields that hold the same value in some events, the one that holds it in most
        seen = Counter(key for _, _, matched in candidates for key in matched[what])
        tally[what] = Counter(max(matched[what], key=seen.__getitem__, default=_BY_SHAPE) for *_, matched in candidates)
    time_key = tally["time"].most_common(1)[0][0] if read else _BY_SHAPE
    units = Counter(_unit(fields.get(time_key), event.ts_ms) for fields, event, _ in candidates)
    visitors = sum(event.user_key.startswith(VISITOR_PREFIX) for event in (e for _, e in read))
    return _said(tally, units, visitors)


def _events(decoder: Decoder, lines: Iterator[bytes]) -> Iterator[tuple[dict[str, Any], Event]]:
    for line in itertools.islice(lines, _LOOKED_AT):
        try:
            obj = msgspec.json.decode(line)
            event = decoder.decode(line)
        except (msgspec.DecodeError, RejectedRecord, RecursionError):
            continue
        if isinstance(obj, dict) and isinstance(event, Event):
            yield obj, event


def _flat(obj: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """An object's scalar fields under their dotted paths (``properties.distinct_id``)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict) and depth < _DEPTH:
            out.update(_flat(value, f"{prefix}{key}.", depth + 1))
        elif type(value) in (str, int, float):
            out[f"{prefix}{key}"] = value
    return out


def _matched(fields: dict[str, Any], event: Event) -> dict[str, list[str]]:
    """For the user, the action and the time, the fields that hold the event's value."""
    action = event.token.removesuffix(FAIL_SUFFIX)
    return {
        "user": _key(fields, "user", lambda v: v in (event.user_key, event.user_key.removeprefix(VISITOR_PREFIX))),
        "action": _key(fields, "action", lambda v: action in (v, page_of(v))),
        "time": _key(fields, "time", lambda v: _time(v) == event.ts_ms, raw=True),
    }


def _key(fields: dict[str, Any], what: str, matches: Callable[[Any], bool], raw: bool = False) -> list[str]:
    """The fields whose value (as text, stripped, unless ``raw``) ``matches``; of several, those whose name says
    ``what`` they hold, when any does."""
    found = [key for key, value in fields.items() if matches(value if raw else str(value).strip())]
    return [key for key in found if any(word in key.lower() for word in _WORDS[what])] or found


def _said(tally: dict[str, Counter[str]], units: Counter[str], visitors: int) -> str | None:
    n = sum(tally["time"].values())
    if not n or all(list(keys) == [_CANONICAL[what]] for what, keys in tally.items()):
        return None
    said = []
    for what, keys in tally.items():
        named = [f"{k!r}" if k != _BY_SHAPE else k for k, _ in keys.most_common()]
        counts = [f" ({c} of {n})" for _, c in keys.most_common()] if len(keys) > 1 else [""]
        said.append(f"{what} <- " + " or ".join(map(str.__add__, named, counts)))
    if visitors:
        said[0] += " (a session: its visitor)" if visitors == n else f" ({visitors} of {n} a session's visitor)"
    if (unit := units.most_common(1)[0][0]) and len(units) == 1:
        said[2] += f" ({unit})"
    return ", ".join(said)


def _time(value: Any) -> int | None:
    try:
        return parse_timestamp(value)
    except RejectedRecord:
        return None


_UNITS = ((1000, "epoch seconds"), (1, "epoch milliseconds"), (1e-3, "epoch microseconds"), (1e-6, "epoch nanoseconds"))


def _unit(value: Any, ts_ms: int) -> str:
    """How a time's number was read ("" for a text time, or none)."""
    if type(value) not in (int, float, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    return next((name for scale, name in _UNITS if number > 0 and abs(number * scale - ts_ms) < 1000), "")
