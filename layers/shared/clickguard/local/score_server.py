"""The function URL stand-in: ``POST /score`` served on 127.0.0.1 by the real score API handler.

moto has no function URLs (``infra.config.MOTO_UNSUPPORTED``). This plays the part Lambda plays in front of a
function URL, the way ``esm`` plays the event source mapping: each HTTP request becomes the Function URL event
(payload format 2.0, ``clickguard.api.function_url.function_url_event``), the real handler is invoked in this
process, and its response dict becomes the HTTP response. What Lambda itself answers is played too: a request
body over Lambda's 6 MB payload limit gets 413, more requests at once than the template's reserved concurrency get
429 (the throttle), an exception out of the handler gets 502. There is no SigV4 check: the server listens on the
loopback interface only; the deployed URL requires IAM auth.

HTTP itself, before any of that: a body comes with a ``Content-Length`` or chunked (``Transfer-Encoding: chunked``,
which function URLs accept too; decoded here, held to the same payload limit). A request whose framing cannot be
trusted is refused in the API's error shape (``{"reason", "message"}``, ``Framing`` below) and its connection
closed: 400 for a ``Content-Length`` that is not a count of bytes (or two that disagree, or one beside chunked), a
broken chunk or a body cut short, 501 for another transfer coding, 408 when the client stops sending for
``READ_TIMEOUT_S``. Connections wait in a backlog of ``LISTEN_BACKLOG``, so a burst is accepted and throttled.
"""

from __future__ import annotations

import base64
import enum
import json
import re
import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any
from urllib.parse import urlsplit

from clickguard.api.function_url import function_url_event
from clickguard.api.response import error_body
from clickguard.local.esm import LambdaContext

HOST = "127.0.0.1"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
# A client silent this long mid-request (or idle between keep-alive requests) is cut off: without a limit one
# stalled client holds its thread, and stop(), for ever. Loopback carries even a 6 MB body in a fraction of this.
READ_TIMEOUT_S = 5.0
# Connections waiting to be accepted. socketserver's 5 makes a burst reset or stall at connect; accepted, the
# requests past the reserved concurrency get Lambda's 429, as the deployed URL answers them.
LISTEN_BACKLOG = 128
_MAX_LINE = 65536  # a chunk's size line or a trailer, bounded as http.server bounds a request line
_MAX_TRAILERS = 100  # as http.client bounds a message's headers
_HEX = re.compile(rb"[0-9A-Fa-f]+")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Reply = tuple[int, dict[str, str], bytes]  # status, headers, body


class Framing(enum.StrEnum):
    """This server's refusals of a request's HTTP framing (the API's own are ``clickguard.api.errors.Reason``)."""

    BAD_CONTENT_LENGTH = "bad_content_length"  # not digits, several that disagree, or beside chunked
    BAD_CHUNKED_BODY = "bad_chunked_body"
    INCOMPLETE_BODY = "incomplete_body"  # the client closed before the whole body arrived
    REQUEST_TIMEOUT = "request_timeout"  # 408: nothing arrived for the read timeout
    UNSUPPORTED_TRANSFER_ENCODING = "unsupported_transfer_encoding"  # 501: a coding other than chunked


