"""The campaign alert's counters in DynamoDB (``clickguard.consumer.campaign``): one item per (signature, hour)
in the session table, grown with UpdateItem, one call per bucket a batch touches.

Item layout (key longer than any user key: ``campaign.Bucket.key``)::

    user_key (S)   members (BS: 8-byte user digests), signature (S), bucket (S: the hour, ISO), sample (SS: the
    first batch's user keys, at most ``campaign.SAMPLE``), alerted (BOOL, once the group flag went out),
    expires_at (N, the table's TTL)

``ADD`` of a set is a union: a replayed batch adds what is already there, and batches of several shards add in
any order. The condition ``size(members) < cap`` stops a set before an item could grow past DynamoDB's 400 KB; a
full bucket answers with its stored item (``ReturnValuesOnConditionCheckFailure``), never an error. A bucket this
container has seen ``alerted`` is not updated again (its members no longer matter: its one flag went out), so a
big campaign's set is not read back by every later batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.consumer.buckets import Bucket, GroupCount, GroupUpdate
from clickguard.store.retry import Backoff, run_all
from clickguard.timestamps import format_ms

KEY = settings.SESSION_TABLE_KEY
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
_NAMES = {
    "#m": "members",
    "#s": "signature",
    "#b": "bucket",
    "#p": "sample",
    "#t": settings.SESSION_TABLE_TTL_ATTRIBUTE,
}
_ADD = "ADD #m :d SET " + ", ".join(
    f"{n} = if_not_exists({n}, {v})" for n, v in (("#s", ":s"), ("#b", ":b"), ("#p", ":p"), ("#t", ":t"))
)
_NOT_FULL = "attribute_not_exists(#m) OR size(#m) < :cap"
_REMEMBERED = 4096


def _count(item: dict[str, Any], full: int | None = None) -> GroupCount:
    members = len(item.get("members", {}).get("BS", ()))
    return GroupCount(
        members=full if full is not None else members,
        alerted=bool(item.get("alerted", {}).get("BOOL", False)),
        sample=tuple(sorted(item.get("sample", {}).get("SS", ()))),
    )


class DynamoGroupCounter:
    def __init__(
        self, client: Any, table: str, executor: Executor | None = None, backoff: Backoff | None = None
    ) -> None:
        self.client = client
        self.table = table
        self.executor = executor
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self.calls = 0  # UpdateItem calls so far (the handler's DynamoDBCalls metric)
        self._alerted: set[Bucket] = set()  # durable marks seen: nothing more to count there

    def _count_call(self) -> None:
        with self._lock:
            self.calls += 1

    def add(self, updates: Sequence[GroupUpdate]) -> dict[Bucket, GroupCount]:
        done = {u.bucket: GroupCount(u.cap, True, ()) for u in updates if u.bucket in self._alerted}
        todo = [u for u in updates if u.bucket not in done]
        answers = run_all(self.executor, self._add_one, todo)
        counted = {u.bucket: count for u, count in zip(todo, answers, strict=True) if count is not None}
        self._remember(b for b, c in counted.items() if c.alerted)
        return {**done, **counted}

    def _remember(self, alerted: Iterable[Bucket]) -> None:
        with self._lock:
            if len(self._alerted) > _REMEMBERED:  # a container lives for hours; buckets last one
                self._alerted.clear()
            self._alerted.update(alerted)

    def _add_one(self, update: GroupUpdate) -> GroupCount | None:
        values = {
            ":d": {"BS": list(update.digests)},
            ":s": {"S": update.bucket.signature},
            ":b": {"S": format_ms(update.bucket.hour_ms)},
            ":p": {"SS": list(update.sample)},
            ":t": {"N": str(update.expires_at)},
            ":cap": {"N": str(update.cap)},
        }
        for _ in self.backoff.pauses():
            try:
                self._count_call()
                resp = self.client.update_item(
                    TableName=self.table,
                    Key={KEY: {"S": update.bucket.key}},
                    UpdateExpression=_ADD,
                    ConditionExpression=_NOT_FULL,
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return _count(resp.get("Attributes", {}))
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":  # full: it crossed its threshold long ago
                    return _count(exc.response.get("Item", {}), full=update.cap)
                if code not in _THROTTLED:
                    break
            except BotoCoreError:
                break
        return None

    def mark_alerted(self, buckets: Sequence[Bucket]) -> set[Bucket]:
        done = run_all(self.executor, self._mark_one, list(buckets))
        self._remember(b for b, ok in zip(buckets, done, strict=True) if ok)
        return {b for b, ok in zip(buckets, done, strict=True) if not ok}

    def _mark_one(self, bucket: Bucket) -> bool:
        for _ in self.backoff.pauses():
            try:
                self._count_call()
                self.client.update_item(
                    TableName=self.table,
                    Key={KEY: {"S": bucket.key}},
                    UpdateExpression="SET #a = :yes",
                    ExpressionAttributeNames={"#a": "alerted"},
                    ExpressionAttributeValues={":yes": {"BOOL": True}},
                )
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _THROTTLED:
                    break
            except BotoCoreError:
                break
        return False
