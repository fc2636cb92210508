"""The score API Lambda on moto: the consumer Lambda writes session state to DynamoDB from a Kinesis batch, a model
(and the reviewers' allow-list) sits in S3, and the score handler answers Function URL events from them, read-only."""

from __future__ import annotations

import base64
import importlib
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import pytest

from clickguard import settings
from clickguard.api.function_url import function_url_event
from clickguard.consumer.kinesis_event import lambda_event
from clickguard.model import artifact, detector
from clickguard.model.scoring import score_state
from clickguard.review import allowlist
from clickguard.review.decision import Verdict, for_flag
from clickguard.store.allowlist import S3AllowListStore
from clickguard.store.blobs import S3Store
from clickguard.store.session_item import from_item
from clickguard.store.sessions import create_table
from tests.consumer_support import SEQ0, SHARD, event_stream, make_model

TABLE, BUCKET = "sessions", "clickguard-models"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"
MODEL = make_model()
THRESHOLD = detector.scoring_table(MODEL).scorer.threshold


@dataclass
class Ctx:
    function_name: str = "fn"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id: str = "req-1"


@pytest.fixture
def world(aws, monkeypatch):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(ddb, TABLE)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="flags")["QueueUrl"]
    for name, value in {
        settings.ENV_TABLE_NAME: TABLE,
        settings.ENV_FLAG_QUEUE_URL: queue,
        settings.ENV_DATA_BUCKET: BUCKET,
        settings.ENV_MODEL_BUCKET: BUCKET,
        settings.ENV_MODEL_REFRESH_SECONDS: "0",
    }.items():
        monkeypatch.setenv(name, value)
    return ddb, s3


def load(module: str):
    sys.modules.pop(module, None)
    return importlib.import_module(module)


def consume(payloads: list[dict], first: int = 0) -> None:
    """The real consumer handler on one Kinesis batch (the event source mapping's shape), sequence numbers from
    position ``first`` of the shard on."""
    records = [
        {
            "Data": json.dumps(p).encode(),
            "PartitionKey": p["user_id"],
            "SequenceNumber": str(SEQ0 + 1000 * (first + i + 1)),
            "ApproximateArrivalTimestamp": datetime.fromtimestamp(p["timestamp"] + 0.5, tz=UTC),
        }
        for i, p in enumerate(payloads)
    ]
    consumer = load("lambdas.consumer.handler")
    try:
        assert consumer.lambda_handler(lambda_event(records, SHARD, STREAM_ARN), Ctx()) == {"batchItemFailures": []}
    finally:
        consumer.POOL.shutdown()


