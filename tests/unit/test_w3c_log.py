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


# IIS behind a load balancer: X-Forwarded-For logged as a custom field (IIS 8.5+ names it after the header).
IIS_BEHIND_LB = b"""#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip sc-status time-taken X-Forwarded-For
2024-10-10 10:00:00 10.0.0.4 GET /a - 80 - 10.0.1.10 200 15 198.51.100.1
2024-10-10 10:00:01 10.0.0.4 GET /b - 80 - 10.0.1.10 200 15 198.51.100.2,+10.0.1.10
2024-10-10 10:00:02 10.0.0.4 GET /c - 80 - 10.0.1.11 200 15 -
2024-10-10 10:00:03 10.0.0.4 GET /d - 80 - 203.0.113.9 200 15 198.51.100.3
"""  # noqa: E501


def test_behind_a_load_balancer_the_client_is_the_first_forwarded_address():
    """A private c-ip is the load balancer: read as it was, every client became one of its two addresses."""
    got = _results(IIS_BEHIND_LB)
    assert [e.user_key for e in got] == ["198.51.100.1", "198.51.100.2", "10.0.1.11", "203.0.113.9"]


# CloudFront's standard log as its guide shows it (fields cut to those read and a few others): a line that ends in a
# tab (the guide's own third line), and status 000, a viewer that left before any response.
CLOUDFRONT = (
    b"#Version: 1.0\n"
    b"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer)\n"
    b"2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\n"
    b"2019-12-04\t21:02:32\tLAX1\t0\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/cart\t000\t-\t\n"
    b"2019-12-04\t21:02:33\tLAX1\t0\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/x\t200\n"
)


def test_a_trailing_tab_and_a_viewer_that_left_are_read_a_missing_cell_is_not():
    got = _results(CLOUDFRONT)
    assert [(e.user_key, e.token) for e in got[:2]] == [("192.0.2.100", "/index.html"), ("192.0.2.100", "/cart")]
    assert got[2] is Reason.BAD_ACCESS_LOG


def test_a_line_that_misses_its_fields_says_so_in_the_log_s_words():
    from clickguard.decoding import Decoder
    from clickguard.rejections import RejectedRecord

    [line] = list(agent_objects([b"#Fields: date time c-ip cs-method cs-uri-stem sc-status\n", b"2024-10-10 x\n"]))
    [item] = Decoder().items(line)
    assert isinstance(item.result, RejectedRecord) and "does not match its log's format" in item.result.detail
    assert "LOGTOJSON" not in item.result.detail
