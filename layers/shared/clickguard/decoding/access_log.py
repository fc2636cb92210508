"""Web server access logs: the common and combined log formats, one request per line.

Apache's ``%h %l %u %t "%r" %>s %b`` (common) and the same followed by ``"%{Referer}i" "%{User-agent}i"``
(combined, nginx's default too; Apache's ``vhost_combined`` with its leading ``%v:%p``), as log shippers put the
raw lines on a stream (the Kinesis Agent without a processing option, a CloudWatch Logs subscription of a server's
log group) or in a file::

    203.0.113.7 - - [10/Oct/2024:13:55:36 -0700] "GET /product/123?ref=mail HTTP/1.1" 200 2326 "-" "Mozilla/5.0"

What is read, and nothing else:

* the user key is the client address (``%h``): the only identity an access log carries, so it is kept as the key,
  as a canonical event's user id is;
* the event type is the requested page (``pages.page_of``: no query string, identifiers as ``*``), prefixed by its
  method when that is not GET (``POST /login``, ``HEAD /``); a request line that is not ``METHOD target
  [HTTP/x]`` (a TLS handshake sent to the HTTP port) is the action ``(bad request)``, which scanners make; a bare
  ``-`` is a connection closed before it sent any request (``no_request``, counted and skipped: browsers open
  connections ahead of need and close the unused ones, which Apache logs as ``"-" 408`` and nginx as ``"-" 400``;
  read as failed requests they made people look like scanners);
* the outcome is the status: a failure from 400 (``events.token_of``);
* the time is ``%t`` (the common log format's time).

The identity (``%l``), the authenticated user (``%u``), the size, the referer and the user agent are never read.

The Kinesis Agent's ``LOGTOJSON`` processing option (``COMMONAPACHELOG``, ``COMBINEDAPACHELOG``) sends the same line
as a JSON object of its named parts (``host``, ``ident``, ``authuser``, ``datetime``, ``request``, ``response``,
``bytes``, and ``referrer``, ``agent``): ``parse_fields`` reads its ``host``, ``datetime``, ``request`` and
``response`` as the line's.

A web server's or proxy's JSON access log (nginx's ``log_format ... escape=json``, Traefik's, Envoy's, a load
balancer's) names no user either: ``json_request`` reads one as an access log line is read, the client address as
the user, when the record holds an HTTP status and a client address (and nothing else names a user).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from clickguard.decoding.jsonfast import utf8
from clickguard.events import ACCESS_LOG_PARTS, Event, aliased_time, is_caddy_access, token_of, user_key_of
from clickguard.field_names import RecordNames, loose_keys
from clickguard.pages import request_action
from clickguard.rejections import Reason, RejectedRecord, shown
from clickguard.timestamps import parse_timestamp

BAD_REQUEST = "(bad request)"

# Apache's vhost_combined (Debian's other_vhosts_access.log) puts ``%v:%p`` first: an optional ``name:port`` field.
_PREFIX = re.compile(rb"[ \r\n]*(?:[^ \t\r\n]+:[0-9]+ )?[^ \t\r\n]+ [^ \t\r\n]+ [^ \t\r\n]+ \[[^\]\r\n]+\] \"")
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'
# nginx's ``main`` format (its default config's) adds ``"$http_x_forwarded_for"`` after the user agent: kept for
# ``client_address``; whatever else a format appends is passed over.
_LINE = re.compile(
    r'(?:\S+:\d+ )?(\S+) \S+ \S+ \[([^\]]+)\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) \S+'
    rf'(?: {_QUOTED} {_QUOTED}(?: "([^"]*)")?)?(?: .*)?',
    re.DOTALL,
)
_REQUEST = re.compile(r"([A-Z][A-Z_-]{0,15}) (\S+)(?: HTTP/\d(?:\.\d)?)?")


# A line as syslog frames it (rsyslog or syslog-ng writing a server's or HAProxy's log to a file): an optional
# priority, the time (RFC 3164's ``Mar 30 18:00:00``, or rsyslog's high-precision ISO time), the host, the program
# and its pid. Every line of such a log was ``not_json``.
_SYSLOG = re.compile(
    rb"[ \r\n]*(?:<[0-9]{1,3}>)?(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T\S+)"
    rb" \S+ [^ :\[]+(?:\[[0-9]+\])?: "
)
# HAProxy's HTTP log format (``option httplog``): ``client:port [accept date] frontend backend/server timers status
# bytes ... "request"``; the accept date in the proxy's local time, without its zone (read as UTC, as a naive time
# is), to the millisecond.
_HAPROXY = re.compile(
    r"(\S+):\d+ \[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2})(?:\.(\d{3}))?\] \S+ \S+ \S+ (-1|\d{3}) .*?"
    r'"([^"\\]*(?:\\.[^"\\]*)*)"\s*',
    re.DOTALL,
)
_HAPROXY_PREFIX = re.compile(rb"\S+:[0-9]+ \[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9:.]+\] ")


def looks_like(data: bytes) -> bool:
    """The record starts as an access log line does (host, identity, user, ``[time]``, a quote; or HAProxy's client,
    port and ``[accept date]``), maybe framed by syslog: cheap, and no JSON, KPL, compressed or Snowplow record
    starts so."""
    data = _unframed(data)
    return _PREFIX.match(data) is not None or _HAPROXY_PREFIX.match(data) is not None


def _unframed(data: bytes) -> bytes:
    """``data`` without a syslog header. Looked for only where one may start (a priority's ``<``, a month's capital,
    a year's dash): a client address starts with a digit, and the pattern cost 0.46 us a line."""
    if data[:1] == b"<" or data[:1].isupper() or data[4:5] == b"-":
        framed = _SYSLOG.match(data)
        return data if framed is None else data[framed.end() :]
    return data


def parse_line(line: bytes) -> Event:
    """One access log line -> ``Event``; ``bad_access_log`` when it is not a common, combined or HAProxy log line."""
    text = utf8(_unframed(line)).strip()
    match = _LINE.fullmatch(text)
    if match is not None:
        return _event(*match.groups())  # host, time, request, status, forwarded-for (nginx's main format) or None
    proxied = _HAPROXY.fullmatch(text)
    if proxied is None:
        raise RejectedRecord(Reason.BAD_ACCESS_LOG, "not a common, combined or HAProxy log line")
    client, time, ms, status, request = proxied.groups()
    event = _event(client, f"{time} +0000", request, "000" if status == "-1" else status)  # -1: no response
    return event._replace(ts_ms=event.ts_ms + int(ms or 0))


AGENT_FIELDS = ACCESS_LOG_PARTS


def is_agent_json(obj: Any) -> bool:
    """An object with the Kinesis Agent's ``LOGTOJSON`` names for an Apache log line's parts."""
    return isinstance(obj, dict) and all(name in obj for name in AGENT_FIELDS)


def parse_fields(obj: Mapping[str, Any]) -> Event:
    """The Kinesis Agent's ``LOGTOJSON`` object of an access log line -> ``Event``, as ``parse_line`` reads the
    line; ``bad_access_log`` naming the parts that are not what that line would hold. A W3C or load balancer log's
    line is written as one (``w3c_log``, ``lb_log``), with the ``forwarded`` chain where the line logs one."""
    host, time, request, status = (obj[name] for name in AGENT_FIELDS)
    status = str(status) if type(status) is int else status
    wrong = [
        name for name, part in zip(AGENT_FIELDS, (host, time, request, status), strict=True) if type(part) is not str
    ]
    if len(wrong) == len(AGENT_FIELDS):
        raise RejectedRecord(Reason.BAD_ACCESS_LOG, "a line that does not match its log's format (a W3C log's "
                             "#Fields, a load balancer's entry)")  # fmt: skip
    if wrong:
        raise RejectedRecord(
            Reason.BAD_ACCESS_LOG, f"an access log entry without {', '.join(_PART_NAMES[n] for n in wrong)}"
        )
    if not _STATUS.fullmatch(status):  # a Classic Load Balancer's TCP listener logs '-': a connection, no request
        raise RejectedRecord(
            Reason.BAD_ACCESS_LOG, f"an access log entry whose status {shown(status, 8)} is no HTTP status"
        )
    forwarded = obj.get("forwarded")
    return _event(host, time, request, status, forwarded if isinstance(forwarded, str) else None)


_PART_NAMES = {"host": "a client address", "datetime": "a time", "request": "a request", "response": "a status"}


def _event(host: str, time: str, request: str, status: str, forwarded: str | None = None) -> Event:
    """A request's event, from the line's parts: the client (``client_address``), the page (with its method), the
    status (``000``, a client that left before any response, is none), the time."""
    if host == "-" or host.startswith("unix:"):  # nginx behind a socket, a log with no address: no client named
        raise RejectedRecord(Reason.MISSING_USER_KEY, f"no client address ({host[:5]!a})")
    client = client_address(host, forwarded)
    outcome = None if status == "000" else status
    ts_ms = _line_time(time) if time else parse_timestamp(time)  # "": the arrival's time, when one is set
    return Event(user_key_of(client), token_of(_action(request), outcome), ts_ms, None, None)


@functools.lru_cache(maxsize=4096)  # a log's lines of one second share their time's text
def _line_time(text: str) -> int:
    return parse_timestamp(text)


def client_address(remote: str, forwarded: str | None = None) -> str:
    """The client a request came from, one spelling per address: ``remote`` (the peer's address), unless that is a
    private, loopback or link-local address (a proxy or load balancer in front of the server, as nginx's real-IP
    module assumes) and ``forwarded`` (X-Forwarded-For: ``client, proxy1, ...``) names a client, whose first address
    it then is. An address is written as ``ipaddress`` writes it (``2001:DB8::1`` and ``2001:db8:0:0:0:0:0:1`` are
    one client; an IPv4-mapped IPv6 address is its IPv4 one; a zone, ``%eth0``, is the server's, not the client's);
    a host name (the logs of the 1990s resolved their clients) as logged: lower-cased, the keys no longer matched the
    log's own names, in a labels file or a reviewer's search (a tester's 14 of NASA-HTTP's upper-case hosts), and a
    resolver names one host one way throughout a log."""
    if _plain_ipv4(remote):  # most clients: no parse, no cache (a real log's clients outnumber any cache)
        if forwarded and _is_private_ipv4(remote):
            return _forwarded_client(forwarded, remote)
        return remote
    ip = _canonical(remote)
    if forwarded and ip is not None and _is_proxy(ip):
        return _forwarded_client(forwarded, str(ip))
    return str(ip) if ip is not None else remote


def _forwarded_client(forwarded: str, remote: str) -> str:
    first = _bare(forwarded)
    client = _canonical(first) if first is not None else None
    return str(client) if client is not None else remote


# An IPv4 address as ``ipaddress`` writes it: four decimal octets of 0-255, no leading zero.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_plain_ipv4 = _PLAIN_IPV4.fullmatch
_PRIVATE_V4 = re.compile(r"(?:10|127)\.|192\.168\.|169\.254\.|172\.(?:1[6-9]|2[0-9]|3[01])\.")


def _is_private_ipv4(text: str) -> bool:
    """``_is_proxy`` of a ``_plain_ipv4`` address, read from its text."""
    return _PRIVATE_V4.match(text) is not None


def is_private_address(text: str) -> bool:
    """A client key that is a private, loopback or link-local address (``_is_proxy``): a proxy's, not a client's."""
    ip = _canonical(text)
    return ip is not None and _is_proxy(ip)


def _is_proxy(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A private (RFC 1918, unique local), loopback or link-local address. Not the shared address space of carrier
    NAT (100.64.0.0/10): many clients behind one, not a proxy of the site's."""
    return ip.is_loopback or ip.is_link_local or any(ip in net for net in _PRIVATE if net.version == ip.version)


_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


@functools.lru_cache(maxsize=8192)  # a log repeats its clients
def _canonical(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_STATUS = re.compile(r"\d{3}")


def _action(request: str) -> str:
    if request.strip() == "-":
        raise RejectedRecord(Reason.NO_REQUEST, "a connection that sent no request (a browser's preconnect)")
    parsed = _REQUEST.fullmatch(request.replace('\\"', '"') if "\\" in request else request)  # Apache's \" escape
    if parsed is None:
        return BAD_REQUEST
    return request_action(*parsed.groups())


# A JSON access log's fields by their loose names (``field_names.loose``): nginx's, Traefik's, Envoy's, ALB's and
# W3C's spellings of the client address, the status, the method and the requested page.
_CLIENT = ("remoteaddr", "clientip", "remoteip", "clienthost", "clientaddr", "cip", "realip", "xrealip", "ip",
           "srcip", "sourceip", "clientaddress", "remotehost", "remote")  # fmt: skip  # remote: Fluent Bit's nginx
_FORWARDED = ("xforwardedfor", "httpxforwardedfor")
_HTTP_STATUS = ("status", "statuscode", "httpstatus", "responsecode", "responsestatus", "downstreamstatus",
                "originstatus", "scstatus", "elbstatuscode", "code")  # fmt: skip  # code: Fluent Bit's nginx parser
_METHOD = ("requestmethod", "method", "httpmethod", "csmethod")
_TARGET = ("requesturi", "uri", "requestpath", "path", "url", "csuristem", "request")
# The request's own time where no name reads as the event's (a request's start is its time: ``start_time``); a start
# wins over the event's time (Traefik's ``time`` is the request's end). Not nginx's ``request_time``: a duration.
_REQUEST_START = ("startutc", "starttime")
_REQUEST_TIME = ("requesttime", "msec", "timestamp", "date")
# Caddy's request parts that say who asked for what: never its headers (the user agent, cookies).
_CADDY_PARTS = ("client_ip", "remote_ip", "method", "uri")


def _caddy_request(request: Mapping[str, Any]) -> dict[str, Any]:
    return {name: request[name] for name in _CADDY_PARTS if name in request}


_ADDRESS = re.compile(
    r"(\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?"  # IPv4, maybe with its port
    r"|\[([0-9a-fA-F:.]+)\](?::\d{1,5})?"  # IPv6 in brackets, maybe with its port
    r"|([0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]*)"  # IPv6
)


def json_request(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """A JSON access log record as an event's fields: the user its client address (the first of a forwarded chain,
    without its port), the action its method and page as a request line (``POST /login``), the rest as it is; None
    unless the record holds both an HTTP status (100-599) and a client address. Only those fields are read. Caddy's
    record keeps the request's parts under ``request`` (its ``client_ip``, the client behind Caddy's trusted
    proxies, before its peer ``remote_ip``; its headers never read); a Traefik record's time is its request's start
    (``StartUTC``: its ``time`` is when the request ended, a long one's far later)."""
    if is_caddy_access(obj):
        obj = {**{k: v for k, v in obj.items() if k != "request"}, **_caddy_request(obj["request"])}
    by_loose = loose_keys(obj)
    status = next((obj[by_loose[n]] for n in _HTTP_STATUS if n in by_loose), None)
    code = status if type(status) is int else int(status) if type(status) is str and _STATUS.fullmatch(status) else 0
    address = _client(obj, by_loose)
    if not 100 <= code <= 599 or address is None:
        return None
    fields = {**obj, "user_id": address, "outcome": code}
    start = next((obj[by_loose[n]] for n in _REQUEST_START if n in by_loose), None)
    if start is None:  # the time found as the event's is read once, here: the fields then read as a canonical event's
        start = aliased_time(RecordNames(obj))
    if start is None:
        start = next((obj[by_loose[n]] for n in _REQUEST_TIME if n in by_loose), None)
    fields["timestamp"] = start
    method = next((obj[by_loose[n]] for n in _METHOD if n in by_loose), None)
    target = next((obj[by_loose[n]] for n in _TARGET if n in by_loose), None)
    if isinstance(target, str) and target.startswith("/"):
        fields["event_type"] = f"{method} {target}" if isinstance(method, str) and method.isalpha() else target
    elif isinstance(target, str) and "request" in by_loose and target is obj[by_loose["request"]]:
        fields["event_type"] = _action(target)  # a request line, as the text line's: a TLS handshake is (bad request)
    return fields


def _client(obj: Mapping[str, Any], by_loose: Mapping[str, str]) -> str | None:
    """The record's client (``client_address``): the first of its names that holds an address, or, with none, the
    first of its forwarded chain."""
    remote = next((a for n in _CLIENT if n in by_loose and (a := _address(obj[by_loose[n]])) is not None), None)
    chain = next((v for n in _FORWARDED if n in by_loose and isinstance(v := obj[by_loose[n]], str)), None)
    if remote is None:
        return _address(chain) if chain is not None else None
    return client_address(remote, chain)


def _address(value: Any) -> str | None:
    """An IPv4 or IPv6 address, without a port or brackets, as ``client_address`` writes it; the first of
    ``a, b, c`` (X-Forwarded-For)."""
    found = _bare(value) if isinstance(value, str) else None
    return client_address(found) if found is not None else None


def _bare(text: str) -> str | None:
    """The address of ``text`` (the first of ``a, b, c``) without its port or brackets, as written."""
    match = _ADDRESS.fullmatch(text.split(",", 1)[0].strip())
    return next((group for group in match.groups() if group), None) if match else None
