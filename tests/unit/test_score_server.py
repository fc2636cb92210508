"""The local function URL stand-in plays Lambda's part: the 2.0 event in, the response out, the reserved concurrency
as a 429 throttle, 413 past the payload limit, 502 when the handler raises. A fake handler stands in for the API."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from clickguard.api.function_url import decode_event
from clickguard.local.score_server import MAX_PAYLOAD_BYTES, ScoreServer


class Recording:
    """Answers with what it was invoked with; ``gate`` holds invocations until it is set."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.gate = threading.Event()
        self.gate.set()
        self.inside = threading.Semaphore(0)

    def __call__(self, event, context):
        self.events.append(event)
        self.inside.release()
        self.gate.wait(10)
        if event.get("rawPath") == "/boom":
            raise RuntimeError("a bug")
        request = decode_event(event)
        body = {
            "method": request.method,
            "path": request.path,
            "body": request.body,
            "ms": context.get_remaining_time_in_millis(),
        }
        return {"statusCode": 201, "headers": {"x-seen": "1"}, "body": json.dumps(body), "isBase64Encoded": False}


@pytest.fixture
def served():
    handler = Recording()
    server = ScoreServer(handler, reserved_concurrency=2, timeout_s=10).start()
    yield server, handler
    handler.gate.set()
    server.stop()


def call(server: ScoreServer, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    conn.request(method, path, body=body, headers=headers or {"content-type": "application/json"})
    response = conn.getresponse()
    out = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return out


def test_a_request_reaches_the_handler_as_a_function_url_event_and_its_answer_comes_back(served):
    server, handler = served
    status, headers, body = call(server, "POST", "/score?x=1", b'{"user_key": "u1"}')
    assert status == 201 and headers["x-seen"] == "1"
    answer = json.loads(body)
    assert answer["method"] == "POST" and answer["path"] == "/score" and answer["body"] == '{"user_key": "u1"}'
    assert 0 < answer["ms"] <= 10_000  # the function's timeout, as the context reports it
    (event,) = handler.events
    assert event["version"] == "2.0" and event["rawQueryString"] == "x=1"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/score"


def test_more_requests_at_once_than_the_reserved_concurrency_are_throttled_with_429(served):
    server, handler = served
    handler.gate.clear()
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(call(server, "POST", "/score", b"{}")[0])) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for _ in threads:
        assert handler.inside.acquire(timeout=10)  # both slots taken, the handler holding them
    status, _, body = call(server, "POST", "/score", b"{}")
    assert status == 429 and json.loads(body) == {"Message": "Rate Exceeded."}
    handler.gate.set()
    for t in threads:
        t.join(10)
    assert results == [201, 201] and server.throttled == 1 and server.invocations == 2
    assert call(server, "POST", "/score", b"{}")[0] == 201  # slots come back


def test_a_handler_exception_is_a_502_as_lambda_answers_it(served):
    server, _ = served
    status, _, body = call(server, "POST", "/boom", b"{}")
    assert status == 502 and json.loads(body) == {"Message": "Internal Server Error"} and server.errors == 1


def test_a_body_past_lambdas_payload_limit_is_refused_unread(served):
    server, handler = served
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    conn.putrequest("POST", "/score")
    conn.putheader("content-length", str(MAX_PAYLOAD_BYTES + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and not handler.events
    conn.close()


def test_a_head_request_gets_headers_only(served):
    server, _ = served
    status, headers, body = call(server, "HEAD", "/score")
    assert status == 201 and body == b"" and int(headers["content-length"]) > 0
