"""The state store in process: the file mode's store and the tests' fake, with optional injected failures.

Items are immutable, so a read hands out the stored object itself and a write replaces it: the step never changes
what the store holds except through ``put``, as with DynamoDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from clickguard.network.state import FriendsItem, Part, PurchasesItem

T = TypeVar("T", FriendsItem, PurchasesItem)


@dataclass
class InMemoryNetworkStore:
    friends: dict[str, FriendsItem] = field(default_factory=dict)
    purchases: dict[str, PurchasesItem] = field(default_factory=dict)
    fail_reads: set[str] = field(default_factory=set)  # user keys whose reads fail (both parts)
    fail_writes: set[tuple[Part, str]] = field(default_factory=set)
    read_calls: int = 0
    items_read: int = 0
    write_calls: int = 0

    def get_friends(self, user_keys: Sequence[str]) -> tuple[dict[str, FriendsItem], set[str]]:
        return self._get(self.friends, user_keys)

    def get_purchases(self, user_keys: Sequence[str]) -> tuple[dict[str, PurchasesItem], set[str]]:
        return self._get(self.purchases, user_keys)

    def _get(self, items: dict[str, T], user_keys: Sequence[str]) -> tuple[dict[str, T], set[str]]:
        self.read_calls += 1
        self.items_read += len(user_keys)
        failed = {u for u in user_keys if u in self.fail_reads} if self.fail_reads else set()
        found = {u: item for u in user_keys if u not in failed and (item := items.get(u)) is not None}
        return found, failed

    def put(self, friends: Sequence[FriendsItem], purchases: Sequence[PurchasesItem]) -> set[tuple[Part, str]]:
        self.write_calls += 1
        failed: set[tuple[Part, str]] = set()
        for f in friends:
            if (Part.FRIENDS, f.user_key) in self.fail_writes:
                failed.add((Part.FRIENDS, f.user_key))
            else:
                self.friends[f.user_key] = f
        for p in purchases:
            if (Part.PURCHASES, p.user_key) in self.fail_writes:
                failed.add((Part.PURCHASES, p.user_key))
            else:
                self.purchases[p.user_key] = p
        return failed
