"""JSON at C speed (msgspec), with exactly the verdicts of the standard-library reference path.

``clickguard.events.parse_record`` is the reference: ``json`` decodes a ``str``, then Python checks each field. Here
msgspec decodes the bytes, a canonical event straight into a typed struct (no dict is built), and the same field
checks of ``clickguard.events`` run on the values. msgspec is used only where it provably decodes what ``json``
decodes; every other record takes the reference path, so every reason and detail stays the reference's:

* valid UTF-8 first (``not_utf8`` as the reference reports it), so msgspec never skips an invalid byte in a field
  it does not read;
* nesting within ``MAX_DEPTH`` (the reference's depth scan, run only past ``MAX_DEPTH`` brackets: msgspec
  recurses into skipped values);
* no run of more than ``SAFE_LEN`` digits (checked only in longer records): no integer literal then has more
  digits than ``int()`` converts (``bad_number`` in the reference, an integer msgspec would skip);
* anything msgspec refuses (NaN, a lone surrogate escape, ``1e400`` in a typed field, a field of another type,
  another shape) is decoded again by the reference, which gives the verdict.

A batch of records (the consumer's) is decoded as one array, a chunk per C call (``parse_many``), under the same
checks run on the chunk's join, and the columns are checked a column at a time (``events.canonical_columns``).
Each array element must span exactly its record: a record that is not one whole JSON value could otherwise pair
with its neighbour. A record that fails any of it is decoded alone.

``tests/unit/test_decode_json_parity.py`` checks the two paths agree on the decoder's fuzz corpus;
``tests/unit/test_consumer_columns.py`` checks many records decode as each does alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from clickguard import settings
from clickguard.events import (
    MAX_DEPTH,
    CanonicalColumns,
    Event,
    UserKeySource,
    canonical_columns,
    canonical_event,
    decode_json,
    friend_key,
    nesting_depth,
    parse_amount,
    parse_object,
)
from clickguard.field_names import NO_VALUE, OUTCOME_ALIASES
from clickguard.rejections import Reason, RejectedRecord

# The longest record that cannot hold an integer literal past int()'s digit limit (4,300 by default).
SAFE_LEN = sys.get_int_max_str_digits() or 4300


class _Attributes(msgspec.Struct, gc=False):
    amount: int | float | str | None = None
    friend_id: int | str | None = None


class _Canonical(msgspec.Struct, gc=False):  # no cycles: the collector need not track them
    """The canonical event's fields; any other field is skipped unread (personal data in attributes included)."""

    user_id: str | int
    event_type: str | int
    timestamp: str | int | float
    outcome: str | None = None
    session_id: str | int | None = None
    event_id: str | int | None = None
    attributes: _Attributes | None = None
    data: msgspec.Raw = msgspec.Raw()  # present: maybe the app envelope, left to the shape dispatch
    # Outcome aliases (``field_names.OUTCOME_ALIASES``): present, and no ``outcome``, the reference reads the record
    status: msgspec.Raw = msgspec.Raw()
    result: msgspec.Raw = msgspec.Raw()
    success: msgspec.Raw = msgspec.Raw()
    status_code: msgspec.Raw = msgspec.Raw()
    statusCode: msgspec.Raw = msgspec.Raw()  # the JSON key, as producers spell it


_typed = msgspec.json.Decoder(_Canonical).decode
_typed_list = msgspec.json.Decoder(list[_Canonical]).decode
_untyped = msgspec.json.Decoder().decode
_raw_list = msgspec.json.Decoder(list[msgspec.Raw]).decode
_DecodeError = msgspec.DecodeError


def safe_for_msgspec(data: bytes) -> bool:
    """True when msgspec decodes ``data`` to what the reference decodes (or both refuse it); raises ``not_utf8``
    exactly as the reference would."""
    if not data.isascii():
        utf8(data)
    n = len(data)
    if n > SAFE_LEN and _LONG_INTEGER in data.translate(_DIGITS_AS_ZERO):
        return False
    return n <= 2 * MAX_DEPTH or data.count(b"{") + data.count(b"[") <= MAX_DEPTH or nesting_depth(data) <= MAX_DEPTH


# Every digit as "0", every other byte as a space: a run of SAFE_LEN + 1 zeros is an integer literal too long.
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_INTEGER = b"0" * (SAFE_LEN + 1)


def utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedRecord(Reason.NOT_UTF8, f"invalid byte at offset {exc.start}") from None


