"""A batch's view of the state store: each item read at most once, changes kept in place until the batch ends.

An item is read (batched, through the ``NetworkStore`` port) the first time an event needs it and kept for the
rest of the batch. Its first change copies it into a mutable record; later changes of the batch cost a set or list
operation, not a new item. ``writes`` returns the changed items whole, and ``first_touch`` the lowest sequence
number that changed each (where a replay must start if its write fails).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from clickguard.network.ports import NetworkStore
from clickguard.network.state import FriendsItem, Part, Purchase, PurchasesItem, trim_guard


class ReadFailed(Exception):
    """A store read still failed after its retries."""


@dataclass
class ReadStats:
    friends_read: int = 0  # items read from the store, per part
    purchases_read: int = 0
    read_calls: int = 0


@dataclass
class _Friends:
    friends: set[str]
    seqs: dict[str, int]


@dataclass
class _Purchases:
    purchases: list[Purchase]  # oldest first
    seqs: dict[str, int]


class WorkingSet:
    def __init__(self, store: NetworkStore) -> None:
        self.store = store
        self.reads = ReadStats()
        self.friends: dict[str, FriendsItem] = {}  # as read
        self.purchases: dict[str, PurchasesItem] = {}
        self.changed_friends: dict[str, _Friends] = {}
        self.changed_purchases: dict[str, _Purchases] = {}
        self.first_touch: dict[tuple[Part, str], int] = {}
        # (user, shard) -> the last (seq, sub) applied to that user's item in this batch: the guard within a record.
        # One dict per part: an enum in a key would be hashed in Python on every event.
        self.done_friends: dict[tuple[str, str], tuple[int, int]] = {}
        self.done_purchases: dict[tuple[str, str], tuple[int, int]] = {}
        # Each loaded user's current friends and purchases, changed or not: one lookup per member in the walk.
        self.adjacency: dict[str, AbstractSet[str]] = {}
        self.lists: dict[str, Sequence[Purchase]] = {}

    # --- reads -------------------------------------------------------------------------------------------------
    def load_friends(self, users: Sequence[str], strict: bool = True) -> None:
        """Read the friends items not read yet; ``strict``: raise ``ReadFailed`` if any could not be read."""
        missing = [u for u in users if u not in self.friends]
        if missing:
            missing = list(dict.fromkeys(missing))
            found, failed = self.store.get_friends(missing)
            self.reads.read_calls += 1
            self.reads.friends_read += len(missing) - len(failed)
            for u in missing:
                if u not in failed:
                    item = self.friends[u] = found.get(u) or FriendsItem(u)
                    self.adjacency[u] = item.friends
            if failed and strict:
                raise ReadFailed(f"{len(failed)} friends items")

    def load_purchases(self, users: Sequence[str], strict: bool = True) -> None:
        missing = [u for u in users if u not in self.purchases]
        if missing:
            missing = list(dict.fromkeys(missing))
            found, failed = self.store.get_purchases(missing)
            self.reads.read_calls += 1
            self.reads.purchases_read += len(missing) - len(failed)
            for u in missing:
                if u not in failed:
                    item = self.purchases[u] = found.get(u) or PurchasesItem(u)
                    self.lists[u] = item.purchases
            if failed and strict:
                raise ReadFailed(f"{len(failed)} purchases items")

    def friends_of(self, users: Sequence[str]) -> list[AbstractSet[str]]:
        """Each user's friends as of the events applied so far (one batched read for those not read yet)."""
        adjacency = self.adjacency
        try:
            return [adjacency[u] for u in users]
        except KeyError:
            self.load_friends(users)
            return [adjacency[u] for u in users]

    def purchase_lists(self, users: Sequence[str]) -> list[Sequence[Purchase]]:
        """Each user's last T purchases, oldest first (one batched read for those not read yet)."""
        lists = self.lists
        try:
            return [lists[u] for u in users]
        except KeyError:
            self.load_purchases(users)
            return [lists[u] for u in users]

    def friendship_applied(self, user: str, shard: str, seq: int, sub: int) -> bool:
        """True if the user's friends item already applied this position (the user must be loaded)."""
        if seq <= self.friends[user].seqs.get(shard, -1):  # the committed guard (``state``)
            return True
        done = self.done_friends.get((user, shard))
        return done is not None and (seq, sub) <= done

    def purchase_applied(self, user: str, shard: str, seq: int, sub: int) -> bool:
        """True if the user's purchases item already applied this position; read first if needed (``ReadFailed``
        if it cannot be)."""
        item = self.purchases.get(user)
        if item is None:
            self.load_purchases([user])
            item = self.purchases[user]
        if seq <= item.seqs.get(shard, -1):
            return True
        done = self.done_purchases.get((user, shard))
        return done is not None and (seq, sub) <= done

    def current_friends(self, user: str) -> AbstractSet[str]:
        return self.adjacency[user]

    # --- changes -----------------------------------------------------------------------------------------------
    def change_friends(self, user: str, shard: str, seq: int, sub: int = 0) -> set[str]:
        """The user's friend set to change, its guard advanced to this position."""
        c = self.changed_friends.get(user)
        if c is None:
            item = self.friends[user]
            c = self.changed_friends[user] = _Friends(set(item.friends), dict(item.seqs))
            self.adjacency[user] = c.friends
            self.first_touch.setdefault((Part.FRIENDS, user), seq)
        c.seqs[shard] = seq
        self.done_friends[user, shard] = (seq, sub)
        return c.friends

    def add_purchase(self, user: str, purchase: Purchase, window: int) -> None:
        """Into the user's last ``window`` purchases, in order (a late timestamp is inserted, or dropped when older
        than all ``window`` kept); the guard advances to its position."""
        c = self.changed_purchases.get(user)
        if c is None:
            item = self.purchases[user]
            c = self.changed_purchases[user] = _Purchases(list(item.purchases), dict(item.seqs))
            self.lists[user] = c.purchases
            self.first_touch.setdefault((Part.PURCHASES, user), purchase.seq)
        kept = c.purchases
        if not kept or purchase > kept[-1]:
            kept.append(purchase)
        else:
            bisect.insort(kept, purchase)
        if len(kept) > window:
            del kept[: len(kept) - window]
        c.seqs[purchase.shard] = purchase.seq
        self.done_purchases[user, purchase.shard] = (purchase.seq, purchase.sub)

    def writes(self) -> tuple[list[FriendsItem], list[PurchasesItem]]:
        """The changed items. The working set ends here, so its friend sets are handed over, not copied: nothing
        changes them afterwards (a later batch copies a set before its first change)."""
        friends = [FriendsItem(u, c.friends, trim_guard(c.seqs)) for u, c in self.changed_friends.items()]
        purchases = [
            PurchasesItem(u, tuple(c.purchases), trim_guard(c.seqs)) for u, c in self.changed_purchases.items()
        ]
        return friends, purchases
