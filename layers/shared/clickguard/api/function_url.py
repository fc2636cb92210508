"""Lambda Function URL events (payload format 2.0, the API Gateway HTTP API shape), both ways.

``decode_event`` reads what the handler needs from an invocation; ``encode_response`` is the answer Lambda turns
back into HTTP. ``function_url_event`` builds the event from an HTTP request, so tests and the local stack's
server (``clickguard.local.score_server``) invoke the handler with what AWS sends.

With ``AuthType: AWS_IAM`` Lambda has checked the caller's SigV4 signature and IAM permissions before the function
runs; the caller's identity arrives in ``requestContext.authorizer.iam``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_HEADERS = {"content-type": "application/json", "cache-control": "no-store"}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    body: str | None = None
    is_base64: bool = False
    caller: str | None = None  # the signing principal's ARN (IAM auth); None without one (the local stack)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """An error's reason (``errors.Reason``), None for an answer."""
        reason = self.body.get("reason") if self.status >= 400 else None
        return str(reason) if reason is not None else None


def decode_event(event: Mapping[str, Any]) -> HttpRequest:
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    return HttpRequest(
        method=str(http.get("method", "")).upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        body=event.get("body"),
        is_base64=bool(event.get("isBase64Encoded")),
        caller=iam.get("userArn"),
    )


def encode_response(response: HttpResponse) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": {**JSON_HEADERS, **response.headers},
        "body": json.dumps(response.body, separators=(",", ":"), allow_nan=False),
        "isBase64Encoded": False,
    }


def function_url_event(
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    query: str = "",
    source_ip: str = "127.0.0.1",
    domain: str = "localhost",
) -> dict[str, Any]:
    """The event Lambda builds for an HTTP request to a function URL. A body that is not text (by its content type,
    or bytes that are not UTF-8) is base64-encoded, as Lambda does."""
    lower = {k.lower(): v for k, v in headers.items()}
    text = _text(body, lower.get("content-type", ""))
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lower,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": domain.split(".", 1)[0],
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body) and text is None,
    }
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    return event


def _text(body: bytes, content_type: str) -> str | None:
    if content_type and not content_type.startswith(("text/", "application/json")):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None