def post(handler, body: bytes | dict, path: str = "/score", method: str = "POST", content_type="application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event = function_url_event(method, path, raw, {"content-type": content_type})
    response = handler.lambda_handler(event, Ctx())
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def snapshot(ddb, s3) -> tuple:
    items = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(json.dumps(i, sort_keys=True, default=str) for i in items), sorted(
        (o["Key"], o["ETag"]) for o in objects
    )


@pytest.fixture
def stored(world):
    """Day traffic through the consumer, then a published model's second pass: the table holds scored states."""
    _, s3 = world
    artifact.publish(S3Store(s3, BUCKET), MODEL)
    consume(event_stream())
    return world


def table_states(ddb):
    return {s.user_key: s for s in map(from_item, ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"])}


def test_each_users_score_is_the_one_its_stored_state_gives_and_nothing_is_written(stored, capsys):
    ddb, s3 = stored
    states = table_states(ddb)
    before = snapshot(ddb, s3)
    handler = load("lambdas.score_api.handler")
    table = detector.scoring_table(MODEL)
    flagged_above = 0
    for user, state in states.items():
        status, answer, headers = post(handler, {"user_key": user})
        assert status == 200 and headers["content-type"] == "application/json"
        score = score_state(state.session, table)
        assert answer["score"] == round(score, 6) and answer["model_version"] == MODEL.version
        assert answer["started_from"]["state_version"] == state.version
        assert answer["decision"]["fires"] == (score > THRESHOLD)
        if state.last_flag is not None and answer["decision"]["fires"]:  # the consumer flagged this session
            flagged_above += 1
            assert answer["decision"]["held_by"] == "cooldown"
            assert answer["decision"]["last_flag"]["flag_id"] == state.last_flag.flag_id
    assert flagged_above >= 1
    assert snapshot(ddb, s3) == before  # read-only: no item, no object changed
    out = capsys.readouterr().out
    assert '"ScoreRequests":[1.0]' in out and '"ScoreLatency"' in out
    assert not [u for u in states if f'"{u}"' in out], "a user key reached the logs"


def test_the_requests_events_on_top_of_the_stored_state_equal_the_consumer_reading_them_next(stored):
    ddb, _ = stored
    user = "u1"  # never flagged: its failed logins in the request make it fire
    last = table_states(ddb)[user].session
    more = [
        {
            "user_id": user,
            "event_type": "login",
            "outcome": "fail",
            "timestamp": (last.last_ts_ms + 1000 * (i + 1)) / 1000,
        }
        for i in range(6)
    ]
    handler = load("lambdas.score_api.handler")
    status, answer, _ = post(handler, {"user_key": user, "events": more})
    assert status == 200 and answer["decision"]["would_flag"] and answer["events"]["applied"] == 6
    consume(more, first=len(event_stream()))  # the same events, next on the stream
    after = table_states(ddb)[user]
    assert answer["score"] == round(score_state(after.session, detector.scoring_table(MODEL)), 6)
    assert answer["session"]["events"] == after.session.transitions
    first = min(queue_flags(user), key=lambda f: int(f["source"]["sequence_number"]))
    assert first["reasons"] == answer["decision"]["reasons"] and first["score"] > first["threshold"]
    assert int(first["source"]["sequence_number"]) == SEQ0 + 1000 * (
        len(event_stream()) + answer["decision"]["flag_event"] + 1
    )


def queue_flags(user: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="flags")["QueueUrl"]
    out = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out.extend(json.loads(m["Body"]) for m in msgs)
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [f for f in out if f["user_key"] == user]


def test_an_allowed_user_is_held_by_the_allow_list_read_from_s3(stored):
    _, s3 = stored
    user = "new-user"  # no stored state: the request's events alone make it fire, no cooldown in the way
    events = [{**e, "user_id": user} for e in event_stream() if e["user_id"] == "u9"]
    handler = load("lambdas.score_api.handler")
    status, before, _ = post(handler, {"user_key": user, "events": events})
    assert status == 200 and before["decision"]["would_flag"] and before["decision"]["allowed"] is None
    # a reviewer allowed a flag with every reason there is, ten times as strong: nothing this user does is stronger
    flag = {"schema_version": 2, "flag_id": "f-1", "user_key": user, "reasons": list(detector.FEATURES),
            "score": THRESHOLD * 10, "threshold": THRESHOLD, "model_version": MODEL.version,
            "flagged_at": "2025-11-21T00:00:00.000Z"}  # fmt: skip
    decided = for_flag(flag, Verdict.ALLOW, "known bulk buyer", "alice", 1_763_690_000_000)
    allow = allowlist.apply(allowlist.AllowList(), [decided], days=30, margin=0.0, now_ms=1_763_690_000_000)
    S3AllowListStore(s3, BUCKET).write(allow, None)
    status, after, _ = post(handler, {"user_key": user, "events": events})  # re-checked (refresh 0 s here)
    assert status == 200 and after["score"] == before["score"]
    assert after["decision"]["fires"] and not after["decision"]["would_flag"]
    assert after["decision"]["held_by"] == "allow_list" and after["decision"]["allowed"]["flag_id"] == "f-1"


def test_no_model_is_a_503_until_one_is_published(world):
    _, s3 = world
    handler = load("lambdas.score_api.handler")
    status, answer, _ = post(handler, {"user_key": "u1"})
    assert (status, answer["reason"]) == (503, "no_model")
    artifact.publish(S3Store(s3, BUCKET), MODEL)  # picked up on the next request (refresh 0 s here)
    status, answer, _ = post(handler, {"user_key": "u1"})
    assert status == 200 and answer["empty"]["reason"] == "no_state" and answer["score"] is None


def test_refusals_through_the_handler(stored, capsys):
    handler = load("lambdas.score_api.handler")
    status, answer, _ = post(handler, b"{nope")
    assert (status, answer["reason"]) == (400, "bad_json") and "not valid JSON" in answer["message"]
    status, answer, headers = post(handler, {"user_key": "u1"}, method="GET")
    assert (status, answer["reason"], headers["allow"]) == (405, "method_not_allowed", "POST")
    assert post(handler, {"user_key": "u1"}, path="/predict_behavior")[0] == 404
    status, answer, _ = post(handler, {"user_key": "u1", "events": [{"user_id": "u2"}]})
    assert (status, answer["reason"]) == (400, "bad_event")
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    per_reason = [d for d in docs if "reason" in d]  # one EMF document per refusal, with its reason as a dimension
    assert [(d["reason"], d["ScoreRefused"]) for d in per_reason] == [
        ("bad_json", [1.0]),
        ("method_not_allowed", [1.0]),
        ("not_found", [1.0]),
        ("bad_event", [1.0]),
    ]


def test_a_binary_content_type_arrives_base64_encoded_and_is_scored(stored):
    handler = load("lambdas.score_api.handler")
    event = function_url_event("POST", "/score", b'{"user_key": "u3"}', {"content-type": "application/octet-stream"})
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b'{"user_key": "u3"}'
    response = handler.lambda_handler(event, Ctx())
    assert response["statusCode"] == 200 and json.loads(response["body"])["user_key"] == "u3"
