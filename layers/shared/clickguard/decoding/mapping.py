"""A declarative field mapping: where the user key, event type, outcome, time, ids (and the network fields) live in
any other JSON object, set at deploy time (CDK context ``field_mapping``, environment ``CLICKGUARD_FIELD_MAPPING``).

The mapping is a JSON object; each path is dot-separated keys (``"user.id"``), or a list of such paths tried in
order (the first present wins)::

    {"user_key": ["user.id", "anonymous_id"], "event_type": "action.name", "time": "ts",
     "outcome": "action.status", "failure_values": ["error", "denied", false],
     "session_id": "session", "event_id": "id", "amount": "order.total", "friend_id": "peer"}

``user_key``, ``event_type`` and ``time`` are required. ``time`` takes what ``timestamps.parse_timestamp`` reads: ISO
8601, epoch seconds or milliseconds (told apart by size), a web log's common-log-format or RFC 2822 time. An
outcome among ``failure_values`` (compared as lower-case text) makes the ``#fail`` token, and any other outcome is a
success; without ``failure_values`` the outcome is read as a canonical event's is (``events.token_of``: success and
failure words, booleans, an HTTP status failing from 400, anything else ``unknown_outcome``), so a web server's
JSON log maps its ``status`` as it is. The mapping is validated once, at synth and at the consumer's cold start
(``FieldMapping.parse``); an object whose mapped user key is absent is read by shape, as if no mapping were set.
Only the mapped fields are read: everything else (personal data included) is never looked at. ``tsv_columns`` names
the columns of tab-separated lines that carry no header (a CloudFront real-time log's configured fields): a line of
that many columns becomes the object of its named cells (``row``), and the paths above read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clickguard.events import (
    FAIL_SUFFIX,
    Event,
    friend_key,
    opt_id,
    parse_amount,
    present,
    token_of,
    user_key_of,
    visitor_of_session,
)
from clickguard.timestamps import parse_timestamp

Path = tuple[str, ...]
REQUIRED = ("user_key", "event_type", "time")
OPTIONAL = ("outcome", "session_id", "event_id", "amount", "friend_id")
EXTRA = ("failure_values", "tsv_columns")
MAX_PATH_DEPTH = 8
MAX_COLUMNS = 4096  # an Adobe Analytics data feed has 500 to over 1,000 columns
_EMPTY_CELLS = frozenset({"", "-"})


@dataclass(frozen=True)
class FieldMapping:
    user_key: tuple[Path, ...]
    event_type: tuple[Path, ...]
    time: tuple[Path, ...]
    outcome: tuple[Path, ...] = ()
    session_id: tuple[Path, ...] = ()
    event_id: tuple[Path, ...] = ()
    amount: tuple[Path, ...] = ()
    friend_id: tuple[Path, ...] = ()
    failure_values: frozenset[str] = frozenset()
    tsv_columns: tuple[str, ...] = ()  # names of a header-less tab-separated line's columns (``row``)

    @classmethod
    def parse(cls, text: str) -> FieldMapping | None:
        """The mapping from its JSON text (empty: None); ``ValueError`` names what is wrong."""
        if not text.strip():
            return None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"field mapping is not JSON: {exc}") from None
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: Any) -> FieldMapping:
        if not isinstance(doc, dict):
            raise ValueError("field mapping must be a JSON object")
        unknown = set(doc) - {*REQUIRED, *OPTIONAL, *EXTRA}
        if unknown:
            known = [*REQUIRED, *OPTIONAL, *EXTRA]
            raise ValueError(f"field mapping has unknown keys {sorted(unknown)}; known: {known}")
        missing = [k for k in REQUIRED if k not in doc]
        if missing:
            raise ValueError(f"field mapping lacks {missing}")
        paths = {k: _paths(k, doc[k]) for k in (*REQUIRED, *OPTIONAL) if k in doc}
        failures = _failure_values(doc.get("failure_values", []))
        return cls(**paths, failure_values=failures, tsv_columns=_columns(doc.get("tsv_columns", [])))

    def to_json(self) -> str:
        """The environment variable's value: ``parse(to_json())`` gives back an equal mapping."""
        doc: dict[str, Any] = {
            k: [".".join(p) for p in getattr(self, k)] for k in (*REQUIRED, *OPTIONAL) if getattr(self, k)
        }
        if self.failure_values:
            doc["failure_values"] = sorted(self.failure_values)
        if self.tsv_columns:
            doc["tsv_columns"] = list(self.tsv_columns)
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    def row(self, line: str) -> dict[str, str] | None:
        """A header-less tab-separated line as the object of its named cells (``tsv_columns``; an empty or ``-``
        cell is absent, as CloudFront writes an empty field), or None when it has another number of columns."""
        cells = line.rstrip("\r\n").split("\t")
        if not self.tsv_columns or len(cells) != len(self.tsv_columns):
            return None
        return {name: cell for name, cell in zip(self.tsv_columns, cells, strict=True) if cell not in _EMPTY_CELLS}

    def applies(self, obj: Mapping[str, Any]) -> bool:
        """The record names a user, or a session whose visitor it is (``events.visitor_of_session``)."""
        return _first(obj, self.user_key) is not None or self._session(obj) is not None

    def _session(self, obj: Mapping[str, Any]) -> Any:
        return _first(obj, self.session_id) if self.session_id else None

    def event(self, obj: Mapping[str, Any]) -> Event:
        """The mapped fields of ``obj`` -> ``Event``, with every format's field rules (reasons as for canonical)."""
        amount = parse_amount(_first(obj, self.amount)) if self.amount else None
        friend = friend_key(_first(obj, self.friend_id)) if self.friend_id else None
        user = _first(obj, self.user_key)
        user_key = user_key_of(user if user is not None else visitor_of_session(self._session(obj)))
        outcome = _first(obj, self.outcome) if self.outcome else None
        if self.failure_values:
            token = token_of(_first(obj, self.event_type), None)
            if outcome is not None and _as_outcome(outcome) in self.failure_values:
                token += FAIL_SUFFIX
        else:  # the canonical outcome's rules: words, booleans, HTTP statuses
            token = token_of(_first(obj, self.event_type), outcome)
        ts_ms = parse_timestamp(_first(obj, self.time))
        sid = opt_id(self._session(obj), "session_id")
        eid = opt_id(_first(obj, self.event_id), "event_id") if self.event_id else None
        return Event(user_key, token, ts_ms, sid, eid, amount, friend)


