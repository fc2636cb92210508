"""The file format of seed 003 (the Insight "anomaly detection" challenge): lines in, flagged lines out.

Input: ``batch_log.json`` starts with the parameters line ``{"D":"3", "T":"50"}`` (numbers or numeric strings);
then, in both files, one JSON object per line::

    {"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "16.83"}
    {"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "2"}
    {"event_type":"unfriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "3"}

Arrival order is the line order across both files (the batch file first): it breaks ties between equal
timestamps. Ids are strings or integers (``1`` and ``"1"`` are one user); amounts non-negative with at most two
decimals (``money.parse_cents``: a JSON number off whole cents by a float's noise is those cents); timestamps as the
consumer reads them (``clickguard.timestamps.parse_timestamp``: ``2017-06-13 11:33:01`` is UTC).

A line that does not fit (not JSON, not an object, an unknown ``event_type``, a missing or bad field) is malformed
(the challenge warns that log data "is not clean and predictable"): it is skipped and counted by reason
(``missing_id``, ``bad_id2``, ``bad_timestamp``, ``amount is negative``...); blank lines are ignored. A bad
parameters line is not skippable: the run stops with the reason.

Output: each flagged purchase as its input object, its keys in their input order, with ``"mean"`` and ``"sd"``
appended as strings truncated to two decimals, written as the challenge's sample is (``json.dumps`` with its
default ``", "`` and ``": "`` separators), one line each, in input order; nothing at all when nothing is flagged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from clickguard.network.flags import PurchaseFlag
from clickguard.network.money import BadAmount, parse_cents
from clickguard.network.step import Kind, NetworkEvent
from clickguard.rejections import RejectedRecord
from clickguard.timestamps import parse_timestamp

FILE_SHARD = "file"  # the file mode's one pseudo-shard: positions are line numbers
KINDS = {"purchase": Kind.PURCHASE, "befriend": Kind.BEFRIEND, "unfriend": Kind.UNFRIEND}
ADDED_FIELDS = ("mean", "sd")
# msgspec (the consumer's decoder too) reads a line about five times faster than json.loads, and more strictly: NaN,
# Infinity and numbers out of range are not JSON, so they can never reach the output.
_decode = msgspec.json.Decoder().decode
# A parameter's string: a signed whole number ("-1" is one, refused by the D >= 1 check as the number -1 is).
_WHOLE = re.compile(r"\s*([+-]?[0-9]+)\s*", re.ASCII)


class BadParameters(ValueError):
    """The first line of the batch file is not ``{"D": ..., "T": ...}`` with D >= 1 and T >= 2."""


class MalformedLine(ValueError):
    """A line skipped, with a short reason (never the line's content)."""


def read_parameters(line: bytes | str) -> tuple[int, int]:
    """``{"D":"3", "T":"50"}`` -> (3, 50)."""
    try:
        obj = _decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise BadParameters('the first line is not JSON; expected {"D": "<degree>", "T": "<purchases>"}') from None
    if not isinstance(obj, dict) or "D" not in obj or "T" not in obj:
        raise BadParameters('the first line must be {"D": "<degree>", "T": "<purchases>"}')
    degree, window = _whole(obj["D"], "D"), _whole(obj["T"], "T")
    if degree < 1:
        raise BadParameters(f"D must be >= 1, got {degree}")
    if window < 2:
        raise BadParameters(f"T must be >= 2, got {window}")
    return degree, window


def _whole(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (m := _WHOLE.fullmatch(value)) is not None:
        try:
            return int(m[1])
        except ValueError:  # past CPython's 4,300 digits for int()
            raise BadParameters(f"{name} is too large ({len(m[1]):,} digits)") from None
    raise BadParameters(f"{name} must be a whole number, got {str(value)[:20]!a}")


class LineParser:
    """Lines -> step events; keeps a cache of timestamps (a log repeats the same second on many lines)."""

    def __init__(self) -> None:
        self._ts: dict[Any, int] = {}

    def parse(self, line: bytes | str, seq: int) -> tuple[NetworkEvent, dict[str, Any]]:
        try:
            obj = _decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):  # also invalid UTF-8, NaN, numbers out of range
            raise MalformedLine("not JSON") from None
        if type(obj) is not dict:
            raise MalformedLine("not a JSON object")
        event_type = obj.get("event_type")
        kind = KINDS.get(event_type) if type(event_type) is str else None
        if kind is None:
            raise MalformedLine("unknown event_type")
        ts = self._timestamp(obj.get("timestamp"))
        if kind is Kind.PURCHASE:
            try:
                cents = parse_cents(obj.get("amount"))
            except BadAmount as exc:
                raise MalformedLine(f"amount {exc.reason}") from None
            return NetworkEvent(_id(obj, "id"), kind, ts, FILE_SHARD, seq, cents), obj
        return NetworkEvent(_id(obj, "id1"), kind, ts, FILE_SHARD, seq, None, _id(obj, "id2")), obj

    def _timestamp(self, value: Any) -> int:
        cached = self._ts.get(value) if isinstance(value, str) else None
        if cached is not None:
            return cached
        try:
            ms = parse_timestamp(value)
        except RejectedRecord as exc:
            raise MalformedLine(exc.reason.value) from None
        if isinstance(value, str):
            if len(self._ts) > 100_000:
                self._ts.clear()
            self._ts[value] = ms
        return ms


def _id(obj: Mapping[str, Any], field: str) -> str:
    value = obj.get(field)
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # Named as the timestamp's reasons are (missing_timestamp, bad_timestamp): one style in the run's summary.
    raise MalformedLine(f"missing_{field}" if value is None or value == "" else f"bad_{field}")


def flagged_line(original: Mapping[str, Any], flag: PurchaseFlag) -> str:
    """The input object, its keys in input order, then ``mean`` and ``sd``; no newline."""
    out = {k: v for k, v in original.items() if k not in ADDED_FIELDS}
    out["mean"] = flag.baseline.mean_text
    out["sd"] = flag.baseline.sd_text
    return json.dumps(out, ensure_ascii=False)
