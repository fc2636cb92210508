"""Session state in DynamoDB: BatchGetItem (100 keys a call) and BatchWriteItem (25 items a call).

Reads are strongly consistent: the previous invocation on this shard may have written the item a moment ago, and
a stale read would re-apply records the guard should skip. Chunks run in the caller's thread pool, and a call
returns only when every chunk has finished: no write of this invocation can land after the next one's.
Unprocessed keys and items are retried with jittered backoff; what is still unprocessed is reported back as
failed user keys, never raised, so the orchestrator can checkpoint precisely.

Item layout (one per user, no personal data beyond the key)::

    user_key (S, partition key)   last_token, session_id, first_ts_ms, last_ts_ms, transitions, total_ubits (exact),
    total_bits, mean_bits (readable), top (S: JSON [[ubits, position, from, to] x3]), seqs {shard: 129-digit
    padded seq},
    recent_ids (B: 8-byte digests of the last event ids), last_flag {ts_ms, model_version, flag_id, reasons},
    expires_at (N, TTL), version (N: writes so far), and detector v2's session state: peak_mean_ubits (N),
    signals (S: the 12 accumulators of ``model.signals.SignalState``, comma-separated), tokens (S: JSON [[token,
    events, micro-bits], ...]), llr_ubits (N: the session's "blocked vs good" log-likelihood ratio, ``model.llr``),
    visits (S: the 3 accumulators of the user's rhythm across sessions, ``model.visits.VisitState``)

``top`` and ``tokens`` are one JSON string each, not DynamoDB lists and maps: a map costs one small dict per token
and number to build and to read back (about half of writing an item, measured), a string one C call. Items written
before hold them as a list and a map, and are read as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import fields
from operator import attrgetter
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.consumer.kinesis_event import pad_seq
from clickguard.consumer.state import ID_DIGEST_BYTES, LastFlag, UserState, id_digest
from clickguard.model.scoring import SessionState, TopTransition
from clickguard.model.signals import SignalState
from clickguard.model.visits import VisitState
from clickguard.store.bounded import InvocationBoundStore
from clickguard.store.retry import Backoff, chunks, run_all

GET_LIMIT = 100
WRITE_LIMIT = 25
KEY = settings.SESSION_TABLE_KEY
TTL = settings.SESSION_TABLE_TTL_ATTRIBUTE
VERSION = "version"  # writes so far: the conditional mode's guard
_encode = msgspec.json.encode
_decode = msgspec.json.Decoder(list[list[Any]]).decode
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def to_item(state: UserState) -> dict[str, Any]:
    item: dict[str, Any] = {
        KEY: {"S": state.user_key},
        "seqs": {"M": {shard: {"S": pad_seq(seq)} for shard, seq in state.seqs.items()}},
        TTL: _n(state.expires_at),
        VERSION: _n(state.version),
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
            top={"S": _json([(t.ubits, t.position, t.from_token, t.to_token) for t in s.top])},
            peak_mean_ubits=_n(s.peak_mean_ubits),
            llr_ubits=_n(s.llr_ubits),
            signals={"S": _pack_signals(s.signals)},
            tokens={"S": _json(s.tokens)},
            visits={"S": _pack(_VISIT_VALUES(s.visits))},
        )
        if s.session_id is not None:
            item["session_id"] = {"S": s.session_id}
    if state.recent_event_ids:
        item["recent_ids"] = {"B": b"".join(state.recent_event_ids)}
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
            top=_top(item.get("top", {})),
            # Items written before detector v2 lack these: the session's signals restart from its next event.
            peak_mean_ubits=int(item["peak_mean_ubits"]["N"]) if "peak_mean_ubits" in item else -1,
            signals=_unpack_signals(item["signals"]["S"]) if "signals" in item else SignalState(),
            tokens=_tokens(item),
            llr_ubits=int(item["llr_ubits"]["N"]) if "llr_ubits" in item else 0,
            # Items written before the visit rhythm lack it: it counts from the user's next session on.
            visits=VisitState(*_unpack(item["visits"]["S"], len(_VISIT_FIELDS))) if "visits" in item else VisitState(),
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
        recent_event_ids=_recent_ids(item),
        last_flag=last_flag,
        expires_at=int(item[TTL]["N"]) if TTL in item else 0,
        version=int(item[VERSION]["N"]) if VERSION in item else 0,
    )


def _json(rows: Sequence[tuple[Any, ...]]) -> str:
    return _encode(rows).decode()


def _top(attr: dict[str, Any]) -> tuple[TopTransition, ...]:
    if "S" in attr:
        return tuple(TopTransition(*row) for row in _decode(attr["S"]))
    return tuple(  # an item written before: a list of lists
        TopTransition(int(t["L"][0]["N"]), int(t["L"][1]["N"]), t["L"][2]["S"], t["L"][3]["S"])
        for t in attr.get("L", ())
    )


def _tokens(item: dict[str, Any]) -> tuple[tuple[str, int, int], ...]:
    attr = item.get("tokens", {})
    if "S" in attr:
        return tuple(sorted(map(tuple, _decode(attr["S"]))))
    stats = attr.get("M", {})  # an item written before: a map of [events, micro-bits]
    return tuple(sorted([(t, int(n["N"]), int(ub["N"])) for t, (n, ub) in ((t, v["L"]) for t, v in stats.items())]))


_SIGNAL_FIELDS = tuple(f.name for f in fields(SignalState))
_SIGNAL_VALUES = attrgetter(*_SIGNAL_FIELDS)
_VISIT_FIELDS = tuple(f.name for f in fields(VisitState))
_VISIT_VALUES = attrgetter(*_VISIT_FIELDS)


def _pack(values: tuple[int, ...]) -> str:
    """Integer accumulators as one short string: a fraction of a map's size."""
    return ",".join(map(str, values))


def _unpack(text: str, expected: int) -> list[int]:
    values = list(map(int, text.split(",")))
    if len(values) != expected:
        raise ValueError(f"an attribute holds {len(values)} values, expected {expected}")
    return values


def _pack_signals(signals: SignalState) -> str:
    """The session's 12 signal accumulators."""
    return _pack(_SIGNAL_VALUES(signals))


def _unpack_signals(text: str) -> SignalState:
    return SignalState(*_unpack(text, len(_SIGNAL_FIELDS)))


def _recent_ids(item: dict[str, Any]) -> tuple[bytes, ...]:
    if "recent_ids" in item:
        raw: bytes = item["recent_ids"]["B"]
        return tuple(raw[i : i + ID_DIGEST_BYTES] for i in range(0, len(raw), ID_DIGEST_BYTES))
    # Items written before ids were digested kept the last 32 ids as strings.
    return tuple(id_digest(e["S"]) for e in item.get("recent_event_ids", {}).get("L", ()))


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
                    ExpressionAttributeValues={":read": _n(state.version - 1)},
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
