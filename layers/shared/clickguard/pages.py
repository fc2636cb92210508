"""A URL as the action it names (``page_of``): web logs and clickstream generators name an event by the page it
requested, and a model needs the page, not each request of it (its query, its ids)."""

from __future__ import annotations

import contextlib
import functools
import re
from urllib.parse import urlsplit


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
      apps route by it (``/#/cart``).

    An HTTP request line (``GET /product/123?ref=mail HTTP/1.1``, as a web log's JSON or a clickstream generator
    names its event) is the page it requests, prefixed by its method when that is not GET (``request_action``).
    Any other name loses its query string too (``search?q=someone@example.com`` is ``search``: the model's
    vocabulary is published, and a query's email would have been in it); the rest (``what?``) is returned as it is."""
    if name[:1] != "/":
        line = _REQUEST_LINE.fullmatch(name) if " " in name[:17] else None
        if line is not None:
            return request_action(*line.groups())
        if "://" not in name[:12]:
            action, _, query = name.partition("?")
            return action if query else name  # "what?" asks no query
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
    return "/".join("*" if "@" in segment else _PART.sub(_part, segment) for segment in path.split("/"))


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
_REQUEST_LINE = re.compile(r"([A-Z][A-Z_-]{0,15}) ((?:/|[A-Za-z][A-Za-z0-9+.-]{0,15}://)\S*)(?: HTTP/\d(?:\.\d)?)?")
_STATIC_FILE = re.compile(
    r"\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|woff2?|ttf|otf|eot|webmanifest)(?:#.*)?$", re.I
)
_HAS_DIGIT = re.compile(r"[0-9]")
_HEX_ID = re.compile(r"[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_TOKEN_ID = re.compile(r"(?=(?:[A-Za-z]*[0-9]){2})[A-Za-z0-9]{16,}")
