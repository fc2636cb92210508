"""The social network's state in DynamoDB: BatchGetItem (100 keys a call) and BatchWriteItem (25 items a call).

Implements ``clickguard.network.ports.NetworkStore`` as ``store.sessions`` does the session state: strongly
consistent reads (the previous batch of the shard may have written an item a moment ago), unprocessed keys and
items retried with jittered backoff, what still fails reported back as keys, never raised, so the caller can
checkpoint precisely; chunks run in the caller's pool and a call returns only when every chunk has finished.

Item layout: key ``user_key`` (S) + ``part`` (S, ``friends`` or ``purchases``), no personal data beyond the keys::

    friends    friends (SS, absent when empty), seqs {shard: 129-digit padded sequence number}
    purchases  purchases [[ts_ms (N), seq (S), sub (N), shard (S), cents (N)] x at most T, oldest first], seqs {...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.consumer.kinesis_event import pad_seq
from clickguard.network.state import FriendsItem, Part, Purchase, PurchasesItem
from clickguard.store.bounded import InvocationBoundStore
from clickguard.store.retry import chunks, run_all

GET_LIMIT = 100
WRITE_LIMIT = 25
KEY = settings.NETWORK_TABLE_KEY
PART = settings.NETWORK_TABLE_SORT_KEY
Item = TypeVar("Item", FriendsItem, PurchasesItem)


def _seqs_attr(seqs: dict[str, int] | Any) -> dict[str, Any]:
    return {"M": {shard: {"S": pad_seq(seq)} for shard, seq in seqs.items()}}


def _seqs(item: dict[str, Any]) -> dict[str, int]:
    return {shard: int(v["S"]) for shard, v in item.get("seqs", {}).get("M", {}).items()}


def friends_to_item(f: FriendsItem) -> dict[str, Any]:
    item: dict[str, Any] = {KEY: {"S": f.user_key}, PART: {"S": Part.FRIENDS.value}, "seqs": _seqs_attr(f.seqs)}
    if f.friends:  # DynamoDB has no empty sets
        item["friends"] = {"SS": sorted(f.friends)}
    return item


def friends_from_item(item: dict[str, Any]) -> FriendsItem:
    return FriendsItem(item[KEY]["S"], frozenset(item.get("friends", {}).get("SS", ())), _seqs(item))


def purchases_to_item(p: PurchasesItem) -> dict[str, Any]:
    rows = [
        {"L": [{"N": str(x.ts_ms)}, {"S": str(x.seq)}, {"N": str(x.sub)}, {"S": x.shard}, {"N": str(x.cents)}]}
        for x in p.purchases
    ]
    return {
        KEY: {"S": p.user_key},
        PART: {"S": Part.PURCHASES.value},
        "purchases": {"L": rows},
        "seqs": _seqs_attr(p.seqs),
    }


def purchases_from_item(item: dict[str, Any]) -> PurchasesItem:
    rows = item.get("purchases", {}).get("L", ())
    purchases = tuple(
        Purchase(int(r["L"][0]["N"]), int(r["L"][1]["S"]), int(r["L"][2]["N"]), r["L"][3]["S"], int(r["L"][4]["N"]))
        for r in rows
    )
    return PurchasesItem(item[KEY]["S"], purchases, _seqs(item))


def _key(part: Part, user: str) -> dict[str, Any]:
    return {KEY: {"S": user}, PART: {"S": part.value}}


class DynamoNetworkStore(InvocationBoundStore):
    """As ``store.sessions.DynamoSessionStore``: no write starts when less than ``min_seconds_left`` of the
    invocation remain (``time_left``, set per invocation), so none can land after the next invocation's."""

    def get_friends(self, user_keys: Sequence[str]) -> tuple[dict[str, FriendsItem], set[str]]:
        return self._get(Part.FRIENDS, user_keys, friends_from_item)

    def get_purchases(self, user_keys: Sequence[str]) -> tuple[dict[str, PurchasesItem], set[str]]:
        return self._get(Part.PURCHASES, user_keys, purchases_from_item)

    def _get(
        self, part: Part, user_keys: Sequence[str], decode: Callable[[dict[str, Any]], Item]
    ) -> tuple[dict[str, Item], set[str]]:
        found: dict[str, Item] = {}
        failed: set[str] = set()

        def chunk(keys: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
            return self._get_chunk(part, keys)

        for items, missing in run_all(self.executor, chunk, chunks(list(dict.fromkeys(user_keys)), GET_LIMIT)):
            for raw in items:
                decoded = decode(raw)
                found[decoded.user_key] = decoded
            failed |= missing
        return found, failed

    def _get_chunk(self, part: Part, keys: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        request: dict[str, Any] = {self.table: {"Keys": [_key(part, k) for k in keys], "ConsistentRead": True}}
        items: list[dict[str, Any]] = []
        for _ in self.backoff.pauses():
            try:
                self._count("get_calls")
                resp = self.client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError):
                break
            items.extend(resp.get("Responses", {}).get(self.table, ()))
            unprocessed = resp.get("UnprocessedKeys") or {}
            if not unprocessed.get(self.table, {}).get("Keys"):
                return items, set()
            request = unprocessed
        return items, {k[KEY]["S"] for k in request[self.table]["Keys"]}

    def put(self, friends: Sequence[FriendsItem], purchases: Sequence[PurchasesItem]) -> set[tuple[Part, str]]:
        items = [friends_to_item(f) for f in friends] + [purchases_to_item(p) for p in purchases]
        failed: set[tuple[Part, str]] = set()
        for missing in run_all(self.executor, self._write_chunk, chunks(items, WRITE_LIMIT)):
            failed |= missing
        return failed

    def _write_chunk(self, items: list[dict[str, Any]]) -> set[tuple[Part, str]]:
        request = {self.table: [{"PutRequest": {"Item": item}} for item in items]}
        for _ in self.backoff.pauses():
            if not self._may_write():
                break
            try:
                self._count("write_calls")
                resp = self.client.batch_write_item(RequestItems=request)
            except (ClientError, BotoCoreError):
                break
            unprocessed = resp.get("UnprocessedItems") or {}
            if not unprocessed.get(self.table):
                return set()
            request = unprocessed
        return {
            (Part(r["PutRequest"]["Item"][PART]["S"]), r["PutRequest"]["Item"][KEY]["S"]) for r in request[self.table]
        }


def create_table(dynamodb: Any, table_name: str) -> None:
    """The table the stack deploys (``user_key`` + ``part``, on demand), for tests and benchmarks on an emulator."""
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}, {"AttributeName": PART, "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": KEY, "AttributeType": "S"},
            {"AttributeName": PART, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
