"""Elastic Load Balancing access log files (an Application Load Balancer's, whose lines start with the request's
type, and a Classic Load Balancer's, which start with the time), as the load balancer writes them to S3: each request
written as the Kinesis Agent's ``LOGTOJSON`` object of an access log line (``access_log.AGENT_FIELDS``), so the access
log's one rule reads it. The client address (without its port) is the user; the request's URL, absolute in these
logs, is read as the path a web server logs (``pages.request_action``: an HTTP and an HTTPS listener then name a page
alike); the load balancer's status is the outcome; the time is when the request came (UTC): a Classic Load
Balancer's ``time``, an Application Load Balancer's ``request_creation_time`` (its ``time`` is when the response
went out: minutes later for a slow request, a WebSocket's close), or its ``time`` in the entries of before 2018 that
lack it. The user agent, TLS details, target and trace are never read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

# type? time elb client:port target:port 3 timings elb_status target_status received sent "request"
_LINE = re.compile(
    rb"((?:https?|h2|grpcs|wss?) )?(\d{4}-\d\d-\d\dT\S+) \S+ (\S+) \S+ \S+ \S+ \S+ (\S+) \S+ \S+ \S+ "
    rb'"((?:[^"\\]|\\.)*)"'
)
# The fields after the request: quoted (escapes kept) or bare. An Application Load Balancer's 9th is
# ``request_creation_time`` (after user_agent, ssl_cipher, ssl_protocol, target_group_arn, trace_id, domain_name,
# chosen_cert_arn, matched_rule_priority).
_FIELD = re.compile(rb'"(?:[^"\\]|\\.)*"|\S+')
_CREATED = 8
_ISO_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\S+")


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
    alb, time, client, status, request = match.groups()
    if alb is not None:  # an Application Load Balancer's entry: the time its request came, where it says
        after = _FIELD.findall(line, match.end())
        if len(after) > _CREATED and _ISO_TIME.fullmatch(after[_CREATED]):
            time = after[_CREATED]
    host = client.rsplit(b":", 1)[0].strip(b"[]") if client != b"-" else None
    return {
        "host": _text(host) if host is not None else None,
        "datetime": _text(time),
        "request": _text(request.replace(b'\\"', b'"')),
        "response": _text(status),
    }


def _text(part: bytes) -> str:
    return part.decode("utf-8", "surrogateescape")
