"""``page_of`` on paths that percent-encode their text or carry ``;`` path parameters: the identifier rules judge
each segment as the server reads it (decoded, double encoding too), a segment's parameters (``;jsessionid=``) are
dropped, and the page stays printable, valid UTF-8 and stable; a path with neither is templated as it always was."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.decoding import Decoder
from clickguard.events import parse_record
from clickguard.pages import is_static_file, page_of
from tests.unit.test_events_fuzz import PROFILE

SESSION = "9F2C4B7A1E3D5F6081726354A9B8C7D6"


@pytest.mark.parametrize(
    ("url", "page"),
    [
        # an identifier the rules know, once decoded: an email (single and double encoded), digits, a token
        ("GET /account/jane.doe%40example.com/orders/7 HTTP/1.1", "/account/*/orders/*"),
        ("/account/jane.doe%2540example.com/orders", "/account/*/orders"),
        ("/account/jane.doe%252540example.com", "/account/*"),  # encoded three times: still read
        ("/account/jane.doe%25252540example.com", "/account/*"),  # four times: no page's word, an identifier
        ("/files/%36%30%38%34%34.pdf", "/files/*.pdf"),
        ("/t/aB3dE9fGhJ2k%4CmNoPq", "/t/*"),
        ("https://shop.example/u/jane%40example.com/cart", "/u/*/cart"),
        # path parameters (Java servlets' ;jsessionid=, matrix parameters) are dropped from every segment
        (f"/cart;jsessionid={SESSION}", "/cart"),
        (f"GET /cart;jsessionid={SESSION}?step=2 HTTP/1.1", "/cart"),
        (f"POST https://shop.example/cart;jsessionid={SESSION} HTTP/1.1", "POST /cart"),
        (f"https://shop.example/cart;jsessionid={SESSION}#top", "/cart#top"),
        (f"/cart;jsessionid={SESSION}#/step/2", "/cart#/step/*"),
        ("/product;color=red/123;v=2/reviews;", "/product/*/reviews"),
        (";x=1", ";x=1"),  # not a URL: kept as it is
        # an encoded ; or ? starts the segment's parameters or query just as a written one does
        (f"/cart%3Bjsessionid%3D{SESSION}", "/cart"),
        ("/search%3Fq%3Djane%2540example.com", "/search"),
        # decoded text is the page's: words, spaces, UTF-8
        ("/my%20page", "/my page"),
        ("/search/caf%C3%A9", "/search/café"),
        ("/img/logo%2Epng", "/img/logo.png"),
        ("/a/50%25off", "/a/50%off"),
        # what would not be printable text, or would read as a delimiter, stays encoded (hex upper-case)
        ("/a/x%00y", "/a/x%00y"),
        ("/a/%0d%0aSet-Cookie", "/a/%0D%0ASet-Cookie"),
        ("/a/%1b[31mred", "/a/%1B[31mred"),
        ("/a/%E2%80%AEgnp.exe", "/a/%E2%80%AEgnp.exe"),  # a right-to-left override
        ("/a/%C2%A0", "/a/%C2%A0"),  # a no-break space
        ("/search/caf%E9", "/search/caf%E9"),  # Latin-1, not UTF-8: its byte as sent
        ("/a/%ED%A0%80", "/a/%ED%A0%80"),  # an encoded surrogate is no UTF-8 either
        ("/files/a%2F12345", "/files/a%2F*"),  # an encoded / is no segment's end, but its parts are judged
        ("/x/%2e%2e%2fetc%2fpasswd", "/x/..%2Fetc%2Fpasswd"),
        ("/a%23123", "/a%23*"),
        # a % that escapes nothing is a %
        ("/a/100%", "/a/100%"),
        ("/a/%zz/%4", "/a/%zz/%4"),
    ],
)
def test_a_path_is_judged_as_its_server_reads_it(url, page):
    assert page_of(url) == page
    assert page_of(page) == page  # a page read again is itself


def test_no_email_or_session_token_reaches_an_event_s_token():
    """The tester's two requests, as an access log line and as a JSON event type: neither token holds the email
    or the session id."""
    lines = [
        f'203.0.113.7 - - [21/Nov/2025:04:40:00 +0000] "GET /cart;jsessionid={SESSION} HTTP/1.1" 200 1',
        '203.0.113.7 - - [21/Nov/2025:04:40:01 +0000] "GET /account/jane.doe%40example.com/orders/7 HTTP/1.1" 200 1',
    ]
    tokens = [Decoder().decode(line.encode()).token for line in lines]
    assert tokens == ["/cart", "/account/*/orders/*"]
    record = {"user_id": "u1", "event_type": "/account/jane.doe%2540example.com/orders", "timestamp": 1546387276}
    assert parse_record(json.dumps(record)).token == "/account/*/orders"


def test_an_encoded_static_file_is_a_static_file():
    assert is_static_file(page_of("/img/logo%2Epng")) and is_static_file(page_of("/app.js;v=3"))


def _before(path: str) -> str:
    """``page_of``'s templating of a path before percent-decoding and path parameters (11-30m), frozen."""
    return "/".join("*" if "@" in s else re.sub(r"[^.:]+", _before_part, s) for s in path.split("/"))


def _before_part(match: re.Match[str]) -> str:
    text, digit = match[0], re.search("[0-9]", match[0])
    hexes = re.fullmatch(r"[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", text)
    token = re.fullmatch(r"(?=(?:[A-Za-z]*[0-9]){2})[A-Za-z0-9]{16,}", text)
    return "*" if text.isdigit() or (digit and (hexes or token)) else text


PLAIN = st.text(st.sampled_from("/#.:@-_~!$&'()*+,=0123456789abcdefABCDEFxyzXYZé\u00a0 "), max_size=40)


@settings(PROFILE, max_examples=400)
@given(PLAIN, st.sampled_from(["", "?q=1"]))
def test_a_path_without_percent_or_semicolon_is_templated_as_before(path, query):
    assert page_of("/" + path + query) == _before("/" + path)


@pytest.mark.parametrize(
    "path",
    ["/product/123/reviews", "/files/60844.pdf", "/u/jane.doe@example.com/orders", "/s/550e8400-e29b-41d4-a716-"
     "446655440000/", "/t/aB3dE9fGhJ2kLmNoPq", "/#/cart/55", "/2024/10/how-to-bake-bread-2024/", "/page/deadbeef",
     "/dl/main.3f9a8c1d.tar.gz", "/a//b/", "/", "/" + "1/" * 50, "/x:8080/y.z", "/é/ü@"],
)  # fmt: skip
def test_known_plain_paths_are_templated_as_before(path):
    assert page_of(path) == _before(path)


ESCAPED = st.lists(
    st.one_of(
        st.sampled_from([*"/#;?.:@%-_=aB3", "%25", "%2F", "%3B", "%40", "%00", "%C3%A9", "%E9", "%ED%A0%80"]),
        st.characters(codec="utf-8"),
    ),
    max_size=30,
).map("".join)


@settings(PROFILE, max_examples=600)
@given(ESCAPED)
def test_a_decoded_page_is_printable_utf8_and_stable(path):
    page = page_of("/" + path)
    with_escapes = any(c in path.split("?", 1)[0] for c in "%;")
    if with_escapes and all(c.isprintable() for c in path):
        assert page.isprintable(), page
    page.encode("utf-8")  # no surrogate: valid UTF-8
    assert page_of(page) == page