def decode_value(data: bytes) -> Any:
    """One JSON value of a record that passed the size cap, with the reference's value and verdicts."""
    if safe_for_msgspec(data):
        try:
            return _untyped(data)
        except (_DecodeError, RecursionError):
            pass
    return decode_json(utf8(data))


def struct_event(c: _Canonical) -> Event:
    """A typed canonical struct -> ``Event``, by the reference's own field checks."""
    attrs = c.attributes
    if attrs is not None and (attrs.amount is not None or attrs.friend_id is not None):
        net = _net(attrs)
        return canonical_event(c.user_id, c.event_type, c.outcome, c.timestamp, c.session_id, c.event_id, net)
    return canonical_event(c.user_id, c.event_type, c.outcome, c.timestamp, c.session_id, c.event_id)


def _net(attrs: _Attributes) -> tuple[float | None, str | None]:
    return parse_amount(attrs.amount), friend_key(attrs.friend_id)


def parse_json(
    data: bytes,
    source: UserKeySource = UserKeySource.SESSION_USER_ID,
    max_bytes: int = settings.MAX_RECORD_BYTES,
) -> Event:
    """``clickguard.events.parse_record`` for bytes, at C speed: the same ``Event`` or the same rejection."""
    if len(data) > max_bytes:
        raise RejectedRecord(Reason.RECORD_TOO_LARGE, f"{len(data)} bytes > cap of {max_bytes}")
    if safe_for_msgspec(data):
        try:
            c = _typed(data)
        except (_DecodeError, RecursionError):
            pass
        else:
            if not by_reference(c):
                return struct_event(c)
        try:
            return parse_object(_untyped(data), source)
        except (_DecodeError, RecursionError):
            pass
    return parse_object(decode_json(utf8(data)), source)


def parse_lines(body: bytes, lines: list[bytes]) -> tuple[list[Any], bool] | None:
    """Every line of an archive object decoded in one C call (``[line,line,...]``), and whether the values are
    typed canonical structs (every line a canonical event: ``struct_event`` reads them) or plain decoded values;
    None when some line is not safe for msgspec or does not decode (each line then needs its own verdict). The
    caller checks each line's size and depth."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if len(body) > SAFE_LEN and _LONG_INTEGER in body.translate(_DIGITS_AS_ZERO):
        return None
    joined = b"[" + b",".join(lines) + b"]"
    try:
        structs = _typed_list(joined)
    except (_DecodeError, RecursionError):
        pass
    else:
        if not _by_shape(structs):  # an app envelope is read by shape
            return structs, True
    try:
        values: list[Any] = _untyped(joined)
    except (_DecodeError, RecursionError):
        return None
    return (values, False) if len(values) == len(lines) else None


# Records decoded together: one bad record sends only its chunk down the one-by-one path.
CHUNK = 1_000
_FIRST_BYTE = itemgetter(slice(0, 1))
_FIELDS = tuple(map(attrgetter, ("user_id", "event_type", "outcome", "timestamp", "session_id", "event_id")))
_ATTRIBUTES = attrgetter("attributes")
# A struct the reference reads: an app envelope's ``data``, or an outcome alias (a canonical event's ``status``).
_SHAPE_NAMES = ("data", *OUTCOME_ALIASES)
_SHAPE_FIELDS = attrgetter(*_SHAPE_NAMES)  # one struct's, as a tuple
_SHAPE_GETTERS = tuple(map(attrgetter, _SHAPE_NAMES))  # a batch's, a C pass each
assert set(OUTCOME_ALIASES) <= set(_Canonical.__struct_fields__), "an outcome alias the struct does not decode"


# A canonical field that says "no value" (``NO_VALUE``: "NA", "null", ...) is absent, and the reference then reads the
# field's other names, which a struct does not hold. A batch's columns are checked where they are read
# (``events.canonical_columns``: the strings are hashed there once, as the rest of the batch hashes them anyway; a
# pass per field here cost 0.24 us a record); a struct off the columns' path is checked alone (``by_reference``).
_MARKED_FIELDS = attrgetter("user_id", "event_type", "timestamp", "session_id", "event_id")


def _by_shape(structs: list[_Canonical]) -> bool:
    """Whether some struct needs the reference's reading by its shape: a C pass per field (0.03 us a record each,
    measured; one tuple of them per struct cost 0.23)."""
    return any(any(map(get, structs)) for get in _SHAPE_GETTERS)


def by_reference(c: _Canonical) -> bool:
    """Whether one struct needs the reference's reading: its shape, or a canonical field that says "no value"."""
    return any(_SHAPE_FIELDS(c)) or not NO_VALUE.isdisjoint(_MARKED_FIELDS(c))


