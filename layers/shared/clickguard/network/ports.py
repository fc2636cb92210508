"""What the step needs from a state store: batched reads of each part, one batched write.

``clickguard.network.memory`` implements it in process (the file mode, tests); ``clickguard.store.network`` on
DynamoDB (BatchGetItem of up to 100 keys, BatchWriteItem of up to 25 items, unprocessed ones retried).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from clickguard.network.state import FriendsItem, Part, PurchasesItem


class NetworkStore(Protocol):
    def get_friends(self, user_keys: Sequence[str]) -> tuple[dict[str, FriendsItem], set[str]]:
        """Items found (absent = no friends yet) and the keys that could not be read."""
        ...

    def get_purchases(self, user_keys: Sequence[str]) -> tuple[dict[str, PurchasesItem], set[str]]:
        """Items found (absent = no purchases yet) and the keys that could not be read."""
        ...

    def put(self, friends: Sequence[FriendsItem], purchases: Sequence[PurchasesItem]) -> set[tuple[Part, str]]:
        """Write whole items; returns the (part, user key) of those not written."""
        ...
