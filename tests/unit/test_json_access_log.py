"""A web server's or proxy's JSON access log (``decoding.access_log.json_request``): read as its text line is read,
the client address as the user, when the record holds an HTTP status and a client address and names no user.

Records as the servers' documented JSON formats name their fields: nginx's ``log_format ... escape=json`` with its
variables (``$remote_addr``, ``$request``, ``$status``, ``$time_local``, ``$time_iso8601``, ``$request_uri``),
Traefik's JSON access log field names, Envoy's default keys in a JSON ``log_format``."""

from __future__ import annotations

import json

import pytest

from clickguard.decoding import DecodeConfig, Decoder, Format
from clickguard.decoding.access_log import client_address, parse_line
from clickguard.events import Event
from clickguard.rejections import SKIPPED, Reason, RejectedRecord

T = 1728568536000  # 10/Oct/2024:13:55:36 +0000
UA = "Mozilla/5.0 (PII-Agent)"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"time_local": "10/Oct/2024:13:55:36 +0000", "remote_addr": "203.0.113.7", "request": "POST /login HTTP/1.1",
          "status": "401", "body_bytes_sent": "12", "http_user_agent": UA}, ("203.0.113.7", "POST /login#fail", T)),
        ({"time_iso8601": "2024-10-10T13:55:36+00:00", "remote_addr": "203.0.113.7", "request_method": "GET",
          "request_uri": "/product/123?ref=mail", "status": 200}, ("203.0.113.7", "/product/*", T)),
        ({"ClientAddr": "203.0.113.8:51234", "ClientHost": "203.0.113.8", "RequestMethod": "DELETE",
          "RequestPath": "/api/items/42", "DownstreamStatus": 404, "StartUTC": "2024-10-10T13:55:36Z",
          "request_User-Agent": UA}, ("203.0.113.8", "DELETE /api/items/*#fail", T)),
        ({"start_time": "2024-10-10T13:55:36.000Z", "method": "GET", "path": "/", "response_code": 200,
          "x_forwarded_for": "198.51.100.1, 10.0.0.2", "user_agent": UA}, ("198.51.100.1", "/", T)),
        ({"time": "2024-10-10T13:55:36Z", "ip": "unknown", "client_ip": "[2001:db8::1]:443", "uri": "/a",
          "status": 302}, ("2001:db8::1", "/a", T)),  # the first name that holds an address
    ],
)  # fmt: skip
def test_a_json_access_log_record_is_its_request(record, expected):
    for fast in (True, False):
        got = Decoder(DecodeConfig(fast_json=fast)).decode(json.dumps(record).encode())
        assert isinstance(got, Event) and (got.user_key, got.token, got.ts_ms) == expected
        assert UA not in repr(got)


@pytest.mark.parametrize(
    ("remote", "request_line", "forwarded", "expected"),
    [
        ("203.0.113.7", "POST /login HTTP/1.1", None, ("203.0.113.7", "POST /login#fail")),
        # a TLS handshake on the HTTP port: (bad request) both ways (JSON once kept its control bytes as the action)
        ("203.0.113.7", "\x16\x03\x01", None, ("203.0.113.7", "(bad request)#fail")),
        # nginx's main format behind a proxy: the forwarded client, not the proxy
        ("10.0.0.2", "GET /a HTTP/1.1", "198.51.100.4, 10.0.0.1", ("198.51.100.4", "/a#fail")),
        ("2001:DB8::1", "GET /a HTTP/1.1", None, ("2001:db8::1", "/a#fail")),
    ],
)
def test_the_same_request_as_a_text_line_and_as_json_is_the_same_event(remote, request_line, forwarded, expected):
    tail = f' "{forwarded}"' if forwarded else ""
    escaped = request_line.encode("unicode_escape").decode()  # nginx writes a control byte as \xHH in a text line
    line = f'{remote} - - [10/Oct/2024:13:55:36 +0000] "{escaped}" 401 12 "-" "curl/8"{tail}'.encode()
    record = {"remote_addr": remote, "time_local": "10/Oct/2024:13:55:36 +0000", "request": request_line, "status": 401}
    if forwarded:
        record["http_x_forwarded_for"] = forwarded
    event = parse_line(line)
    assert Decoder().decode(json.dumps(record).encode()) == event and (event.user_key, event.token) == expected


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.0.0.2", "198.51.100.4, 10.0.0.1", "198.51.100.4"),  # a private peer: a proxy; the chain's first
        ("127.0.0.1", "2001:db8::7", "2001:db8::7"),
        ("fd00::1", "203.0.113.9:4711", "203.0.113.9"),  # a proxy that writes the client's port too
        ("fd00::1", "unknown, 203.0.113.9", "fd00::1"),  # a chain whose first is no address: the peer
        ("198.51.100.4", "203.0.113.9", "198.51.100.4"),  # a public peer: the chain is anyone's to write
        ("100.64.3.2", "203.0.113.9", "100.64.3.2"),  # carrier NAT's shared space: clients, not the site's proxy
        ("10.0.0.2", None, "10.0.0.2"),  # an intranet's own clients
        ("2001:DB8:0:0:0:0:0:1", None, "2001:db8::1"),  # one spelling per address
        ("::ffff:203.0.113.11", None, "203.0.113.11"),
        ("host.example", None, "host.example"),  # HostnameLookups On: a name, kept
        ("SLIP14.PPP.HOOKED.NET", None, "SLIP14.PPP.HOOKED.NET"),  # as logged: a labels file names it so (NASA-HTTP)
    ],
)
def test_the_client_is_the_proxy_s_forwarded_client_and_one_spelling_per_address(remote, forwarded, client):
    assert client_address(remote, forwarded) == client


