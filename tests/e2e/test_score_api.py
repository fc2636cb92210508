"""POST /score end to end on the local stack, with a real HTTP client against 127.0.0.1: records put on the stream,
the real consumer (through the local event source mapping) writes session state and flags, and the real score API
handler (behind the local function URL stand-in) answers from that state; then the same answers are checked
against what the consumer does with the same events."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from clickguard.consumer.batch import Deps, process_batch
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from clickguard.store.session_item import from_item
from tests.consumer_support import (
    SEQ0,
    FakeFlags,
    FakeModel,
    FakeRejected,
    FakeSessions,
    config,
    event_stream,
    make_model,
    to_records,
)
from tests.e2e.local_up import local_up

pytestmark = pytest.mark.e2e

MODEL = make_model()


def stream_stopping_at_first_flags() -> list[dict]:
    """The consumer tests' stream, with every user the consumer flags stopping right after its first flag (found with
    the consumer's own orchestrator on in-memory stores), so their stored state is the state they were flagged in."""
    events = event_stream()
    deps = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(MODEL))
    process_batch(to_records(events), deps, config())
    last: dict[str, int] = {}
    for flag in deps.flags.sent:
        position = (int(json.loads(flag.body)["source"]["sequence_number"]) - SEQ0) // 1000 - 1
        last.setdefault(flag.user_key, position)
    assert last, "the stream has users the consumer flags"
    return [e for i, e in enumerate(events) if i <= last.get(e["user_id"], i)]


def post(url: str, body: bytes | dict, method: str = "POST") -> tuple[int, dict, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=raw, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), {k.lower(): v for k, v in error.headers.items()}


def put(rt, payloads: list[dict]) -> None:
    kinesis = rt.client("kinesis")
    for i in range(0, len(payloads), 500):
        chunk = payloads[i : i + 500]
        records = [{"Data": json.dumps(p).encode(), "PartitionKey": p["user_id"]} for p in chunk]
        assert kinesis.put_records(StreamName=rt.handles.stream_name, Records=records)["FailedRecordCount"] == 0
    rt.drain()  # the local event source mapping delivers everything to the real consumer handler


def read_flags(rt) -> list[dict]:
    sqs, url = rt.client("sqs"), rt.handles.flag_queue_url
    out = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out.extend(json.loads(m["Body"]) for m in msgs)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )
    return out


def table_states(rt) -> dict:
    items = rt.client("dynamodb").scan(TableName=rt.handles.table_name, ConsistentRead=True)["Items"]
    return {s.user_key: s for s in map(from_item, items)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from clickguard.local.runtime import LocalRuntime

    with LocalRuntime(tmp_path_factory.mktemp("score-api") / "stack") as rt:
        artifact.publish(S3Store(rt.client("s3"), rt.handles.model_bucket), MODEL)  # where the trainer publishes
        time.sleep(rt.model_refresh_seconds + 0.2)  # the consumer and the API re-check models/latest.json this often
        put(rt, stream_stopping_at_first_flags())
        yield rt, read_flags(rt)


def test_every_users_answer_is_the_consumers_state_and_its_flags_fired_above_the_threshold(stack):
    rt, flags = stack
    states = table_states(rt)
    assert len(states) == 30 and flags
    last_flag = {f["user_key"]: f for f in sorted(flags, key=lambda f: int(f["source"]["sequence_number"]))}
    at_last_event = 0
    for user, state in states.items():
        status, answer, headers = post(rt.score_url, {"user_key": user})
        assert status == 200 and headers["content-type"] == "application/json"
        assert answer["model_version"] == MODEL.version and answer["started_from"]["state_version"] == state.version
        assert answer["session"]["events"] == state.session.transitions
        flag = last_flag.get(user)
        assert (state.last_flag is not None) == (flag is not None)
        if flag is None:
            continue
        assert answer["decision"]["last_flag"]["flag_id"] == flag["flag_id"] == state.last_flag.flag_id
        if flag["last_event_time"] == answer["session"]["last_event_time"]:  # it fired on the user's latest event
            at_last_event += 1
            assert answer["score"] == flag["score"] > answer["threshold"] == flag["threshold"]
            assert answer["reasons"] == flag["reasons"] and answer["signals"] == flag["signals"]
            assert answer["decision"]["fires"] and answer["decision"]["held_by"] == "cooldown"
    assert at_last_event == len(last_flag) >= 5  # every flagged user stopped right after their flag


def test_events_in_the_request_give_what_the_consumer_does_when_they_arrive(stack):
    rt, _ = stack
    user = "u1"  # browses, never flagged; the request adds a burst of failed logins
    before = table_states(rt)[user]
    assert before.last_flag is None
    start = before.session.last_ts_ms / 1000
    burst = [{"user_id": user, "event_type": "login", "outcome": "fail", "timestamp": start + i + 1} for i in range(6)]
    status, answer, _ = post(rt.score_url, {"user_key": user, "events": burst})
    assert status == 200 and answer["decision"]["would_flag"] and answer["events"]["applied"] == 6
    assert table_states(rt)[user] == before  # scored, never written
    put(rt, burst)  # now the same events come down the stream
    first = min((f for f in read_flags(rt) if f["user_key"] == user), key=lambda f: int(f["source"]["sequence_number"]))
    assert first["reasons"] == answer["decision"]["reasons"]
    status, now, _ = post(rt.score_url, {"user_key": user})
    assert now["score"] == answer["score"] and now["session"] == answer["session"]
    assert now["signals"] == answer["signals"] and now["top_transitions"] == answer["top_transitions"]


def test_a_user_with_no_state_gets_an_empty_score_and_why(stack):
    rt, _ = stack
    status, answer, _ = post(rt.score_url, {"user_key": "someone-new"})
    assert status == 200 and answer["score"] is None and answer["empty"]["reason"] == "no_state"


@pytest.mark.parametrize(
    ("path", "method", "body", "status", "reason"),
    [
        ("/score", "POST", b"{not json", 400, "bad_json"),
        ("/score", "POST", b'{"user_key": 7}', 400, "bad_user_key"),
        ("/score", "POST", json.dumps({"user_key": "u1", "events": [{}] * 501}).encode(), 400, "too_many_events"),
        ("/score", "POST", json.dumps({"user_key": "u1", "pad": "x" * 300_000}).encode(), 400, "body_too_large"),
        ("/score", "POST", b'{"user_key": "u1", "events": [{"user_id": "u2"}]}', 400, "bad_event"),
        ("/score", "GET", b"", 405, "method_not_allowed"),
        ("/predict_behavior", "POST", b'{"user_key": "u1"}', 404, "not_found"),
    ],
)
def test_refusals_over_http(stack, path, method, body, status, reason):
    rt, _ = stack
    url = rt.score_url.replace("/score", path)
    got, answer, headers = post(url, body, method)
    assert (got, answer["reason"]) == (status, reason) and answer["message"]
    assert (headers.get("allow") == "POST") == (status == 405)


def test_local_up_prints_the_score_url_and_serves_it(tmp_path):
    with local_up(tmp_path, 90) as banner:
        url = banner.score_url
        assert url.startswith("http://127.0.0.1:") and url.endswith("/score")
        assert json.loads((tmp_path / ".clickguard-local.json").read_text())["score_url"] == url
        status, answer, _ = post(url, {"user_key": "u1"})
        assert (status, answer["reason"]) == (503, "no_model")  # a fresh stack: nothing trained yet
