"""The ``POST /score`` answer (``schema_version`` 1; the README documents each field).

Scores are detector v2's (``model.live``), the number the consumer compares with the model's ``threshold`` after
every event; ``null`` where there is no score: no session at all, or a session shorter than the model's
``min_events`` (``empty`` says which, in words). Signals and transitions are the ones a flag message carries
(``consumer.flags``). Only the user key, event types and times appear: nothing else of the events is echoed.
"""

from __future__ import annotations

import math
from typing import Any

from clickguard.api.scoring import Decision, UserScore
from clickguard.consumer.state import LastFlag
from clickguard.model.scoring import SessionState, is_judged
from clickguard.review.allowlist import AllowEntry
from clickguard.timestamps import format_ms

SCHEMA_VERSION = 1
# The answer's fields, once: the README and the tests read this list.
RESPONSE_FIELDS = (
    "schema_version", "user_key", "model_version", "threshold", "min_events", "score", "empty", "decision",
    "reasons", "signals", "session", "top_transitions", "started_from", "events",
)  # fmt: skip
DECISION_FIELDS = (
    "fires", "first_firing_event", "would_flag", "flag_event", "held_by", "reasons", "last_flag", "allowed",
)  # fmt: skip


def number(value: float) -> float | None:
    """A score as JSON: ``null`` where there is none (``-inf``: the session is too short, or there is none)."""
    return round(value, 6) if math.isfinite(value) else None


def score_body(result: UserScore, model_version: str, threshold: float, min_events: int) -> dict[str, Any]:
    stored = result.stored
    last_flag = stored.last_flag if stored else None
    session = result.session
    return {
        "schema_version": SCHEMA_VERSION,
        "user_key": result.user_key,
        "model_version": model_version,
        "threshold": round(threshold, 6),
        "min_events": min_events,
        "score": number(result.score),
        "empty": _empty(result, min_events),
        "decision": _decision(result.decision, last_flag, result.allowed),
        "reasons": list(result.reasons),
        "signals": [s.as_dict() for s in result.signals],
        "session": _session(session),
        "top_transitions": [
            {"from": t.from_token, "to": t.to_token, "bits": t.bits, "position": t.position}
            for t in (session.top if session else ())
        ],
        "started_from": {
            "stored": stored is not None,
            "state_version": stored.version if stored else 0,
            "session": _session(stored.session if stored else None),
            "score": number(result.stored_score),
        },
        "events": {
            "received": result.events.received,
            "applied": result.events.applied,
            "duplicates": result.events.duplicates,
            "late": result.events.late,
            "clamped": result.events.clamped,
        },
    }


def _empty(result: UserScore, min_events: int) -> dict[str, str] | None:
    """Why there is no score, when there is none."""
    session = result.session
    if session is None:
        dropped = result.events.duplicates + result.events.late
        tail = f" (the {dropped} sent were duplicates or late)" if dropped else ""
        return {"reason": "no_state", "detail": f"no session is stored for this user and no event applied{tail}"}
    if not is_judged(session, min_events):
        detail = (
            f"the session has {session.transitions} events and its user {session.visits.gaps} gaps between visits "
            f"today; the model judges from {min_events} of either"
        )
        return {"reason": "too_short", "detail": detail}
    return None


def _decision(d: Decision, last_flag: LastFlag | None, allowed: AllowEntry | None) -> dict[str, Any]:
    return {
        "fires": d.fires,
        "first_firing_event": d.first_firing_event,
        "would_flag": d.would_flag,
        "flag_event": d.flag_event,
        "held_by": d.held_by.value if d.held_by else None,
        "reasons": list(d.reasons),
        "last_flag": _last_flag(last_flag),
        "allowed": allowed.as_dict() if allowed else None,
    }


def _last_flag(f: LastFlag | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "flag_id": f.flag_id,
        "flagged_at": format_ms(f.ts_ms),
        "model_version": f.model_version,
        "reasons": list(f.reasons),
    }


def _session(s: SessionState | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "session_id": s.session_id,
        "first_event_time": format_ms(s.first_ts_ms),
        "last_event_time": format_ms(s.last_ts_ms),
        "events": s.transitions,
        "peak_mean_bits": round(s.peak_mean_bits, 6),
        "total_bits": round(s.total_bits, 6),
    }


def error_body(reason: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message}
