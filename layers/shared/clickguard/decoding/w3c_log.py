"""W3C extended log files (IIS, CloudFront's standard logs, other servers' ``#Fields:`` logs): the ``#Fields:``
directive names each line's columns. Each request is written as the Kinesis Agent's ``LOGTOJSON`` object of an
access log line (``access_log.AGENT_FIELDS``), so the access log's one rule reads it: the client address as the user,
the page with its method, the status as the outcome, the date and time (UTC, as the format defines them). Behind a
load balancer (a private ``c-ip``), the client is the first address of the line's ``X-Forwarded-For`` field, as
``access_log.client_address`` reads a common log line's. The user agent, referrer, cookies and the rest are never
read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

_DIRECTIVES = (b"#Version:", b"#Fields:", b"#Software:", b"#Date:", b"#Start-Date:", b"#Remark:")


def is_w3c(first_line: bytes) -> bool:
    """A file that opens with one of the format's directives."""
    return first_line.lstrip().startswith(_DIRECTIVES)


def agent_objects(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Each request line as a LOGTOJSON object (JSON); a line that does not match the fields holds no part, and the
    decoder rejects it as ``bad_access_log``."""
    fields: list[str] = []
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        if line.startswith(b"#"):
            if line.startswith(b"#Fields:"):
                fields = line[len(b"#Fields:") :].decode("ascii", "replace").split()
            continue
        text = line.decode("utf-8", "surrogateescape")
        cells = text.split("\t") if "\t" in text else text.split(" ")
        while len(cells) > len(fields) and not cells[-1]:  # a trailing tab (CloudFront's own documented sample)
            cells.pop()
        row = dict(zip(fields, cells, strict=True)) if len(cells) == len(fields) else {}
        yield json.dumps(_agent_object(row)).encode()


def _agent_object(row: dict[str, str]) -> dict[str, str | None]:
    method, stem, status = row.get("cs-method"), row.get("cs-uri-stem"), row.get("sc-status")
    query = row.get("cs-uri-query", "-")
    request = f"{method} {stem}{'' if query in ('-', '') else '?' + query} HTTP/1.1" if method and stem else None
    when = f"{row['date']}T{row['time']}Z" if "date" in row and "time" in row else None
    forwarded = next((v for name, v in row.items() if name.lower() in _FORWARDED and v not in ("-", "")), None)
    return {"host": row.get("c-ip"), "datetime": when, "request": request, "response": status, "forwarded": forwarded}


# X-Forwarded-For as IIS logs it (a custom field named after the header), W3C's header notation, CloudFront's.
_FORWARDED = frozenset({"x-forwarded-for", "cs(x-forwarded-for)"})
