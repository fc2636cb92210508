"""The decision message: its schema, its validation, and the one canonical form the decision log stores.

A decision is a JSON object (README, "Reviewing"):

* required: ``flag_id``, ``user_key``, ``decision`` (``block`` or ``allow``), ``reason`` (the reviewer's words),
  ``reviewer``, ``decided_at`` (ISO 8601 with a zone, or epoch seconds / milliseconds), ``model_version``;
* optional, copied from the flag: ``flag_reasons`` and ``flag_strength`` (``clickguard.review.strength``). The
  allow-list needs them to tell "the same behaviour" from "stronger": an ``allow`` without them is recorded and
  labelled, but suppresses no later flag.

Unknown fields are ignored and not stored, so a producer may send more. Validation is total: any bytes give a
``Decision`` or an ``InvalidDecision`` with one of ``REASONS`` and a short ASCII detail that never quotes a value.
The canonical JSON (sorted keys, times normalised to UTC milliseconds) is what the log stores; its digest names the
log object, so a redelivered message lands on the same key.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clickguard import settings
from clickguard.rejections import RejectedRecord
from clickguard.review.strength import flag_reasons, flag_strength
from clickguard.timestamps import format_ms, parse_timestamp

MAX_MESSAGE_BYTES = 16 * 1024  # a decision is a few hundred bytes; a bigger body is not one
MAX_REASON_CHARS = 1000
MAX_NAME_CHARS = 128  # reviewer, model version
MAX_FLAG_REASONS = 16
MAX_FLAG_REASON_CHARS = 64
MAX_STRENGTH = 1e9
# A decision stamped later than this ahead of the recorder's clock would win every later one ("latest wins").
MAX_FUTURE_MS = 5 * 60 * 1000
# flag_id names an S3 object: no slash, no spaces, nothing to escape.
_FLAG_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline are fine in a reason
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f]")

REQUIRED_FIELDS = ("flag_id", "user_key", "decision", "reason", "reviewer", "decided_at", "model_version")
OPTIONAL_FIELDS = ("flag_reasons", "flag_strength")
MESSAGE_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
REASONS = (
    "not_utf8", "not_json", "not_object", "too_large", "missing_field", "bad_type", "bad_value", "too_long",
    "bad_time", "in_future",
)  # fmt: skip


class Verdict(enum.StrEnum):
    BLOCK = "block"  # the flag was right: the user is abusive (a positive label)
    ALLOW = "allow"  # the flag was wrong: a reviewed negative, and an allow-list entry


class InvalidDecision(ValueError):
    """A message that is not a decision: ``reason`` is one of ``REASONS``; ``detail`` names the field."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Decision:
    flag_id: str
    user_key: str
    decision: Verdict
    reason: str
    reviewer: str
    decided_at_ms: int
    model_version: str
    flag_reasons: tuple[str, ...] | None = None  # sorted, unique
    flag_strength: float | None = None

    @property
    def decided_at(self) -> str:
        return format_ms(self.decided_at_ms)

    @property
    def has_flag_context(self) -> bool:
        """Does it carry what the allow-list needs (the flag's reasons and strength)?"""
        return self.flag_reasons is not None and self.flag_strength is not None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flag_id": self.flag_id,
            "user_key": self.user_key,
            "decision": self.decision.value,
            "reason": self.reason,
            "reviewer": self.reviewer,
            "decided_at": self.decided_at,
            "model_version": self.model_version,
        }
        if self.flag_reasons is not None:
            out["flag_reasons"] = list(self.flag_reasons)
        if self.flag_strength is not None:
            out["flag_strength"] = self.flag_strength
        return out

    def to_json(self) -> str:
        """Canonical: equal decisions give equal bytes (and so the same log key)."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def decision_id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def log_key(self, prefix: str = settings.DECISIONS_PREFIX) -> str:
        """``<prefix>YYYY/MM/DD/<flag_id>.<digest>.json``: by day of decision, so a day lists alone."""
        day = self.decided_at[:10].replace("-", "/")
        return f"{prefix}{day}/{self.flag_id}.{self.decision_id}.json"


def parse_decision(raw: str | bytes, now_ms: int | None = None) -> Decision:
    """A message body -> ``Decision``; ``now_ms`` (the recorder's clock) refuses decisions from the future."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidDecision("too_large", f"body over {MAX_MESSAGE_BYTES} bytes")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidDecision("not_utf8", "body is not UTF-8") from None
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidDecision("not_json", "body is not JSON") from None
    if not isinstance(obj, dict):
        raise InvalidDecision("not_object", f"body is a JSON {type(obj).__name__}, not an object")
    return from_object(obj, now_ms)


def from_object(obj: dict[str, Any], now_ms: int | None = None) -> Decision:
    missing = [f for f in REQUIRED_FIELDS if f not in obj or obj[f] is None]
    if missing:
        raise InvalidDecision("missing_field", f"missing {', '.join(missing)}")
    flag_id = _text(obj, "flag_id", 128)
    if not _FLAG_ID.match(flag_id):
        raise InvalidDecision("bad_value", "flag_id must be 1-128 of A-Z a-z 0-9 . _ : -")
    verdict = _text(obj, "decision", 16)
    if verdict not in {v.value for v in Verdict}:
        raise InvalidDecision("bad_value", f"decision must be one of {[v.value for v in Verdict]}")
    return Decision(
        flag_id=flag_id,
        user_key=_text(obj, "user_key", settings.MAX_USER_KEY_CHARS),
        decision=Verdict(verdict),
        reason=_text(obj, "reason", MAX_REASON_CHARS, _CONTROL),
        reviewer=_text(obj, "reviewer", MAX_NAME_CHARS, _CONTROL_STRICT),
        decided_at_ms=_time(obj["decided_at"], now_ms),
        model_version=_text(obj, "model_version", MAX_NAME_CHARS, _CONTROL_STRICT),
        flag_reasons=_flag_reasons(obj.get("flag_reasons")),
        flag_strength=_strength(obj.get("flag_strength")),
    )


def for_flag(flag: Mapping[str, Any], verdict: Verdict, reason: str, reviewer: str, decided_at_ms: int) -> Decision:
    """A reviewer's decision on a flag message: who and what from the flag, the flag's reasons and strength for the
    allow-list; validated as the recorder will validate it (``InvalidDecision`` names the field)."""
    obj: dict[str, Any] = {
        "flag_id": flag.get("flag_id"),
        "user_key": flag.get("user_key"),
        "model_version": flag.get("model_version"),
        "decision": verdict.value,
        "reason": reason,
        "reviewer": reviewer,
        "decided_at": decided_at_ms,
    }
    reasons, strength = flag_reasons(flag), flag_strength(flag)
    if reasons is not None and strength is not None:
        obj.update(flag_reasons=list(reasons), flag_strength=strength)
    return from_object(obj)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(obj: dict[str, Any], field: str, limit: int, forbidden: re.Pattern[str] | None = None) -> str:
    value = obj[field]
    if not isinstance(value, str):
        raise InvalidDecision("bad_type", f"{field} must be a string, not a {type(value).__name__}")
    if not value.strip():
        raise InvalidDecision("bad_value", f"{field} is empty")
    if len(value) > limit:
        raise InvalidDecision("too_long", f"{field} is longer than {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
        raise InvalidDecision("bad_value", f"{field} is not valid Unicode") from None
    if forbidden is not None and forbidden.search(value):
        raise InvalidDecision("bad_value", f"{field} contains control characters")
    return value


def _time(value: Any, now_ms: int | None) -> int:
    if isinstance(value, bool):
        raise InvalidDecision("bad_type", "decided_at must be a time, not a boolean")
    try:
        ms = parse_timestamp(value)
    except RejectedRecord:
        raise InvalidDecision("bad_time", "decided_at is not a time (ISO 8601, epoch s...) in 1990-2100") from None
    if now_ms is not None and ms > now_ms + MAX_FUTURE_MS:
        raise InvalidDecision("in_future", "decided_at is more than 5 minutes ahead of the recorder's clock")
    return ms


def _flag_reasons(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise InvalidDecision("bad_type", "flag_reasons must be a list of strings")
    if len(value) > MAX_FLAG_REASONS or any(not 0 < len(r) <= MAX_FLAG_REASON_CHARS for r in value):
        raise InvalidDecision("too_long", f"flag_reasons: at most {MAX_FLAG_REASONS}, of 1-{MAX_FLAG_REASON_CHARS}")
    if any(_CONTROL_STRICT.search(r) for r in value):
        raise InvalidDecision("bad_value", "flag_reasons contain control characters")
    return tuple(sorted(set(value)))


def _strength(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDecision("bad_type", "flag_strength must be a number")
    if not math.isfinite(value) or not 0 <= value <= MAX_STRENGTH:
        raise InvalidDecision("bad_value", f"flag_strength must be in [0, {MAX_STRENGTH:g}]")
    return float(value)
