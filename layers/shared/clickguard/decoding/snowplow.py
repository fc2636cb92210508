"""Snowplow enriched events: one tab-separated line of ``COLUMNS`` fields per record, or many in one compressed record.

The column order is Snowplow's published enriched TSV layout (the order ``snowplow_analytics_sdk`` reads, which a
test checks field by field). Only these are read: the user key is ``user_id``, else ``domain_userid``, else
``network_userid``; the action ``event_name``, else ``event`` (``page_view``, ``struct``...), and a page view is its
page: ``page_urlpath`` read as a URL event type is (``pages.page_of``: ``/order/123`` -> ``/order/*``), since every
page view being ``page_view`` would say nothing, and a structured event (``struct``, whose ``event_name`` is always
``event``) is its ``se_action``, else its ``se_category``; the time ``derived_tstamp``, else ``collector_tstamp``
(``2013-11-26 00:02:05.123``, UTC); the session ``domain_sessionid``; the event id ``event_id``. The IP, user agent,
fingerprint, geolocation, device columns and the rest of the page's (its full URL, title, referrer: personal data)
are never read.

Compressed records (Enrich 6.11 on, opt-in, zstd by default, else gzip) hold many events. Once inflated
(``compressed``): a version byte (1), a payload-format byte (ignored, as Snowplow's own readers ignore it), then each
event as a 4-byte big-endian length and that many bytes of one TSV line, without a newline. Enrich streams a record
while it fills it, so a stream carries compressed and plain records side by side. The layout is the one Snowplow's
shared streams library writes and reads (``snowplow-incubator/common-streams``, ``streams/compression``); the docs'
page for it was not readable here, so the tests build records from that layout, not from Snowplow's examples. A header
or length that does not parse rejects the record as ``bad_snowplow_frame``.
"""

from __future__ import annotations

from clickguard.events import Event, opt_id, present, token_of, user_key_of
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import parse_timestamp

COLUMNS = 131
PAGE_VIEW = "page_view"
COLLECTOR_TSTAMP = 3
EVENT = 5
EVENT_ID = 6
USER_ID = 12
PAGE_URLPATH = 35
SE_CATEGORY = 53
SE_ACTION = 54
STRUCT = "struct"
DOMAIN_USERID = 15
NETWORK_USERID = 17
DOMAIN_SESSIONID = 123
DERIVED_TSTAMP = 124
EVENT_NAME = 126


FRAME_VERSION = 1
_LENGTH = 4


def is_framed(inflated: bytes) -> bool:
    """An inflated payload that starts with the compressed record's version byte (no text starts so)."""
    return inflated[:1] == bytes([FRAME_VERSION])


def framed_lines(inflated: bytes) -> list[bytes]:
    """The TSV lines of an inflated compressed record, in order (``bad_snowplow_frame`` when cut short)."""
    if len(inflated) < 2:
        raise RejectedRecord(Reason.BAD_SNOWPLOW_FRAME, "a compressed record without its 2-byte header")
    out: list[bytes] = []
    at, end = 2, len(inflated)
    while at < end:
        if at + _LENGTH > end:
            raise RejectedRecord(Reason.BAD_SNOWPLOW_FRAME, f"event {len(out) + 1}: its length is cut short")
        size = int.from_bytes(inflated[at : at + _LENGTH], "big")
        at += _LENGTH
        if at + size > end:
            raise RejectedRecord(
                Reason.BAD_SNOWPLOW_FRAME, f"event {len(out) + 1}: {size} bytes announced, {end - at} left"
            )
        out.append(inflated[at : at + size])
        at += size
    return out


def looks_like_tsv(data: bytes) -> bool:
    """A record whose first line holds tabs and that is not JSON: cheap to ask of every record."""
    head = data[:4096]
    return b"\t" in head and head.lstrip()[:1] not in (b"{", b"[")


def parse_tsv(line: bytes) -> Event:
    """One enriched event -> ``Event``; a line without exactly ``COLUMNS`` fields is ``bad_tsv``."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedRecord(Reason.NOT_UTF8, f"invalid byte at offset {exc.start}") from None
    cols = text.rstrip("\r\n").split("\t")
    if len(cols) != COLUMNS:
        raise RejectedRecord(
            Reason.BAD_TSV,
            f"{len(cols)} tab-separated fields, not a Snowplow enriched event's {COLUMNS}: name another export's"
            " columns with the field mapping's tsv_columns, or in a header line",
        )
    user = next((cols[i] for i in (USER_ID, DOMAIN_USERID, NETWORK_USERID) if cols[i].strip()), None)
    name = cols[EVENT_NAME] if present(cols[EVENT_NAME]) else cols[EVENT]
    if name == PAGE_VIEW and cols[PAGE_URLPATH].startswith("/"):
        name = cols[PAGE_URLPATH]
    elif cols[EVENT] == STRUCT:  # every structured event's event_name is "event": its action says what was done
        name = next((cols[i] for i in (SE_ACTION, SE_CATEGORY) if present(cols[i])), name)
    time = cols[DERIVED_TSTAMP] if present(cols[DERIVED_TSTAMP]) else cols[COLLECTOR_TSTAMP]
    return Event(
        user_key_of(user),
        token_of(name if present(name) else None, None),
        parse_timestamp(time),
        opt_id(cols[DOMAIN_SESSIONID], "session_id"),
        opt_id(cols[EVENT_ID], "event_id"),
    )
