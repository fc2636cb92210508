"""What the consumer keeps per user between batches (one DynamoDB item; see ``clickguard.store.sessions``)."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from clickguard.alerts import LastFlag as LastFlag
from clickguard.events import Event, copy_key
from clickguard.model.scoring import SessionState

# Producer retries of PutRecords duplicate an event under a new sequence number, usually seconds and a few events
# after the original. A user's last 128 distinct events with ids are kept, as 8-byte digests: 1 KiB at most per item.
RECENT_EVENT_IDS = 128
ID_DIGEST_BYTES = 8


def id_digest(event_id: str) -> bytes:
    """A 64-bit digest of an event id: 128 per user make a false duplicate about 1 in 10**17."""
    return hashlib.blake2b(event_id.encode(), digest_size=ID_DIGEST_BYTES).digest()


def event_digest(ev: Event, ts_ms: int) -> bytes:
    """The duplicate rule's digest of an event that carries an id (``copy_key``), at the time it counts at
    (``timestamps.effective_time``, as the archive holds it)."""
    return id_digest(copy_key(ev.event_id or "", ts_ms, ev.token))


class RecentIds:
    """The duplicate rule's window: a user's last ``RECENT_EVENT_IDS`` distinct event ids, oldest first.

    The same window is carried event by event through a batch and stored with the state, so whether a copy is
    dropped depends only on how many of the user's distinct ids came between it and its original (fewer than
    ``RECENT_EVENT_IDS``: dropped), never on where a batch starts or ends.
    """

    def __init__(self, packed: bytes = b"") -> None:
        """``packed``: digests concatenated, oldest first (``UserState.recent_ids``)."""
        digests = (packed[i : i + ID_DIGEST_BYTES] for i in range(0, len(packed), ID_DIGEST_BYTES))
        self.order: deque[bytes] = deque(digests, maxlen=RECENT_EVENT_IDS)
        self.members = set(self.order)

    def seen_or_add(self, digest: bytes) -> bool:
        if digest in self.members:
            return True
        if len(self.order) == RECENT_EVENT_IDS:
            self.members.discard(self.order[0])
        self.order.append(digest)
        self.members.add(digest)
        return False

    def packed(self) -> bytes:
        return b"".join(self.order)


# After a reshard a user's records move to a child shard; a few shards of history is plenty.
MAX_SHARDS_TRACKED = 4


_NO_SEQS: Mapping[str, int] = MappingProxyType({})


class UserState(NamedTuple):
    """A tuple, not a frozen dataclass: two are built per returning user and batch (read, then written), and a
    frozen dataclass's ``__init__`` costs three times a tuple's."""

    user_key: str
    session: SessionState | None = None
    # Last applied sequence number per shard: sequence numbers are only ordered within a shard.
    seqs: Mapping[str, int] = _NO_SEQS
    recent_ids: bytes = b""  # digests (``id_digest``), oldest first, concatenated: split only when a batch needs them
    last_flag: LastFlag | None = None
    expires_at: int = 0  # epoch seconds, DynamoDB TTL
    version: int = 0  # states written so far for this user: one more with each write

    def last_seq(self, shard_id: str) -> int:
        return self.seqs.get(shard_id, -1)


def trim_seqs(seqs: dict[str, int]) -> dict[str, int]:
    if len(seqs) <= MAX_SHARDS_TRACKED:
        return seqs
    keep = sorted(seqs.items(), key=lambda kv: kv[1])[-MAX_SHARDS_TRACKED:]
    return dict(keep)
