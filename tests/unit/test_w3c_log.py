"""W3C extended log files (IIS, CloudFront): each request line read as the access log's rule reads a request."""

from __future__ import annotations

from clickguard.decoding.w3c_log import agent_objects, is_w3c
from clickguard.rejections import Reason
from tests.factories import file_results

# IIS's default W3C fields, as its documentation lists them; the values are the documentation's kind.
IIS = b"""#Software: Microsoft Internet Information Services 10.0
#Version: 1.0
#Date: 2024-10-10 20:55:36
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken
2024-10-10 20:55:36 10.0.0.5 GET /default.aspx - 443 - 203.0.113.9 Mozilla/5.0+(PII-Agent) - 200 0 0 15
2024-10-10 20:55:40 10.0.0.5 POST /account/login.aspx ReturnUrl=%2F 443 - 203.0.113.9 Mozilla/5.0+(PII-Agent) - 401 1 0 31
2024-10-10 20:55:41 10.0.0.5 GET /images/logo.png - 443 - 203.0.113.9 Mozilla/5.0+(PII-Agent) - 200 0 0 2
2024-10-10 20:55:42 10.0.0.5 GET /cut-short
#Fields: date time c-ip cs-method cs-uri-stem sc-status
2024-10-10 20:56:00 198.51.100.4 GET /news/2024/10/10 200
"""  # noqa: E501


def _results(body: bytes) -> list[object]:
    return file_results(body, "u_ex241010.log")


def test_an_iis_log_is_its_requests_with_the_access_log_s_rules():
    got = _results(IIS)
    assert [(e.user_key, e.token, e.ts_ms) for e in got[:2]] == [
        ("203.0.113.9", "/default.aspx", 1728593736000),
        ("203.0.113.9", "POST /account/login.aspx#fail", 1728593740000),  # method kept, query dropped, 401 fails
    ]
    assert got[2:4] == [Reason.STATIC_FILE, Reason.BAD_ACCESS_LOG]  # a static file; a line that misses its fields
    assert (got[4].user_key, got[4].token) == ("198.51.100.4", "/news/*/*/*")  # a later #Fields: directive applies
    assert "PII-Agent" not in repr(got)


def test_only_a_file_that_opens_with_a_directive_is_read_as_w3c():
    assert is_w3c(b"#Version: 1.0\n") and is_w3c(b"#Fields: date time c-ip\n")
    assert not is_w3c(b'{"user_id": "u1"}\n') and not is_w3c(b"203.0.113.9 - - [10/Oct/2024:13:55:36 -0700]")
    assert list(agent_objects([b"#Version: 1.0\n", b"\n"])) == []
