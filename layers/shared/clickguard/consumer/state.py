"""What the consumer keeps per user between batches (one DynamoDB item; see ``clickguard.store.sessions``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from clickguard.model.scoring import SessionState

# Producer retries of PutRecords duplicate an event under a new sequence number, usually within seconds; the last
# few event ids per user are enough to drop those, and keep the item small.
RECENT_EVENT_IDS = 32
# After a reshard a user's records move to a child shard; a few shards of history is plenty.
MAX_SHARDS_TRACKED = 4


@dataclass(frozen=True)
class LastFlag:
    ts_ms: int  # event time the flag fired at (the session's latest event time): cooldown runs on event time
    model_version: str
    flag_id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class UserState:
    user_key: str
    session: SessionState | None = None
    # Last applied sequence number per shard: sequence numbers are only ordered within a shard.
    seqs: dict[str, int] = field(default_factory=dict)
    recent_event_ids: tuple[str, ...] = ()
    last_flag: LastFlag | None = None
    expires_at: int = 0  # epoch seconds, DynamoDB TTL

    def last_seq(self, shard_id: str) -> int:
        return self.seqs.get(shard_id, -1)


def trim_seqs(seqs: dict[str, int]) -> dict[str, int]:
    if len(seqs) <= MAX_SHARDS_TRACKED:
        return seqs
    keep = sorted(seqs.items(), key=lambda kv: kv[1])[-MAX_SHARDS_TRACKED:]
    return dict(keep)