def parse_many(datas: Sequence[bytes], max_bytes: int = settings.MAX_RECORD_BYTES) -> list[Event | None]:
    """``parse_json`` of many records, a chunk of them per C call: each record's ``Event``, or None where the record
    needs its own verdict (its caller decodes it alone: a rejection, an app envelope, NDJSON...)."""
    out: list[Event | None] = []
    for lo in range(0, len(datas), CHUNK):
        chunk = datas[lo : lo + CHUNK]
        out.extend(_parse_chunk(chunk, max_bytes) or repeat(None, len(chunk)))
    return out


def _parse_chunk(datas: Sequence[bytes], max_bytes: int) -> list[Event | None] | None:
    structs = _typed_records(datas, max_bytes)
    if structs is None:
        return None
    events = _fast_columns(structs)
    if events is not None:
        return events
    return [None if by_reference(c) else _struct_or_none(c) for c in structs]


def _typed_records(datas: Sequence[bytes], max_bytes: int) -> list[_Canonical] | None:
    """Every record (each a JSON object, as ``parse_json`` reads one) as a typed struct, decoded as one array; None
    when a record breaks a rule that ``parse_json`` checks first, or does not decode as a struct."""
    longest = max(map(len, datas))
    if longest > max_bytes or b"".join(map(_FIRST_BYTE, datas)).count(b"{") < len(datas):
        return None
    body = b"".join((b"[", b",".join(datas), b"]"))
    if not _safe_records(body, datas, longest):
        return None
    try:
        structs = _typed_list(body)
        bounds = list(map(len, _raw_list(body)))
    except (_DecodeError, RecursionError):
        return None
    # Each array element must be exactly its record: a record that is not one whole JSON value (an open string, two
    # objects) could otherwise pair with its neighbour into elements that no record is on its own.
    return structs if bounds == list(map(len, map(bytes.rstrip, datas))) else None


def _safe_records(body: bytes, datas: Sequence[bytes], longest: int) -> bool:
    """``safe_for_msgspec`` of each record, checked on their join (an array): valid UTF-8 (a comma keeps a cut
    character cut), no integer literal too long (runs of digits end at a comma), and few enough brackets per record
    to nest too deep."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
    if longest > SAFE_LEN and _LONG_INTEGER in body.translate(_DIGITS_AS_ZERO):
        return False
    if longest <= 2 * MAX_DEPTH:
        return True
    braces, brackets = map(bytes.count, datas, repeat(b"{")), map(bytes.count, datas, repeat(b"["))
    return max(map(int.__add__, braces, brackets)) <= MAX_DEPTH


def struct_columns(structs: list[_Canonical]) -> tuple[CanonicalColumns, Iterable[Any], Iterable[Any]] | None:
    """The structs' ``Event`` fields a column at a time (``events.canonical_columns``), with their amounts and friend
    keys, when every struct is a plain canonical event on ``canonical_event``'s fast path with valid network fields;
    None when one is not (each then needs its own verdict: ``by_reference`` first). The consumer's and the trainer's
    batch decoding, on structs none of which the reference must read by their shape (``_by_shape``: each caller has
    checked)."""
    net = _network_columns(structs)
    cols = canonical_columns(*(list(map(get, structs)) for get in _FIELDS)) if net is not None else None
    if cols is None or net is None:
        return None
    return cols, *net


def _fast_columns(structs: list[_Canonical]) -> list[Event | None] | None:
    found = None if _by_shape(structs) else struct_columns(structs)
    if found is None:
        return None
    cols, amounts, friends = found
    # tuple.__new__ builds each Event without NamedTuple's Python-level __new__
    return list(map(tuple.__new__, repeat(Event), zip(*cols, amounts, friends, strict=False)))


def _network_columns(structs: list[_Canonical]) -> tuple[Iterable[Any], Iterable[Any]] | None:
    """Amounts and friend keys (``_net``) per struct; None when one is invalid (its record is rejected alone)."""
    attrs = list(map(_ATTRIBUTES, structs))
    if attrs.count(None) == len(attrs):
        return repeat(None), repeat(None)
    try:
        nets = [_NO_NET if a is None or (a.amount is None and a.friend_id is None) else _net(a) for a in attrs]
    except RejectedRecord:
        return None
    amounts, friends = zip(*nets, strict=True)
    return amounts, friends


_NO_NET: tuple[None, None] = (None, None)


def _struct_or_none(c: _Canonical) -> Event | None:
    try:
        return struct_event(c)
    except RejectedRecord:
        return None