@pytest.mark.parametrize(
    "record",
    [
        {"ip": "203.0.113.7", "event": "view", "timestamp": 1728568536},  # no HTTP status: an app's event
        {"remote_addr": "203.0.113.7", "request": "GET / HTTP/1.1", "status": "active", "time": T},  # no HTTP status
        {"remote_addr": "somewhere", "request": "GET / HTTP/1.1", "status": 200, "time": T},  # no address
        {"remote_addr": "203.0.113.7", "request": "GET / HTTP/1.1", "status": "099", "time": T},  # no HTTP status
    ],
)
def test_without_an_http_status_and_an_address_a_record_keeps_its_verdict(record):
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(json.dumps(record).encode())
    assert exc.value.reason is Reason.MISSING_USER_KEY


def test_a_named_user_wins_over_the_address_and_the_format_can_be_switched_off():
    record = {"user_id": "u1", "remote_addr": "203.0.113.7", "request": "GET / HTTP/1.1", "status": 200, "time": T}
    assert Decoder().decode(json.dumps(record).encode()).user_key == "u1"
    anonymous = {k: v for k, v in record.items() if k != "user_id"}
    without = Decoder(DecodeConfig(formats=frozenset({Format.JSON})))
    with pytest.raises(RejectedRecord) as exc:
        without.decode(json.dumps(anonymous).encode())
    assert exc.value.reason is Reason.MISSING_USER_KEY


CADDY = {"level": "info", "ts": T / 1000, "logger": "http.log.access.log0", "msg": "handled request",
         "request": {"remote_ip": "10.0.1.17", "client_ip": "81.2.3.4", "proto": "HTTP/2.0", "method": "POST",
                     "host": "shop.example.org", "uri": "/login?next=/a", "headers": {"User-Agent": [UA]}},
         "user_id": "", "duration": 0.02, "size": 10, "status": 401}  # fmt: skip


@pytest.mark.parametrize("login", ["", "carol@example.net"])
def test_a_caddy_record_is_its_client_s_request_never_its_login_or_headers(login):
    got = Decoder().decode(json.dumps({**CADDY, "user_id": login}).encode())
    assert isinstance(got, Event) and (got.user_key, got.token, got.ts_ms) == ("81.2.3.4", "POST /login#fail", T)
    assert UA not in repr(got) and "carol" not in repr(got)


def test_a_web_server_s_authenticated_user_is_never_the_user():
    """nginx's ``remote_user`` (HTTP auth's login): one client was two users, one of them named by an e-mail."""
    record = {"time_local": "10/Oct/2024:13:55:36 +0000", "remote_addr": "185.92.52.191",
              "remote_user": "carol@example.net", "request": "GET /cart HTTP/1.1", "status": "200"}  # fmt: skip
    got = Decoder().decode(json.dumps(record).encode())
    assert isinstance(got, Event) and got.user_key == "185.92.52.191" and "carol" not in repr(got)


def test_a_traefik_record_is_timed_at_its_request_s_start():
    record = {
        "ClientHost": "203.0.113.8",
        "RequestMethod": "GET",
        "RequestPath": "/ws",
        "DownstreamStatus": 101,
        "Duration": 600_000_000_000,
        "StartUTC": "2024-10-10T13:55:36.250Z",
        "time": "2024-10-10T15:05:36+01:00",
    }
    assert Decoder().decode(json.dumps(record).encode()).ts_ms == T + 250


@pytest.mark.parametrize("status", ["408", "400"])
def test_a_connection_that_sent_no_request_is_skipped_not_a_failed_request(status):
    line = f'203.0.113.7 - - [10/Oct/2024:13:55:36 +0000] "-" {status} 0 "-" "-"'.encode()
    with pytest.raises(RejectedRecord) as exc:
        parse_line(line)
    assert exc.value.reason is Reason.NO_REQUEST and Reason.NO_REQUEST in SKIPPED
    record = {"time_local": "10/Oct/2024:13:55:36 +0000", "remote_addr": "203.0.113.7", "request": "-",
              "status": status}  # fmt: skip
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(json.dumps(record).encode())
    assert exc.value.reason is Reason.NO_REQUEST
