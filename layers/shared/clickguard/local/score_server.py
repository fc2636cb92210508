"""The function URL stand-in: ``POST /score`` served on 127.0.0.1 by the real score API handler.

moto has no function URLs (``infra.config.MOTO_UNSUPPORTED``). This plays the part Lambda plays in front of a
function URL, the way ``esm`` plays the event source mapping: each HTTP request becomes the Function URL event
(payload format 2.0, ``clickguard.api.function_url.function_url_event``), the real handler is invoked in this
process, and its response dict becomes the HTTP response. What Lambda itself answers is played too: a request
body over Lambda's 6 MB payload limit gets 413, more requests at once than the template's reserved concurrency get
429 (the throttle), an exception out of the handler gets 502. There is no SigV4 check: the server listens on the
loopback interface only; the deployed URL requires IAM auth.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from clickguard.api.function_url import function_url_event
from clickguard.local.esm import LambdaContext

HOST = "127.0.0.1"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Reply = tuple[int, dict[str, str], bytes]  # status, headers, body


class ScoreServer:
    def __init__(
        self,
        handler: Handler,
        reserved_concurrency: int | None = None,
        port: int = 0,
        function_name: str = "score-api",
        timeout_s: int = 10,
    ) -> None:
        self.handler = handler
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.slots = threading.BoundedSemaphore(reserved_concurrency) if reserved_concurrency else None
        self.httpd = ThreadingHTTPServer((HOST, port), _request_handler(self))
        self.httpd.daemon_threads = True
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


def _http_reply(response: dict[str, Any]) -> Reply:
    """A function URL response (a dict with ``statusCode``, ``headers``, ``body``, ``isBase64Encoded``)."""
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(response.get("statusCode", 200)), dict(response.get("headers") or {}), raw


def _request_handler(server: ScoreServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_PAYLOAD_BYTES:
                status, headers, body = _lambda_error(413, f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes")
                self.close_connection = True  # the body is not read
            else:
                raw = self.rfile.read(length) if length else b""
                headers_in = {k: v for k, v in self.headers.items()}
                status, headers, body = server.invoke(self.command, self.path, headers_in, raw, self.client_address[0])
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: handler logs go where CloudWatch Logs would collect them (``HandlerOutput``)."""

    return _Handler
