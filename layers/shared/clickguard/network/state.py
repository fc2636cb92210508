"""What the rule keeps per user: two items, each bounded and each guarded by the last applied position per shard.

* the **friends** item: the user's adjacency set (friendships are bidirectional: both users' items hold the edge),
  at most ``max_friends`` keys;
* the **purchases** item: the user's last T purchases, oldest first, each with its global order key
  ``(timestamp ms, sequence number, sub, shard)``: the latest purchase is the one with the highest timestamp, and
  of equal timestamps the one that arrived first is the earlier (``sub`` orders the events of one Kinesis record
  that holds several, a KPL aggregate for one). The network's last T purchases are always among its
  members' last T, so T per user is all the rule ever needs.

Two items, not one: a purchase writes only the buyer's purchases item and a friendship only the two friends items,
so a deployment that puts social events under a partition key of their own has exactly one writer per item.

``seqs`` is the replay guard (as in ``clickguard.consumer.admission``): the highest sequence number per shard whose
event was applied to the item. An event at or below it is skipped for that item, so a replayed or overlapping
batch never appends a purchase twice nor re-applies a befriend / unfriend after a later one. The plain sequence
number is enough in the item: Lambda never splits a record between batches and an item commits whole, so the
events of one record apply to an item all or none (within a batch, ``working.WorkingSet`` orders them by sub).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import NamedTuple

# After a reshard an item is written from the child shards too; the guard keeps the highest positions of a few.
GUARD_SHARDS = 8


class Part(enum.StrEnum):
    FRIENDS = "friends"
    PURCHASES = "purchases"


class Purchase(NamedTuple):
    """Ordered by (ts_ms, seq, sub, shard): the tuple's own order, which ``cents`` never decides (positions are
    unique)."""

    ts_ms: int
    seq: int  # arrival order: the line number in the file mode, the Kinesis sequence number on a stream
    sub: int  # the event's place in its record (0 unless the record holds several events)
    shard: str
    cents: int


@dataclass(frozen=True)
class FriendsItem:
    user_key: str
    friends: AbstractSet[str] = frozenset()  # never changed once in an item: a change copies it first
    seqs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PurchasesItem:
    user_key: str
    purchases: tuple[Purchase, ...] = ()  # oldest first, at most T
    seqs: Mapping[str, int] = field(default_factory=dict)


def trim_guard(seqs: dict[str, int]) -> dict[str, int]:
    """At most ``GUARD_SHARDS`` shards: those written most recently (sequence numbers grow with time)."""
    if len(seqs) <= GUARD_SHARDS:
        return seqs
    return dict(sorted(seqs.items(), key=lambda kv: kv[1])[-GUARD_SHARDS:])
