"""Score API latency (issue 12 part 3): p50 / p99 in-process of ``POST /score`` beside a replaying baseline.

Same data, same process, same requests for every pair; the two answers' scores are checked equal before timing.

1. Handler logic with in-memory stores (no AWS): the Function URL event decoded, the body parsed, the user's stored
   state read, the request's events scored on top of it, the rule and its explanation, the answer encoded; for 0, 10
   and 100 events in the request. Baseline: a scorer without session state answers the same request by replaying
   the user's stored events (a history of H events, already decoded) and the request's with the reference
   ``apply_event``, checking the rule after every event as the consumer does (the score, and at a firing event its
   reasons and the cooldown against the last flag it found): the same answer, the score now and whether a flag would
   go out. Its cost grows with H; the API's does not.
2. Against moto: the real handler (Powertools logger, metrics and tracer, a BatchGetItem on moto's DynamoDB, the
   model from moto's S3) beside the baseline reading the user's events from a DynamoDB table (one Query, one item
   per event) and replaying them. moto's own cost is in both (see README, Benchmarks).

States are written by the consumer's own orchestrator from the same events; the model is the consumer benchmark's
(465 states, detector v2). Run: ``python -m bench.bench_score_api`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.bench_consumer import SHARD, STREAM_ARN, T0_MS, batch_lines, trained_model
from clickguard import settings
from clickguard.api.function_url import decode_event, encode_response, function_url_event
from clickguard.api.request import body_bytes, parse_request
from clickguard.api.service import Policy, ScoreService
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.config import ConsumerConfig
from clickguard.consumer.flagging import explain
from clickguard.consumer.kinesis_event import decode_event as decode_kinesis
from clickguard.consumer.kinesis_event import lambda_event
from clickguard.consumer.ports import ModelView
from clickguard.consumer.rule import allows
from clickguard.consumer.state import LastFlag, UserState
from clickguard.events import Event, parse_object
from clickguard.model import detector
from clickguard.model.live import reasons
from clickguard.model.model import Model
from clickguard.model.scoring import ScoringTable, SessionState, apply_event, score_state
from clickguard.model.signals import token_bit

TABLE, EVENTS_TABLE, BUCKET = "sessions", "events-by-user", "clickguard-bench"
COOLDOWN_MS = settings.DEFAULT_FLAG_COOLDOWN_SECONDS * 1000
# Request events per row -> requests timed for the API (the baseline gets fewer: it takes up to 2 s each, see main).
REQUEST_EVENTS = {0: 2000, 10: 2000, 100: 500, 500: 200}  # 500: the request's limit (MAX_EVENTS)
MOTO_REQUEST_EVENTS = {0: 300, 10: 300}


# --- data -----------------------------------------------------------------------------------------------------------
@dataclass
class World:
    model: Model
    table: ScoringTable
    states: dict[str, UserState]  # as the consumer stored them
    history: dict[str, list[dict[str, Any]]]  # every user's events, canonical JSON objects, in order


class MemorySessions:
    def __init__(self, items: dict[str, UserState] | None = None) -> None:
        self.items = dict(items or {})

    def get_many(self, user_keys: Sequence[str]) -> tuple[dict[str, UserState], set[str]]:
        return {u: self.items[u] for u in user_keys if u in self.items}, set()

    def put_many(self, states: Sequence[UserState]) -> set[str]:
        self.items.update((s.user_key, s) for s in states)
        return set()


class StaticModel:
    def __init__(self, model: Model, table: ScoringTable) -> None:
        self.view = ModelView(table, model, 0.0)

    def current(self) -> ModelView:
        return self.view


class NoFlags:
    def send(self, flags: Sequence[Any]) -> set[str]:
        return set()


class NoRejects:
    def put(self, entries: Sequence[Any]) -> None:
        return None


def _mask_bit_63(line: bytes) -> bool:
    """Whether the event's token sets bit 63 of the distinct-actions mask. ``model.signals.SignalColumns.of_states``
    converts every field through int64 before the mask's own uint64 column, so a state with that bit set raises
    OverflowError in ``score_state`` and ``explain`` (reported; not this benchmark's to fix): left out of the data."""
    obj = json.loads(line)
    return token_bit(obj["event_type"] + ("#fail" if obj.get("outcome") == "fail" else "")) == 63


def build_world(model: Model, n_users: int, history: int) -> World:
    """``n_users`` users with about ``history`` events each, through the consumer's orchestrator into memory."""
    lines = [line for line in batch_lines(n_users * history, n_users, seed=3) if not _mask_bit_63(line)]
    got = [
        {"Data": line, "PartitionKey": json.loads(line)["user_id"], "SequenceNumber": str(10**20 + i),
         "ApproximateArrivalTimestamp": T0_MS / 1000 + 86_400}
        for i, line in enumerate(lines)
    ]  # fmt: skip
    table = detector.scoring_table(model)
    sessions = MemorySessions()
    deps = Deps(sessions, NoFlags(), NoRejects(), StaticModel(model, table))
    config = ConsumerConfig(table_name=TABLE, flag_queue_url="q", data_bucket=BUCKET, model_bucket=BUCKET)
    process_batch(decode_kinesis(lambda_event(got, SHARD, STREAM_ARN)), deps, config)
    per_user: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        obj = json.loads(line)
        per_user.setdefault(obj["user_id"], []).append(obj)
    return World(model, table, sessions.items, per_user)


def request_events(world: World, user: str, k: int) -> list[dict[str, Any]]:
    """``k`` events after the user's latest: the user's own last ``k`` actions again (cycled when ``k`` is more
    than the history), a second apart."""
    events = world.history[user]
    last_s = events[-1]["timestamp"]
    source = (events * (k // len(events) + 1))[-k:] if k else []
    return [{**e, "timestamp": round(last_s + i + 1, 3)} for i, e in enumerate(source)]


def url_event(user: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"user_key": user, "events": events} if events else {"user_key": user}
    return function_url_event("POST", "/score", json.dumps(body).encode(), {"content-type": "application/json"})


# --- the two answers --------------------------------------------------------------------------------------------------
Answer = tuple[float | None, bool]  # the score, and whether a flag would go out


def api_answer(service: ScoreService, now_ms: int) -> Callable[[dict[str, Any]], Answer]:
    def answer(event: dict[str, Any]) -> Answer:
        body = json.loads(encode_response(service.handle(decode_event(event), now_ms).response)["body"])
        return body["score"], body["decision"]["would_flag"]

    return answer


def replay_answer(table: ScoringTable, gap_ms: int, stored: Callable[[str], list[Event]]) -> Callable[..., Answer]:
    """The baseline: no session state. The user's stored events, then the request's, replayed one by one with the
    reference ``apply_event``, the rule checked after each (score, and at a firing event its reasons and the
    cooldown against the last flag the replay itself found), as a stateless scorer must to answer the same
    question: the score now, and would a flag go out."""
    assert table.scorer is not None
    threshold = table.scorer.threshold

    def answer(event: dict[str, Any]) -> Answer:
        request = decode_event(event)
        parsed = parse_request(body_bytes(request.body, request.is_base64))
        history = stored(parsed.user_key)
        state: SessionState | None = None
        last: LastFlag | None = None
        would_flag = False
        for i, ev in enumerate([*history, *parsed.events]):
            state, _ = apply_event(state, ev.token, ev.ts_ms, ev.session_id, table, gap_ms)
            if score_state(state, table) > threshold:
                why = reasons(explain(state, table))
                if allows(last, why, state.last_ts_ms, COOLDOWN_MS):
                    last = LastFlag(state.last_ts_ms, "", "", why)
                    would_flag = would_flag or i >= len(history)
        if state is None:
            return None, False
        score = score_state(state, table)
        body = {"score": round(score, 6) if np.isfinite(score) else None, "would_flag": would_flag}
        decoded = json.loads(json.dumps(body))
        return decoded["score"], decoded["would_flag"]

    return answer


def timed(answer: Callable[[dict[str, Any]], Any], events: list[dict[str, Any]]) -> np.ndarray:
    out = np.empty(len(events))
    for i, event in enumerate(events):
        t0 = time.perf_counter()
        answer(event)
        out[i] = time.perf_counter() - t0
    return out * 1000


def same_answers(ours: Callable[..., Answer], theirs: Callable[..., Answer], events: list[dict[str, Any]]) -> int:
    """Both answers equal on these requests; returns how many would flag (the rule is exercised, not idle)."""
    flagged = 0
    for event in events:
        a, b = ours(event), theirs(event)
        assert a == b, f"the answers differ: {a} against {b}"
        flagged += a[1]
    return flagged


def row(label: str, ms: np.ndarray, base: np.ndarray) -> str:
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    b50, b99 = np.percentile(base, 50), np.percentile(base, 99)
    return (
        f"| {label} | {p50:.2f} / {p99:.2f} ms (n={len(ms)}) | {b50:.2f} / {b99:.2f} ms (n={len(base)}) "
        f"| {b99 / p99:.1f}x at p99 |"
    )


def scaled(counts: dict[int, int], share: float) -> dict[int, int]:
    return {k: max(10, int(n * share)) for k, n in counts.items()}


# --- 1. with in-memory stores -----------------------------------------------------------------------------------------
def bench_fakes(world: World, counts: dict[int, int], baseline_n: int, rng: random.Random, history: int) -> list[str]:
    users = sorted(world.states)
    service = ScoreService(MemorySessions(world.states), StaticModel(world.model, world.table), Policy(COOLDOWN_MS))
    now_ms = T0_MS + 2 * 86_400_000
    decoded = {u: [parse_object(e) for e in world.history[u]] for u in users}
    ours = api_answer(service, now_ms)
    theirs = replay_answer(world.table, world.model.params.gap_ms, decoded.__getitem__)
    lines = []
    for k, n in counts.items():
        events = [url_event(u, request_events(world, u, k)) for u in (rng.choice(users) for _ in range(n))]
        checked = min(20, n)
        flagged = same_answers(ours, theirs, events[:checked])  # also the warm-up
        label = f"in memory, history {history}, {k} request events ({flagged} of {checked} checked would flag)"
        lines.append(row(label, timed(ours, events), timed(theirs, events[:baseline_n])))
    return lines


# --- 2. against moto --------------------------------------------------------------------------------------------------
class Ctx:
    function_name, memory_limit_in_mb, aws_request_id = "score-api", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:score-api"


def _events_table(ddb: Any, world: World) -> None:
    ddb.create_table(
        TableName=EVENTS_TABLE,
        KeySchema=[{"AttributeName": "user_key", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "user_key", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    items = [
        {"user_key": {"S": u}, "n": {"N": str(i)}, "event": {"S": json.dumps(e)}}
        for u, events in world.history.items()
        for i, e in enumerate(events)
    ]
    for i in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={EVENTS_TABLE: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]})


def _query_events(ddb: Any) -> Callable[[str], list[Event]]:
    def stored(user: str) -> list[Event]:
        out, kwargs = [], {}
        while True:
            resp = ddb.query(
                TableName=EVENTS_TABLE,
                KeyConditionExpression="user_key = :u",
                ExpressionAttributeValues={":u": {"S": user}},
                ConsistentRead=True,
                **kwargs,
            )
            out.extend(parse_object(json.loads(it["event"]["S"])) for it in resp["Items"])
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs = {"ExclusiveStartKey": resp["LastEvaluatedKey"]}

    return stored


def bench_moto(world: World, counts: dict[int, int], baseline_n: int, rng: random.Random, history: int) -> list[str]:
    import boto3
    from moto import mock_aws

    from clickguard.model import artifact
    from clickguard.store.blobs import S3Store
    from clickguard.store.sessions import DynamoSessionStore, create_table

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, TABLE)
        assert not DynamoSessionStore(ddb, TABLE).put_many(list(world.states.values()))
        _events_table(ddb, world)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        artifact.publish(S3Store(s3, BUCKET), world.model)
        os.environ.update(
            {
                settings.ENV_TABLE_NAME: TABLE,
                settings.ENV_MODEL_BUCKET: BUCKET,
                "POWERTOOLS_TRACE_DISABLED": "1",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        sys.modules.pop("lambdas.score_api.handler", None)
        with contextlib.redirect_stdout(io.StringIO()):
            handler = importlib.import_module("lambdas.score_api.handler")
        sink = open(os.devnull, "w")  # noqa: SIM115 - the handler's logs and EMF metrics, one line each per request

        def ours(event: dict[str, Any]) -> Answer:
            with contextlib.redirect_stdout(sink):
                response = handler.lambda_handler(event, Ctx())
            body = json.loads(response["body"])
            return body["score"], body["decision"]["would_flag"]

        theirs = replay_answer(world.table, world.model.params.gap_ms, _query_events(ddb))
        users = sorted(world.states)
        lines = []
        for k, n in counts.items():
            events = [url_event(u, request_events(world, u, k)) for u in (rng.choice(users) for _ in range(n))]
            checked = min(20, n)
            flagged = same_answers(ours, theirs, events[:checked])
            label = f"against moto, history {history}, {k} request events ({flagged} of {checked} would flag)"
            lines.append(row(label, timed(ours, events), timed(theirs, events[:baseline_n])))
        sink.close()
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer users and requests")
    args = ap.parse_args(argv)
    rng = random.Random(7)
    share = 0.05 if args.quick else 1.0
    model = trained_model()
    print(f"model {model.version}: {len(model.tokens)} states; p50 / p99 per request (n requests timed); baseline = a "
          "scorer without session state replaying the user's stored events, same answer")  # fmt: skip
    print("| request | clickguard score API | baseline | ratio |")
    print("|---|---|---|---|")
    # users, history per user, baseline requests timed in memory and against moto (it takes up to 2 s a request)
    for n_users, history, base_n, base_moto in ((200, 100, 200, 50), (20, 1000, 50, 20)):
        world = build_world(model, n_users if not args.quick else 20, history)
        fakes = bench_fakes(world, scaled(REQUEST_EVENTS, share), max(10, int(base_n * share)), rng, history)
        moto = bench_moto(world, scaled(MOTO_REQUEST_EVENTS, share), max(10, int(base_moto * share)), rng, history)
        print("\n".join([*fakes, *moto]), flush=True)


if __name__ == "__main__":
    main()
