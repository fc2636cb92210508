"""Session state in DynamoDB: BatchGetItem (100 keys a call) and BatchWriteItem (25 items a call).

Reads are strongly consistent: the previous invocation on this shard may have written the item a moment ago, and
a stale read would re-apply records the guard should skip. Chunks run in the caller's thread pool.
Unprocessed keys and items are retried with jittered backoff; what is still unprocessed is reported back as
failed user keys, never raised, so the orchestrator can checkpoint precisely.

Item layout (one per user, no personal data beyond the key)::

    user_key (S, partition key)   last_token, session_id, first_ts_ms, last_ts_ms, transitions, total_ubits (exact),
    total_bits, mean_bits (readable), top [[ubits, position, from, to] x3], seqs {shard: 129-digit padded seq},
    recent_event_ids [..], last_flag {ts_ms, model_version, flag_id, reasons}, expires_at (N, TTL)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.consumer.kinesis_event import pad_seq
from clickguard.consumer.state import LastFlag, UserState
from clickguard.model.scoring import SessionState, TopTransition
from clickguard.store.retry import Backoff, chunks

GET_LIMIT = 100
WRITE_LIMIT = 25
KEY = settings.SESSION_TABLE_KEY
TTL = settings.SESSION_TABLE_TTL_ATTRIBUTE


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def to_item(state: UserState) -> dict[str, Any]:
    item: dict[str, Any] = {
        KEY: {"S": state.user_key},
        "seqs": {"M": {shard: {"S": pad_seq(seq)} for shard, seq in state.seqs.items()}},
        TTL: _n(state.expires_at),
    }
    s = state.session
    if s is not None:
        item.update(
            last_token={"S": s.last_token},
            first_ts_ms=_n(s.first_ts_ms),
            last_ts_ms=_n(s.last_ts_ms),
            transitions=_n(s.transitions),
            total_ubits=_n(s.total_ubits),
            total_bits={"N": f"{s.total_bits:.6f}"},
            mean_bits={"N": f"{s.mean_bits:.6f}"},
            top={"L": [{"L": [_n(t.ubits), _n(t.position), {"S": t.from_token}, {"S": t.to_token}]} for t in s.top]},
        )
        if s.session_id is not None:
            item["session_id"] = {"S": s.session_id}
    if state.recent_event_ids:
        item["recent_event_ids"] = {"L": [{"S": e} for e in state.recent_event_ids]}
    f = state.last_flag
    if f is not None:
        item["last_flag"] = {
            "M": {
                "ts_ms": _n(f.ts_ms),
                "model_version": {"S": f.model_version},
                "flag_id": {"S": f.flag_id},
                "reasons": {"L": [{"S": r} for r in f.reasons]},
            }
        }
    return item


def from_item(item: dict[str, Any]) -> UserState:
    session = None
    if "last_token" in item:
        session = SessionState(
            session_id=item["session_id"]["S"] if "session_id" in item else None,
            last_token=item["last_token"]["S"],
            first_ts_ms=int(item["first_ts_ms"]["N"]),
            last_ts_ms=int(item["last_ts_ms"]["N"]),
            transitions=int(item["transitions"]["N"]),
            total_ubits=int(item["total_ubits"]["N"]),
            top=tuple(
                TopTransition(int(t["L"][0]["N"]), int(t["L"][1]["N"]), t["L"][2]["S"], t["L"][3]["S"])
                for t in item.get("top", {}).get("L", ())
            ),
        )
    last_flag = None
    if "last_flag" in item:
        m = item["last_flag"]["M"]
        last_flag = LastFlag(
            int(m["ts_ms"]["N"]),
            m["model_version"]["S"],
            m["flag_id"]["S"],
            tuple(r["S"] for r in m["reasons"]["L"]),
        )
    return UserState(
        user_key=item[KEY]["S"],
        session=session,
        seqs={shard: int(v["S"]) for shard, v in item.get("seqs", {}).get("M", {}).items()},
        recent_event_ids=tuple(e["S"] for e in item.get("recent_event_ids", {}).get("L", ())),
        last_flag=last_flag,
        expires_at=int(item[TTL]["N"]) if TTL in item else 0,
    )


class DynamoSessionStore:
    def __init__(
        self, client: Any, table: str, executor: Executor | None = None, backoff: Backoff | None = None
    ) -> None:
        self.client = client
        self.table = table
        self.executor = executor
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self.get_calls = 0
        self.write_calls = 0

    def _map(self, fn: Any, parts: list) -> list:
        if self.executor is None or len(parts) < 2:
            return [fn(p) for p in parts]
        return list(self.executor.map(fn, parts))

    def _count(self, attr: str) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + 1)

    def get_many(self, user_keys: Sequence[str]) -> tuple[dict[str, UserState], set[str]]:
        found: dict[str, UserState] = {}
        failed: set[str] = set()
        for items, missing in self._map(self._get_chunk, chunks(list(user_keys), GET_LIMIT)):
            for item in items:
                state = from_item(item)
                found[state.user_key] = state
            failed |= missing
        return found, failed

    def _get_chunk(self, keys: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        request = {self.table: {"Keys": [{KEY: {"S": k}} for k in keys], "ConsistentRead": True}}
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
        for missing in self._map(self._write_chunk, chunks([to_item(s) for s in states], WRITE_LIMIT)):
            failed |= missing
        return failed

    def _write_chunk(self, items: list[dict[str, Any]]) -> set[str]:
        request = {self.table: [{"PutRequest": {"Item": item}} for item in items]}
        for _ in self.backoff.pauses():
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
