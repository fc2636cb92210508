"""The local function URL stand-in at the HTTP level: how a request's body is framed (Content-Length, chunked), how
long a client may take to send it, and how many connections may wait to be answered. Raw sockets, so the requests
can be as malformed or as slow as a client makes them; a stub handler echoes the body it was invoked with."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from clickguard.local import score_server
from clickguard.local.score_server import ScoreServer

SHORT_TIMEOUT_S = 0.3  # the read timeout of the timeout tests; a client waits far longer for the answer
WAIT_S = 10.0


class Echo:
    """Answers 200 with the body it was invoked with; ``gate`` holds invocations until it is set."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        body = event.get("body") or ""
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        self.bodies.append(raw)
        self.gate.wait(WAIT_S)
        return {"statusCode": 200, "body": json.dumps({"body": raw.decode()}), "isBase64Encoded": False}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ScoreServer, ScoreServer, Echo]]:
    """Two servers for the module (stopping one waits out its accept loop's poll): the default read timeout and
    a short one, both in front of one echo."""
    echo = Echo()
    served = ScoreServer(echo, reserved_concurrency=2).start()
    impatient = ScoreServer(echo, reserved_concurrency=2, read_timeout_s=SHORT_TIMEOUT_S).start()
    yield served, impatient, echo
    served.stop()
    impatient.stop()


@pytest.fixture
def echo(servers: tuple[ScoreServer, ScoreServer, Echo]) -> Echo:
    servers[2].bodies.clear()
    return servers[2]


@pytest.fixture
def served(servers: tuple[ScoreServer, ScoreServer, Echo], echo: Echo) -> ScoreServer:
    return servers[0]


@pytest.fixture
def impatient(servers: tuple[ScoreServer, ScoreServer, Echo], echo: Echo) -> ScoreServer:
    return servers[1]


def connect(server: ScoreServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def head(lines: str) -> bytes:
    """A request's head: its lines (``\\n``-separated here) with CRLFs and the blank line that ends it."""
    return lines.replace("\n", "\r\n").encode() + b"\r\n\r\n"


def exchange(server: ScoreServer, lines: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One raw request and its answer."""
    with connect(server) as sock:
        sock.sendall(head(lines) + body)
        return answer(sock)


def closed_by_server(sock: socket.socket) -> bool:
    """The server closed the connection: its handler thread has returned (the socket is shut after it)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def refusal(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """An error in the API's shape (``{"reason", "message"}``) that closes the connection: (status, reason)."""
    payload = json.loads(body)
    assert set(payload) == {"reason", "message"} and payload["message"]
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    return status, payload["reason"]


POST = "POST /score HTTP/1.1\nHost: x\nContent-Type: application/json"
# A refused request is sent no further than the point of refusal: bytes left unread when the server closes make
# its kernel reset the connection, which can drop the answer before the client reads it.


@pytest.mark.parametrize("value", ["-5", "abc", "+5", "5_0", "0x10", "1 2", "", "٣"])
def test_a_content_length_that_is_not_a_count_of_bytes_is_a_400_bad_content_length(served, echo, value):
    reply = exchange(served, f"{POST}\nContent-Length: {value}")
    assert refusal(*reply) == (400, "bad_content_length") and not echo.bodies


def test_two_different_content_lengths_are_a_400_bad_content_length(served, echo):
    reply = exchange(served, f"{POST}\nContent-Length: 2\nContent-Length: 3")
    assert refusal(*reply) == (400, "bad_content_length") and not echo.bodies


def test_a_content_length_too_long_to_be_a_number_is_past_the_payload_limit(served, echo):
    status, _, body = exchange(served, f"{POST}\nContent-Length: {'9' * 5000}")
    assert status == 413 and "Message" in json.loads(body) and not echo.bodies


def test_a_chunked_body_is_decoded_with_extensions_and_trailers_and_the_connection_stays_usable(served, echo):
    chunked = b'9;ext=1\r\n{"user_ke\r\n9\r\ny": "u1"}\r\n0\r\nX-Trailer: t\r\n\r\n'
    with connect(served) as sock:
        sock.sendall(head(f"{POST}\nTransfer-Encoding: chunked") + chunked)
        first = answer(sock)
        sock.sendall(head(f"{POST}\nContent-Length: 2") + b"{}")
        second = answer(sock)
    assert first[0] == 200 and json.loads(first[2]) == {"body": '{"user_key": "u1"}'}
    assert second[0] == 200 and echo.bodies == [b'{"user_key": "u1"}', b"{}"]


def test_http_client_sends_an_iterable_body_chunked_and_the_handler_gets_it_whole(served, echo):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=WAIT_S)
    conn.request(
        "POST", "/score", body=iter([b'{"user_key":', b' "u2"}']), headers={"content-type": "application/json"}
    )
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read()) == {"body": '{"user_key": "u2"}'}
    conn.close()
    assert echo.bodies == [b'{"user_key": "u2"}']


def test_a_chunked_body_is_held_to_the_same_payload_limit_as_a_content_length_one(served, echo, monkeypatch):
    monkeypatch.setattr(score_server, "MAX_PAYLOAD_BYTES", 16)
    over = exchange(served, f"{POST}\nTransfer-Encoding: chunked", b"a\r\n" + b"x" * 10 + b"\r\na\r\n")
    declared = exchange(served, f"{POST}\nTransfer-Encoding: chunked", b"%x\r\n" % (16 + 1))
    by_length = exchange(served, f"{POST}\nContent-Length: 17")
    exactly = exchange(served, f"{POST}\nTransfer-Encoding: chunked", b"10\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n")
    assert [over[0], declared[0], by_length[0], exactly[0]] == [413, 413, 413, 200]
    assert over[1]["connection"] == "close" and json.loads(over[2]) == json.loads(by_length[2])
    assert echo.bodies == [b"z" * 16]


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\n", b"-2\r\n", b"2\r\n{}XX", b"\r\n", b"2 2\r\n", b"0\r\n" + b"X: y\r\n" * 101],
    ids=["not_hex", "negative", "no_crlf_after_data", "empty_size_line", "space_in_size", "101_trailers"],
)
def test_a_chunked_body_with_broken_framing_is_a_400_bad_chunked_body(served, echo, chunks):
    reply = exchange(served, f"{POST}\nTransfer-Encoding: chunked", chunks)
    assert refusal(*reply) == (400, "bad_chunked_body") and not echo.bodies