def _as_outcome(value: Any) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    return str(value).strip().lower() if type(value) in (str, int) else ""


def _paths(key: str, value: Any) -> tuple[Path, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(p, str) for p in items):
        raise ValueError(f"field mapping {key!r} must be a dotted path or a non-empty list of them")
    out = []
    for text in items:
        path = tuple(text.split("."))
        if not all(part.strip() for part in path) or len(path) > MAX_PATH_DEPTH:
            raise ValueError(f"field mapping {key!r}: {text!r} is not a dotted path of 1 to {MAX_PATH_DEPTH} keys")
        out.append(path)
    return tuple(out)


def _columns(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() and "\t" not in c for c in value):
        raise ValueError("field mapping 'tsv_columns' must be a list of column names (no tabs)")
    if (value and not 2 <= len(value) <= MAX_COLUMNS) or len(set(value)) != len(value):
        raise ValueError(f"field mapping 'tsv_columns' must name 2 to {MAX_COLUMNS} columns, each once")
    return tuple(value)


def _failure_values(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | bool | int) for v in value):
        raise ValueError("field mapping 'failure_values' must be a list of strings, numbers or booleans")
    return frozenset(_as_outcome(v) for v in value)


def _first(obj: Mapping[str, Any], paths: tuple[Path, ...]) -> Any:
    """The value at the first path present (neither missing, null nor empty), else None. A dotted path is also a
    key of its own: a flattened export's column (``pandas.json_normalize`` writes ``properties.$current_url``)."""
    for path in paths:
        value: Any = obj
        for key in path:
            if not isinstance(value, dict):
                value = None
                break
            value = value.get(key)
        if not present(value) and len(path) > 1:
            value = obj.get(".".join(path))
        if present(value):
            return value
    return None
