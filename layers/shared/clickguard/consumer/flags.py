"""The pre-block flag: its stable id and the JSON message reviewers receive (when one fires: ``consumer.rule``).

Identity. ``flag_id`` hashes the user key, the session's first event time, the reason set and the shard and
sequence number of the event it fired on, and its part of the record when the record holds several events (a KPL
sub-record, an NDJSON line: ``source.sub_record``), so two flags fired inside one aggregate never share an id. A
replay recomputes the same flag from the same committed state and records, so it carries the same id (and the same
body): a duplicate SQS message is possible, a new flag is not.
Replays are deterministic for one model version; if a new model is published between a failure and its
replay, the replayed batch is scored by the new model, as any later batch would be.

Message (``schema_version`` 2; the README documents each field): the decision (``score`` above ``threshold``),
its ``reasons`` and every ``signals`` line (the session's value, the training window's typical value and the
bits it added), the Markov model's view (``peak_mean_bits``, ``total_bits``, ``top_transitions``), and where and
when it fired. Only the user key, event types and times appear: no payload field is ever copied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from clickguard.alerts import Flag as Flag
from clickguard.alerts import LastFlag
from clickguard.model.groups import Tag
from clickguard.model.live import Signal
from clickguard.model.scoring import SessionState
from clickguard.timestamps import format_ms

SCHEMA_VERSION = 2
# The message's fields, once: reviewers' tooling, the README and the tests read this list.
MESSAGE_FIELDS = (
    "schema_version", "flag_id", "user_key", "session_id", "score", "threshold", "reasons", "signals",
    "transitions", "peak_mean_bits", "total_bits", "top_transitions", "model_version", "first_event_time",
    "last_event_time", "flagged_at", "source", "group", "group_distance", "emerging_group",
)  # fmt: skip


def rounded(x: float) -> float:
    """A number as the message carries it: reviewers' tools (and the allow-list) compare these, so the consumer
    compares the same."""
    return round(x, 6)


def flag_id(
    user_key: str, session_first_ts_ms: int, reasons: tuple[str, ...], shard_id: str, seq: int, sub: int = 0
) -> str:
    parts = [user_key, str(session_first_ts_ms), ",".join(sorted(reasons)), shard_id, str(seq)]
    if sub:  # part 0 (and every record of one event) keeps the id it always had
        parts.append(str(sub))
    key = "\x1f".join(parts)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def build_flag(
    user_key: str,
    state: SessionState,
    reasons: tuple[str, ...],
    score: float,
    threshold: float,
    signals: Sequence[Signal],
    model_version: str,
    shard_id: str,
    seq: int,
    sub: int = 0,
    group: Tag | None = None,
) -> Flag:
    fid = flag_id(user_key, state.first_ts_ms, reasons, shard_id, seq, sub)
    source: dict[str, Any] = {"shard_id": shard_id, "sequence_number": str(seq)}
    if sub:
        source["sub_record"] = sub
    message: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "flag_id": fid,
        "user_key": user_key,
        "session_id": state.session_id,
        "score": rounded(score),
        "threshold": rounded(threshold),
        "reasons": list(reasons),
        "signals": [s.as_dict() for s in signals],
        "transitions": state.transitions,
        "peak_mean_bits": rounded(state.peak_mean_bits),
        "total_bits": rounded(state.total_bits),
        "top_transitions": [
            {"from": t.from_token, "to": t.to_token, "bits": t.bits, "position": t.position} for t in state.top
        ],
        "model_version": model_version,
        "first_event_time": format_ms(state.first_ts_ms),
        "last_event_time": format_ms(state.last_ts_ms),
        "flagged_at": format_ms(state.last_ts_ms),  # event time: the same flag replayed says the same thing
        "source": source,
        # The user's nearest behaviour group (``model.groups``; null without groups in the model), the distance to
        # it, and the signature of the emerging behaviour when the session fits no group (``consumer.campaign``).
        "group": group.group if group else None,
        "group_distance": rounded(group.distance) if group else None,
        "emerging_group": group.signature if group else None,
    }
    body = json.dumps(message, sort_keys=True, separators=(",", ":"))
    return Flag(fid, user_key, body, LastFlag(state.last_ts_ms, model_version, fid, reasons))