def test_transfer_encoding_and_content_length_together_are_refused_as_ambiguous_framing(served, echo):
    reply = exchange(served, f"{POST}\nTransfer-Encoding: chunked\nContent-Length: 2")
    assert refusal(*reply) == (400, "bad_content_length") and not echo.bodies


def test_a_transfer_coding_other_than_chunked_is_a_501(served, echo):
    reply = exchange(served, f"{POST}\nTransfer-Encoding: gzip, chunked")
    assert refusal(*reply) == (501, "unsupported_transfer_encoding") and not echo.bodies


def test_a_body_shorter_than_its_content_length_is_a_400_once_the_client_stops_sending(served, echo):
    with connect(served) as sock:
        sock.sendall(head(f"{POST}\nContent-Length: 100"))
        sock.sendall(b'{"user_key"')
        sock.shutdown(socket.SHUT_WR)
        assert refusal(*answer(sock)) == (400, "incomplete_body") and not echo.bodies


def test_a_body_that_stops_arriving_is_a_408_after_the_read_timeout_and_frees_the_connection(impatient, echo):
    with connect(impatient) as sock:
        sock.sendall(head(f"{POST}\nContent-Length: 100"))
        sock.sendall(b'{"user_key"')
        t0 = time.monotonic()
        assert refusal(*answer(sock)) == (408, "request_timeout")
        assert time.monotonic() - t0 >= SHORT_TIMEOUT_S * 0.9
        assert closed_by_server(sock) and not echo.bodies


def test_a_chunked_body_that_stops_arriving_is_a_408_too(impatient, echo):
    with connect(impatient) as sock:
        sock.sendall(head(f"{POST}\nTransfer-Encoding: chunked") + b"64\r\n{")
        assert refusal(*answer(sock)) == (408, "request_timeout")
        assert closed_by_server(sock) and not echo.bodies


def test_a_connection_that_sends_nothing_or_half_its_headers_is_closed_after_the_read_timeout(impatient):
    with connect(impatient) as idle, connect(impatient) as half:
        half.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\n")
        assert closed_by_server(idle) and closed_by_server(half)


def test_a_burst_of_connections_waits_in_the_backlog_and_past_the_reserved_concurrency_gets_429():
    # Not started yet: nothing accepts, so every connection has to wait in the listen backlog (socketserver's
    # default of 5 leaves the rest unconnected: the connect times out).
    echo = Echo()
    server = ScoreServer(echo, reserved_concurrency=2)
    echo.gate.clear()
    socks: list[socket.socket] = []
    try:
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=2)
            sock.settimeout(WAIT_S)
            sock.sendall(head(f"{POST}\nContent-Length: 2") + b"{}")
            socks.append(sock)
        server.start()
        deadline = time.monotonic() + WAIT_S
        while server.throttled < 28 and time.monotonic() < deadline:
            time.sleep(0.01)
        echo.gate.set()
        statuses = sorted(answer(sock)[0] for sock in socks)
    finally:
        echo.gate.set()
        for sock in socks:
            sock.close()
        server.stop()
    assert statuses == [200] * 2 + [429] * 28 and server.invocations == 2
