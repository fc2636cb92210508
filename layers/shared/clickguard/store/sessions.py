"""Session state in DynamoDB: BatchGetItem (100 keys a call) and BatchWriteItem (25 items a call).

Reads are strongly consistent: the previous invocation on this shard may have written the item a moment ago, and
a stale read would re-apply records the guard should skip. Chunks run in the caller's thread pool, and a call
returns only when every chunk has finished: no write of this invocation can land after the next one's.
Unprocessed keys and items are retried with jittered backoff; what is still unprocessed is reported back as
failed user keys, never raised, so the orchestrator can checkpoint precisely.

The item each user's state is kept in: ``store.session_item``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.consumer.state import UserState
from clickguard.store.bounded import InvocationBoundStore
from clickguard.store.retry import Backoff, chunks, run_all
from clickguard.store.session_item import KEY, VERSION, from_item, to_item

GET_LIMIT = 100
WRITE_LIMIT = 25
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


class DynamoSessionStore(InvocationBoundStore):
    """``conditional``: one PutItem per user, only if the item's version is still the one read (an older state can
    then never replace a newer one, at one call per user instead of one per 25). Either way no write starts when
    less than ``min_seconds_left`` of the invocation remain (``time_left``), so none can outlive it."""

    def __init__(
        self,
        client: Any,
        table: str,
        executor: Executor | None = None,
        backoff: Backoff | None = None,
        conditional: bool = False,
        min_seconds_left: float = 0.0,
    ) -> None:
        super().__init__(client, table, executor, backoff, min_seconds_left)
        self.conditional = conditional

    def get_many(self, user_keys: Sequence[str]) -> tuple[dict[str, UserState], set[str]]:
        found: dict[str, UserState] = {}
        failed: set[str] = set()
        for items, missing in run_all(self.executor, self._get_chunk, chunks(list(user_keys), GET_LIMIT)):
            for item in items:
                state = from_item(item)
                found[state.user_key] = state
            failed |= missing
        return found, failed

    def _get_chunk(self, keys: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        request: dict[str, Any] = {self.table: {"Keys": [{KEY: {"S": k}} for k in keys], "ConsistentRead": True}}
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

    def put_many(self, states: Sequence[UserState]) -> set[str]:
        failed: set[str] = set()
        if self.conditional:
            return {key for key in run_all(self.executor, self._put_if_unchanged, list(states)) if key is not None}
        for missing in run_all(self.executor, self._write_chunk, chunks([to_item(s) for s in states], WRITE_LIMIT)):
            failed |= missing
        return failed

    def _put_if_unchanged(self, state: UserState) -> str | None:
        """The user key if not written: throttled past the retries, out of time, or a newer state is stored."""
        condition = "attribute_not_exists(#v) OR #v = :read"
        for _ in self.backoff.pauses():
            if not self._may_write():
                break
            try:
                self._count("write_calls")
                self.client.put_item(
                    TableName=self.table,
                    Item=to_item(state),
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#v": VERSION},
                    ExpressionAttributeValues={":read": {"N": str(state.version - 1)}},
                )
                return None
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _THROTTLED:
                    break  # ConditionalCheckFailed: a newer state is stored; this one must not replace it
            except BotoCoreError:
                break
        return state.user_key

    def _write_chunk(self, items: list[dict[str, Any]]) -> set[str]:
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
        return {r["PutRequest"]["Item"][KEY]["S"] for r in request[self.table]}


def create_table(dynamodb: Any, table_name: str) -> None:
    """The table the stack deploys (key ``user_key``, on demand), for tests and benchmarks on a bare emulator."""
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": settings.SESSION_TABLE_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": settings.SESSION_TABLE_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
