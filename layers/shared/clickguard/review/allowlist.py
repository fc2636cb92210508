"""The allow-list: users a reviewer allowed, with what they were allowed for, in one small S3 object.

Why one object: the consumer must consult it at no extra DynamoDB read per user (10 BatchGetItem + 40
BatchWriteItem for a 10,000-record batch of 1,000 users). It holds the object in memory and re-checks it with a
conditional GET (``IfNoneMatch`` on its ETag) as it re-checks the model; a reviewer's decision reaches the
consumer within that interval. The decisions Lambda is its only writer, with conditional writes (``IfMatch``, or
``IfNoneMatch="*"`` when it does not exist yet), re-reading on a conflict, so two batches never lose each other's
entries.

The document (``settings.ALLOWLIST_KEY``)::

    {"schema_version": 1, "margin": 0.25,
     "entries": {"<user_key>": {"reasons": ["mean_bits"], "strength": 1.31, "flag_id": "...",
                                "decided_at": "2026-11-25T10:00:00.000Z", "expires_at": "2026-12-25T10:00:00.000Z"}}}

Applying decisions, in the order given (the decisions queue is FIFO per user, so this is each user's order):
an ``allow`` carrying the flag's reasons and strength sets the user's entry, expiring ``days`` after the decision;
an ``allow`` of another of the user's flags while the entry stands widens it (the union of the reasons, the larger
strength): the reviewer cleared each of those flags, so the same behaviour again is none of them news; a ``block``
removes it; a decision older than the user's entry changes nothing; an ``allow`` without the flag's
reasons and strength changes nothing (there is nothing to compare a later flag with). Expired entries are dropped
on every write, and past ``MAX_ENTRIES`` the soonest to expire go first. An entry is about 200 bytes: 100 allows a
day kept 30 days (3,000 entries) is 0.6 MB, parsed in 13 ms on this project's machine (the consumer parses it only
when it changed, at most once per refresh); the cap of 20,000 entries is 4 MB and 112 ms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from clickguard import settings
from clickguard.rejections import RejectedRecord
from clickguard.review.decision import Decision, Verdict
from clickguard.timestamps import DAY_MS, format_ms, parse_timestamp

SCHEMA_VERSION = 1
MAX_ENTRIES = 20_000


class AllowListError(ValueError):
    """The stored document is not an allow-list this code can read."""


@dataclass(frozen=True)
class AllowEntry:
    reasons: frozenset[str]  # the flag's reasons when it was allowed
    strength: float  # the flag's strength then (review.strength)
    decided_at_ms: int
    expires_at_ms: int
    flag_id: str
    margin: float  # a later flag is "stronger" above strength * (1 + margin)

    @property
    def limit(self) -> float:
        return self.strength * (1.0 + self.margin)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reasons": sorted(self.reasons),
            "strength": self.strength,
            "decided_at": format_ms(self.decided_at_ms),
            "expires_at": format_ms(self.expires_at_ms),
            "flag_id": self.flag_id,
        }


@dataclass(frozen=True)
class AllowList:
    entries: Mapping[str, AllowEntry] = field(default_factory=dict)
    margin: float = settings.DEFAULT_ALLOW_MARGIN

    def entry(self, user_key: str) -> AllowEntry | None:
        return self.entries.get(user_key)

    def __len__(self) -> int:
        return len(self.entries)

    def to_json(self) -> bytes:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "margin": self.margin,
            "entries": {user: e.as_dict() for user, e in sorted(self.entries.items())},
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> AllowList:
        try:
            doc = json.loads(data)
        except ValueError:
            raise AllowListError("not JSON") from None
        if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
            raise AllowListError(f"not an allow-list of schema_version {SCHEMA_VERSION}")
        margin, entries = doc.get("margin"), doc.get("entries")
        if not isinstance(margin, int | float) or isinstance(margin, bool) or margin < 0:
            raise AllowListError("margin must be a number >= 0")
        if not isinstance(entries, dict):
            raise AllowListError("entries must be an object")
        return cls({str(user): _entry(raw, float(margin)) for user, raw in entries.items()}, float(margin))


def _entry(raw: Any, margin: float) -> AllowEntry:
    try:
        reasons, strength = raw["reasons"], raw["strength"]
        if not isinstance(reasons, list) or isinstance(strength, bool) or not isinstance(strength, int | float):
            raise TypeError
        return AllowEntry(
            reasons=frozenset(str(r) for r in reasons),
            strength=float(strength),
            decided_at_ms=parse_timestamp(raw["decided_at"]),
            expires_at_ms=parse_timestamp(raw["expires_at"]),
            flag_id=str(raw["flag_id"]),
            margin=margin,
        )
    except (KeyError, TypeError, RejectedRecord):
        raise AllowListError("an entry lacks reasons, strength, decided_at, expires_at or flag_id") from None


def apply(current: AllowList, decisions: Sequence[Decision], *, days: int, margin: float, now_ms: int) -> AllowList:
    """The list after ``decisions`` (in order), with expired entries dropped and at most ``MAX_ENTRIES`` kept."""
    entries = {u: _with_margin(e, margin) for u, e in current.entries.items() if e.expires_at_ms > now_ms}
    for d in decisions:
        held = entries.get(d.user_key)
        if held is not None and d.decided_at_ms < held.decided_at_ms:
            continue  # an older decision never overrides a newer one
        if d.decision is Verdict.BLOCK:
            entries.pop(d.user_key, None)
        elif d.flag_reasons is not None and d.flag_strength is not None:
            reasons, strength = frozenset(d.flag_reasons), d.flag_strength
            if held is not None:  # another flag of the same user cleared: widen what is allowed
                reasons, strength = reasons | held.reasons, max(strength, held.strength)
            entries[d.user_key] = AllowEntry(
                reasons=reasons,
                strength=strength,
                decided_at_ms=d.decided_at_ms,
                expires_at_ms=d.decided_at_ms + days * DAY_MS,
                flag_id=d.flag_id,
                margin=margin,
            )
    if len(entries) > MAX_ENTRIES:
        keep = sorted(entries, key=lambda u: (-entries[u].expires_at_ms, u))[:MAX_ENTRIES]
        entries = {u: entries[u] for u in keep}
    return AllowList({u: e for u, e in entries.items() if e.expires_at_ms > now_ms}, margin)


def _with_margin(entry: AllowEntry, margin: float) -> AllowEntry:
    return entry if entry.margin == margin else replace(entry, margin=margin)