class _Httpd(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


class ScoreServer:
    def __init__(
        self,
        handler: Handler,
        reserved_concurrency: int | None = None,
        port: int = 0,
        function_name: str = "score-api",
        timeout_s: int = 10,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.handler = handler
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.read_timeout_s = read_timeout_s
        self.slots = threading.BoundedSemaphore(reserved_concurrency) if reserved_concurrency else None
        self.httpd = _Httpd((HOST, port), _request_handler(self))
        self._thread: threading.Thread | None = None
        self.invocations = 0
        self.throttled = 0
        self.errors = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Where ``POST /score`` is served."""
        return f"http://{HOST}:{self.port}/score"

    def start(self) -> ScoreServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="score-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def invoke(self, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str) -> Reply:
        """One request through Lambda's part and the handler: (status, headers, body)."""
        if self.slots is not None and not self.slots.acquire(blocking=False):
            self._count("throttled")
            return _lambda_error(429, "Rate Exceeded.")
        try:
            parts = urlsplit(target)
            event = function_url_event(
                method, parts.path, body, headers, query=parts.query, source_ip=client_ip, domain=f"{HOST}:{self.port}"
            )
            self._count("invocations")
            try:
                response = self.handler(event, LambdaContext(self.function_name, timeout_s=self.timeout_s).start())
            except Exception:  # what Lambda answers when the function fails
                self._count("errors")
                return _lambda_error(502, "Internal Server Error")
            return _http_reply(response)
        finally:
            if self.slots is not None:
                self.slots.release()


def _lambda_error(status: int, message: str) -> Reply:
    return status, {"content-type": "application/json"}, json.dumps({"Message": message}).encode()


class _Refused(Exception):
    """A request answered before its body is read whole; its connection is closed (its framing is lost)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[0])
        self.reply = reply


def _refused(status: int, reason: Framing, message: str) -> _Refused:
    return _Refused((status, {"content-type": "application/json"}, json.dumps(error_body(reason, message)).encode()))


def _too_large() -> _Refused:
    return _Refused(_lambda_error(413, f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes"))


def _read_body(headers: Message, rfile: BufferedIOBase) -> bytes:
    """The request's body by its framing: ``Content-Length`` bytes, or chunks decoded. Raises ``_Refused``, and
    ``TimeoutError`` when the client stops sending."""
    codings = [c.strip().lower() for v in headers.get_all("transfer-encoding") or [] for c in v.split(",")]
    codings = [c for c in codings if c]
    lengths = headers.get_all("content-length") or []
    if not codings:
        return _read_exactly(rfile, _content_length(lengths))
    if codings != ["chunked"]:
        raise _refused(501, Framing.UNSUPPORTED_TRANSFER_ENCODING, "the only transfer coding served is chunked")
    if lengths:
        raise _refused(400, Framing.BAD_CONTENT_LENGTH, "Content-Length and Transfer-Encoding: chunked together")
    return _read_chunked(rfile)


def _content_length(values: list[str]) -> int:
    distinct = {str(v).strip() for v in values}
    if len(distinct) > 1:
        raise _refused(400, Framing.BAD_CONTENT_LENGTH, "the request has Content-Length headers that disagree")
    value = distinct.pop() if distinct else "0"
    if not (value.isascii() and value.isdigit()):
        raise _refused(400, Framing.BAD_CONTENT_LENGTH, "Content-Length must be a count of bytes: digits only")
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(MAX_PAYLOAD_BYTES)) or int(digits) > MAX_PAYLOAD_BYTES:
        raise _too_large()
    return int(digits)


def _read_exactly(rfile: BufferedIOBase, size: int) -> bytes:
    raw = rfile.read(size) if size else b""
    if len(raw) < size:
        raise _refused(400, Framing.INCOMPLETE_BODY, f"the connection ended after {len(raw)} of {size} body bytes")
    return raw


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    """Chunks (a hex size line, chunk extensions ignored; the data; CRLF) up to a zero-size one, then trailers."""
    body = bytearray()
    while True:
        size_field = _line(rfile).split(b";", 1)[0].strip(b" \t\r\n")
        if not _HEX.fullmatch(size_field):
            raise _refused(400, Framing.BAD_CHUNKED_BODY, "a chunk's size line is not a hexadecimal size")
        size = int(size_field, 16)
        if size == 0:
            break
        if len(body) + size > MAX_PAYLOAD_BYTES:
            raise _too_large()
        body += _read_exactly(rfile, size)
        if _read_exactly(rfile, 2) != b"\r\n":
            raise _refused(400, Framing.BAD_CHUNKED_BODY, "a chunk's data is not followed by CRLF")
    for _ in range(_MAX_TRAILERS + 1):
        if _line(rfile) in (b"\r\n", b"\n"):
            return bytes(body)
    raise _refused(400, Framing.BAD_CHUNKED_BODY, f"more than {_MAX_TRAILERS} trailer fields")


def _line(rfile: BufferedIOBase) -> bytes:
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _refused(400, Framing.BAD_CHUNKED_BODY, f"a chunk line is longer than {_MAX_LINE} bytes")
    if not line.endswith(b"\n"):
        raise _refused(400, Framing.INCOMPLETE_BODY, "the connection ended inside the chunked body")
    return line


def _http_reply(response: dict[str, Any]) -> Reply:
    """A function URL response (a dict with ``statusCode``, ``headers``, ``body``, ``isBase64Encoded``)."""
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(response.get("statusCode", 200)), dict(response.get("headers") or {}), raw


def _request_handler(server: ScoreServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = server.read_timeout_s  # the socket's: request line, headers and body (StreamRequestHandler)

        def _serve(self) -> None:
            try:
                raw = _read_body(self.headers, self.rfile)
            except TimeoutError:
                timed_out = _refused(408, Framing.REQUEST_TIMEOUT, f"no byte came for {server.read_timeout_s} s")
                self._send(*timed_out.reply, close=True)
            except _Refused as refusal:
                self._send(*refusal.reply, close=True)
            else:
                headers_in = {k: v for k, v in self.headers.items()}
                reply = server.invoke(self.command, self.path, headers_in, raw, self.client_address[0])
                self._send(*reply, close=False)

        def _send(self, status: int, headers: dict[str, str], body: bytes, close: bool) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if close:  # a refusal: what follows on the connection cannot be framed (send_header closes it)
                self.send_header("connection", "close")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: handler logs go where CloudWatch Logs would collect them (``HandlerOutput``)."""

    return _Handler
