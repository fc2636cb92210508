"""Elastic Load Balancing access log files (an Application Load Balancer's, whose lines start with the request's
type, and a Classic Load Balancer's, which start with the time), as the load balancer writes them to S3: each request
written as the Kinesis Agent's ``LOGTOJSON`` object of an access log line (``access_log.AGENT_FIELDS``), so the access
log's one rule reads it. The client address (without its port) is the user; the request's URL, absolute in these
logs, is read as the path a web server logs (an HTTP and an HTTPS listener then name a page alike); the load
balancer's status is the outcome; the time is the log's (UTC). The user agent, TLS details, target and trace are
never read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

# type? time elb client:port target:port 3 timings elb_status target_status received sent "request"
_LINE = re.compile(
    rb'(?:(?:https?|h2|grpcs|wss?) )?(\d{4}-\d\d-\d\dT\S+) \S+ (\S+) \S+ \S+ \S+ \S+ (\S+) \S+ \S+ \S+ "([^"]*)"'
)


def is_lb(first_line: bytes) -> bool:
    """A file whose first line is a load balancer's access log entry."""
    return _LINE.match(first_line.lstrip()) is not None


def agent_objects(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Each entry as a LOGTOJSON object (JSON); a line that is not one holds no part, and the decoder rejects it as
    ``bad_access_log``."""
    for raw in lines:
        if raw.strip():
            yield json.dumps(_agent_object(raw.strip())).encode()


def _agent_object(line: bytes) -> dict[str, str | None]:
    match = _LINE.match(line)
    if match is None:
        return dict.fromkeys(("host", "datetime", "request", "response"))
    time, client, status, request = (part.decode("utf-8", "surrogateescape") for part in match.groups())
    host = client.rsplit(":", 1)[0].strip("[]") if client != "-" else None
    return {"host": host, "datetime": time, "request": _origin_form(request), "response": status}


def _origin_form(request: str) -> str:
    """``GET https://example.com:443/a?b HTTP/1.1`` -> ``GET /a?b HTTP/1.1``: the request as a server logs it."""
    parts = request.split(" ")
    if len(parts) == 3 and "://" in parts[1]:
        url = urlsplit(parts[1])
        parts[1] = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return " ".join(parts)
