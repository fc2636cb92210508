"""A URL as the action it names (``page_of``): web logs and clickstream generators name an event by the page it
requested, and a model needs the page, not each request of it (its query, its ids)."""

from __future__ import annotations

import contextlib
import functools
import re
from urllib.parse import unquote_to_bytes, urlsplit


def page_of(name: str) -> str:
    """A URL (a path, or with its scheme and host, which are dropped) as the event type names the page, not one
    request of it:

    * the query string is dropped: it would make every request its own action, push long ones past the type's cap,
      and often carries personal data (emails, tokens);
    * each identifier in the path becomes ``*`` (``/product/123/reviews`` -> ``/product/*/reviews``, ``/files/
      60844.pdf`` -> ``/files/*.pdf``), as APM tools group routes: a site's thousands of product pages are one state of
      the model instead of thousands of rare ones folded into ``OTHER``, and an id, an email or an IP in a path is
      personal data. A segment that holds an ``@`` (an email) is one; so is a part of a segment (between dots and
      colons) that is all digits, a hex run of 8 or more with a digit (hashes, UUIDs), or 16 or more letters and
      digits with 2 or more digits (random tokens). Slugs and words are kept. A fragment stays: single-page
      apps route by it (``/#/cart``);
    * each segment's parameters go (``/cart;jsessionid=9F2C...`` is ``/cart``, as a servlet reads it: a session
      token), and the rules judge a segment percent-decoded, as its server reads it (``jane.doe%40example.com`` and
      the double-encoded ``%2540`` are an email), up to 3 decodings (a segment still encoded after them is ``*``).
      A decoded ``;`` or ``?`` starts parameters or a query as a written one does; a decoded ``/`` or ``#`` is no
      delimiter and stays ``%2F``, ``%23`` (its parts judged apart); what would not print (``%00``, ``%0A``, a
      right-to-left override, a byte that is no UTF-8: ``caf%E9``) stays its escape, upper-case; a ``%`` that
      escapes nothing is a ``%``. A page is then printable, valid UTF-8 and itself when read again. A path with
      neither ``%`` nor ``;`` is templated as before, as fast.

    An HTTP request line (``GET /product/123?ref=mail HTTP/1.1``, as a web log's JSON or a clickstream generator
    names its event) is the page it requests, prefixed by its method when that is not GET (``request_action``).
    Any other name loses its query string too (``search?q=someone@example.com`` is ``search``: the model's
    vocabulary is published, and a query's email would have been in it), and each word of it that holds an ``@``
    is ``*``, as a path's segment is (``login jane@example.com`` is ``login *``: a tester's event types that were
    e-mails sat in the published model's vocabulary); the rest (``what?``) is returned as it is."""
    if name[:1] != "/":
        line = _REQUEST_LINE.fullmatch(name) if " " in name[:17] else None
        if line is not None:
            return request_action(*line.groups())
        if "://" not in name[:12]:
            action, _, query = name.partition("?")
            action = action if query else name  # "what?" asks no query
            return _AT_WORD.sub("*", action) if "@" in action else action
        return _templated(_path_of(name.split("?", 1)[0]))
    return _templated(name.split("?", 1)[0])


