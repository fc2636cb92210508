"""What the consumer keeps per user between batches (one DynamoDB item; see ``clickguard.store.sessions``)."""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from clickguard.alerts import LastFlag as LastFlag
from clickguard.events import Event, copy_key
from clickguard.model.scoring import SessionState

# Producer retries of PutRecords duplicate an event under a new sequence number, usually seconds and a few events
# after the original. A user's last 128 distinct events with ids are kept, as 8-byte digests with their 8-byte
# times: 2 KiB at most per item.
RECENT_EVENT_IDS = 128
ID_DIGEST_BYTES = 8
_TIME_BYTES = 8
# Ids let go of at the horizon's very time, kept so that an event dated there is told a copy or new by its id: a
# burst (a bot's, or a producer's whole-second times) dates hundreds alike. 4 KiB at most, only for such a user.
AT_HORIZON_IDS = 4 * RECENT_EVENT_IDS


def _split(packed: bytes) -> list[bytes]:
    return [packed[i : i + ID_DIGEST_BYTES] for i in range(0, len(packed), ID_DIGEST_BYTES)]


def id_digest(event_id: str) -> bytes:
    """A 64-bit digest of an event id: 128 per user make a false duplicate about 1 in 10**17."""
    return hashlib.blake2b(event_id.encode(), digest_size=ID_DIGEST_BYTES).digest()


def event_digest(ev: Event, ts_ms: int) -> bytes:
    """The duplicate rule's digest of an event that carries an id (``copy_key``), at the time it counts at
    (``timestamps.effective_time``, as the archive holds it)."""
    return id_digest(copy_key(ev.event_id or "", ts_ms, ev.token))


class RecentIds:
    """The duplicate rule's window: a user's last ``RECENT_EVENT_IDS`` distinct event ids, oldest first, each with
    the time it counts at, and the window's horizon: the latest time of an event it has let go of.

    An event with an id is a copy when the window holds it, or when it is dated before the horizon: older than an
    event the window no longer remembers, it can no longer be told from a copy by its id, and a producer that
    replays from a checkpoint sends exactly such events. Dated at the horizon, it is a copy when its id is one the
    window let go of at that very time (``at_horizon``, up to ``AT_HORIZON_IDS``; past them, any): a bot's burst or
    a producer's whole-second times date more than ``RECENT_EVENT_IDS`` events alike (300 events of distinct ids in
    one second: 171 were dropped as copies when the rule said "at or before"), while a replay's copies of the
    events let go of there must still be told (read as new, each pushed the next original out). Without the
    horizon, each unrecognised copy took a place in the window and pushed an original out, so a replay of a user's
    day applied every copy past the first 128 (a tester's: 9,189 records put again, 1,846 applied, busy users' last
    sessions doubled, 4 more flags). A genuine event that old would have to trail more than ``RECENT_EVENT_IDS`` of
    its user's later events.

    The same window is carried event by event through a batch and stored with the state, so a verdict never depends
    on where a batch starts or ends. Items written before the horizon (2026-11-30m) have no times: their entries
    count as dated 0 and move the horizon nowhere when they leave.
    """

    def __init__(self, packed: bytes = b"", times: bytes = b"", horizon_ms: int = 0, at_horizon: bytes = b"") -> None:
        """``packed``: digests concatenated, oldest first (``UserState.recent_ids``); ``times``: theirs, 8-byte
        big-endian milliseconds (``UserState.recent_times``); ``at_horizon``: digests concatenated
        (``UserState.horizon_ids``)."""
        self.order: deque[bytes] = deque(_split(packed), maxlen=RECENT_EVENT_IDS)
        dated = list(struct.unpack(f">{len(times) // _TIME_BYTES}q", times)) if times else []
        self.times: deque[int] = deque([0] * (len(self.order) - len(dated)) + dated, maxlen=RECENT_EVENT_IDS)
        self.members = set(self.order)
        self.horizon_ms = horizon_ms
        self.at_horizon = set(_split(at_horizon))

    def seen_or_add(self, digest: bytes, ts_ms: int, late: bool = False) -> bool:
        """Whether the event is a copy; a new one joins the window, unless ``late`` (a late event takes no place)."""
        if digest in self.members:
            return True
        if late:
            return False
        if ts_ms < self.horizon_ms or (
            ts_ms == self.horizon_ms and (digest in self.at_horizon or len(self.at_horizon) >= AT_HORIZON_IDS)
        ):
            return True
        if len(self.order) == RECENT_EVENT_IDS:
            self._let_go(self.order[0], self.times[0])
        self.order.append(digest)
        self.times.append(ts_ms)
        self.members.add(digest)
        return False

    def _let_go(self, digest: bytes, ts_ms: int) -> None:
        """The oldest entry leaves: the horizon moves to its time, and its id is kept while the horizon stays there
        (an undated entry of an item from before the horizon moves nothing)."""
        self.members.discard(digest)
        if ts_ms > self.horizon_ms:
            self.horizon_ms, self.at_horizon = ts_ms, {digest}
        elif ts_ms == self.horizon_ms and ts_ms and len(self.at_horizon) < AT_HORIZON_IDS:
            self.at_horizon.add(digest)

    def packed_times(self) -> bytes:
        return struct.pack(f">{len(self.times)}q", *self.times)

    def packed_at_horizon(self) -> bytes:
        """The ids let go of at the horizon, in one order whatever the order they left in (a batch's split)."""
        return b"".join(sorted(self.at_horizon))

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
    recent_times: bytes = b""  # the times of ``recent_ids``' events (``RecentIds``)
    id_horizon_ms: int = 0  # the duplicate window's horizon (``RecentIds``)
    horizon_ids: bytes = b""  # the ids it let go of at the horizon's time (``RecentIds.at_horizon``)

    def last_seq(self, shard_id: str) -> int:
        return self.seqs.get(shard_id, -1)


def trim_seqs(seqs: dict[str, int]) -> dict[str, int]:
    if len(seqs) <= MAX_SHARDS_TRACKED:
        return seqs
    keep = sorted(seqs.items(), key=lambda kv: kv[1])[-MAX_SHARDS_TRACKED:]
    return dict(keep)