def _path_of(url: str) -> str:
    """An absolute URL's path (and fragment): the page, whatever the scheme and host that served it. With them,
    ``http://shop.example/cart``, ``https://shop.example/cart`` and ``https://www.shop.example/cart`` were three
    states of the model (a tester's Matomo export); a server's log names the page by its path alone."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[not-an-address/": a scanner's, read as it is
        return url
    return (parts.path or "/") + (f"#{parts.fragment}" if parts.fragment else "")


def request_action(method: str, target: str) -> str:
    """The action of an HTTP request: its target's page (``page_of``), after its method unless that is GET. A
    target in absolute form (``http://shop.example:8080/a?b``: a proxy's request, and every request a load balancer
    logs) is the path it asks its server for, as RFC 9112 has the server read it: the same page as ``/a?b``."""
    if "://" in target[:20]:
        with contextlib.suppress(ValueError):  # "http://[not-an-address/": a scanner's, read as it is
            target = urlsplit(target).path or "/"
    page = page_of(target)
    return page if method == "GET" else f"{method} {page}"


@functools.lru_cache(maxsize=8192)  # a site's paths repeat, whatever their queries: each is templated once
def _templated(path: str) -> str:
    if "%" in path or ";" in path:  # rare: a path with neither is templated as it was, as fast
        return "/".join(map(_read_segment, path.split("/")))
    return "/".join(map(_judged, path.split("/")))


def _judged(segment: str) -> str:
    """A segment (decoded) with its identifiers as ``*`` (``page_of``'s rules)."""
    return "*" if "@" in segment else _PART.sub(_part, segment)


def _read_segment(segment: str) -> str:
    """A path segment as its server reads it (``page_of``): each part of it between ``#`` without its parameters
    (``;jsessionid=...``), percent-decoded (``_decoded``), then judged as a segment is."""
    if "%" not in segment and ";" not in segment:
        return _judged(segment)
    return "#".join(map(_read_part, segment.split("#")))


def _read_part(raw: str) -> str:
    text = _decoded(raw.split(";", 1)[0])
    if text is None:  # still encoded after _DECODINGS decodings: no page's word, a scanner's or an identifier
        return "*"
    pieces = _DELIMITER.split(text)  # a decoded / or # (no segment's end): each piece judged, the delimiter kept
    for i in range(0, len(pieces), 2):
        piece = _PARAMETERS.sub("", pieces[i])  # a decoded ; or ? starts parameters or a query as a written one does
        piece = _judged(piece)
        pieces[i] = piece if piece.isprintable() else "".join(map(_printable, piece))
    for i in range(1, len(pieces), 2):
        pieces[i] = _ENCODED_DELIMITER[pieces[i]]
    return "".join(pieces)


def _decoded(text: str) -> str | None:
    """``text`` percent-decoded as often as it holds an escape (double encoding, ``%2540``, is ``@``), up to
    ``_DECODINGS`` times (None when still encoded then); its bytes read as UTF-8, a byte that is none kept as its
    escape (``_printable``). A ``%`` that escapes nothing (``100%``, ``%zz``) is a ``%``."""
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(_DECODINGS):
        if _ESCAPE.search(data) is None:
            break
        data = unquote_to_bytes(data)
    else:
        if _ESCAPE.search(data) is not None:
            return None
    return data.decode("utf-8", "surrogateescape")


def _printable(char: str) -> str:
    """A decoded character as a page writes it: itself when printable; else (a control character, ``%00``, a
    format character such as a right-to-left override, a byte that is no UTF-8) its escape, upper-case."""
    if char.isprintable():
        return char
    if "\udc80" <= char <= "\udcff":  # a byte that was no UTF-8 (surrogateescape)
        return f"%{ord(char) - 0xDC00:02X}"
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def is_static_file(page: str) -> bool:
    """A URL (``page_of``'s) of an image, script, stylesheet, source map, font or web app manifest. Web usage mining
    drops these before anything else: a browser fetches them on its own with each page, in a burst, so they make
    people look like machines (more events a minute, sub-second gaps, many distinct requests) and say nothing of
    what the person did."""
    return (page[:1] == "/" or "://" in page[:12]) and _STATIC_FILE.search(page) is not None


def _part(match: re.Match[str]) -> str:
    text = match[0]
    if text.isdigit() or (_HAS_DIGIT.search(text) and (_HEX_ID.fullmatch(text) or _TOKEN_ID.fullmatch(text))):
        return "*"
    return text


_PART = re.compile(r"[^.:]+")
_AT_WORD = re.compile(r"[^\s@]*@\S*")
_DECODINGS = 3
_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")
_DELIMITER = re.compile(r"([/#])")
_ENCODED_DELIMITER = {"/": "%2F", "#": "%23"}
_PARAMETERS = re.compile(r"[;?].*", re.S)
_REQUEST_LINE = re.compile(r"([A-Z][A-Z_-]{0,15}) ((?:/|[A-Za-z][A-Za-z0-9+.-]{0,15}://)\S*)(?: HTTP/\d(?:\.\d)?)?")
_STATIC_FILE = re.compile(
    r"\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|woff2?|ttf|otf|eot|webmanifest)(?:#.*)?$", re.I
)
_HAS_DIGIT = re.compile(r"[0-9]")
_HEX_ID = re.compile(r"[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_TOKEN_ID = re.compile(r"(?=(?:[A-Za-z]*[0-9]){2})[A-Za-z0-9]{16,}")
