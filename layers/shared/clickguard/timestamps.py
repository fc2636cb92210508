"""Event times as producers write them -> epoch milliseconds (``parse_timestamp``), and back (``format_ms``).

Every format reads its time through ``parse_timestamp``, so one rule covers them all: the accepted forms, the
1990-2100 window that catches unit mistakes, and the arrival time an untimed record is read at
(``time_if_missing``)."""

from __future__ import annotations

import contextlib
import email.utils
import enum
import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from clickguard.rejections import Reason, RejectedRecord, shown

# Times before 1990 or after 2100 are almost always mistakes: a unit misread (seconds as ms or the reverse), a
# relative count, a zero date (1970, 0001). 1990 predates the web, so the public logs of the 1990s (NASA-HTTP and
# the Internet Traffic Archive's others, 1994-1998) still read.
DAY_MS = 86_400_000
MIN_MS = 631_152_000_000
MAX_MS = 4_102_444_800_000
MIN_S, MAX_S = MIN_MS / 1000, MAX_MS / 1000


def parse_timestamp(value: Any) -> int:
    """ISO 8601 / RFC 3339 (``Z`` or an offset; naive means UTC), epoch seconds, milliseconds, microseconds or
    nanoseconds (told apart by size: each range of 1990-2100 is its own order of magnitude), or the two forms web
    logs carry (the common log format's ``10/Oct/2024:13:55:36 -0700``, as Apache, nginx and Fluent Bit's parsers
    write it, and RFC 2822 / HTTP-date ``Thu, 10 Oct 2024 20:55:36 GMT``) -> epoch milliseconds.

    Sub-millisecond digits are dropped; every whole millisecond round-trips exactly (a test checks it)."""
    if value is None or value == "":
        if (default := _TIME_IF_MISSING.get()) is not None:
            return default
        raise RejectedRecord(Reason.MISSING_TIMESTAMP, "no timestamp")
    kind = type(value)
    if kind is float or kind is int:
        try:
            ms = _scaled_ms(value)
        except (ValueError, OverflowError):  # NaN or +-inf (1e400 decodes to inf)
            raise RejectedRecord(Reason.BAD_NUMBER, f"timestamp is {shown(value)}") from None
    elif kind is str:
        text = value.strip()
        try:
            if text[4:5] == "-" or not text.replace(".", "", 1).isdigit():  # ISO in extended form skips the test
                dt = _text_time(text)
                ms = int((dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp() * 1000)
            else:  # digits, maybe one dot: an epoch number (a whole one read exactly, nanoseconds included)
                ms = _scaled_ms(int(text) if text.isdigit() else float(text))
        except (ValueError, OverflowError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
            raise RejectedRecord(Reason.BAD_TIMESTAMP, _unparseable(text)) from None
    else:
        raise RejectedRecord(Reason.BAD_TIMESTAMP, f"timestamp is a {kind.__name__}")
    if not MIN_MS <= ms <= MAX_MS:
        # the value, cut short (a counter under a time's name: a generator's "time": "1"), never a payload
        raise RejectedRecord(Reason.BAD_TIMESTAMP, f"timestamp {_shown_time(value)} is outside 1990-2100")
    return ms


# The time of an event whose record carries none (its arrival on the stream), set only while such a record is decoded
# again (``time_if_missing``): every format reads its time through ``parse_timestamp``, so one rule covers them all.
_TIME_IF_MISSING: ContextVar[int | None] = ContextVar("time_if_missing", default=None)


@contextlib.contextmanager
def time_if_missing(ts_ms: int) -> Iterator[None]:
    """Within the block an absent time reads as ``ts_ms`` instead of ``missing_timestamp``; a time that is present
    but wrong keeps its own verdict."""
    token = _TIME_IF_MISSING.set(ts_ms)
    try:
        yield
    finally:
        _TIME_IF_MISSING.reset(token)


def _shown_time(value: object, limit: int = 24) -> str:
    """A time that did not read, as its rejection quotes it: as written when it looks like a time (digits, a date's
    and a clock's separators, a month's or a zone's few letters), so a user sees which day or unit was misread;
    else its shape (``rejections.shown``): an e-mail, an address or a user agent under a time's name."""
    text = str(value)[:limit]
    if _TIME_LIKE.fullmatch(text) and sum(map(str.isalpha, text)) <= _TIME_LETTERS and not _is_address(text):
        return ascii(text)
    return shown(value, limit)


_TIME_LIKE = re.compile(r"[0-9A-Za-z /:.,+\-]*[0-9][0-9A-Za-z /:.,+\-]*")
_TIME_LETTERS = 12  # "Thu, 10 Oct 2024 20:55:36 GMT" has 9


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text.count(".") == 3 and text.replace(".", "").isdigit()  # an IPv4 address's spelling, out of range
    return True


def _unparseable(text: str) -> str:
    slashed = _SLASH_DATE.match(text)  # said here, off the path of the times that parse
    first, second = map(int, slashed.groups()) if slashed else (0, 0)
    if _DATE_ORDER.get() is None and 1 <= first <= 12 and 1 <= second <= 12 and first != second:
        return (
            f"ambiguous date {_shown_time(text)}: month/day or day/month? Write ISO 8601 (2024-10-02T13:55:36Z) or "
            "epoch, or set date_order"
        )
    return f"unparseable timestamp {_shown_time(text, 40)}"


def _scaled_ms(value: int | float) -> int:
    """An epoch number in seconds, milliseconds, microseconds or nanoseconds -> milliseconds, truncated toward zero
    (a whole number exactly: a float would round a nanosecond count's last digits)."""
    size = abs(value)
    if size < 1e11:
        return int(value * 1000)
    if size < 1e14:
        return int(value)
    divisor = 1_000 if size < 1e17 else 1_000_000
    if isinstance(value, int):
        whole = abs(value) // divisor
        return whole if value >= 0 else -whole
    return int(value / divisor)


def _text_time(text: str) -> datetime:
    """ISO 8601 first (what nearly every producer writes), but for the common log format's time, which no ISO time
    is (a ``/`` third: tried first, without an ISO attempt's exception); then the other forms. ``ValueError`` if
    none."""
    if text[2:3] == "/" and not text[3:4].isdigit():  # 10/Oct/2024:13:55:36 -0700 (English months, any locale)
        return _clf_time(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:  # CPython reads a fraction after the hour or the minute as one of a second: refused, never misread
        if dt.microsecond and not dt.second and _PART_OF_AN_HOUR.search(text):
            raise ValueError("a fraction of an hour or a minute")
        return dt
    if text[4:5] == "-":
        return _iso_variant(text.upper())
    if slashed := _SLASH_TIME.fullmatch(text):  # 21/11/2026 03:13:07, 11/21/2026 3:13 PM
        return _slash_time(*slashed.groups())
    if text[4:5] == "/":  # 2024/10/10 13:55:36: Go's log package, nginx's error log
        return _iso_variant(text.replace("/", "-", 2).upper())
    if dotted := _DOTTED_DATE.fullmatch(text):  # 02.10.2024 13:55: day first, as German and Russian write it
        day, month, year, hour, rest = dotted.groups()
        return datetime.fromisoformat(f"{year}-{month:0>2}-{day:0>2} {hour or 0:0>2}{rest or ':00'}")
    if js := _JS_DATE.fullmatch(text):  # String(new Date()) in JavaScript
        month, day, year, clock, offset = js.groups()
        return datetime.fromisoformat(f"{year}-{_MONTHS.index(month.lower()) + 1:02d}-{day:0>2}T{clock}{offset}")
    if text[:1].isalpha() or text[:2].strip().isdigit():
        return _mail_time(text)
    raise ValueError("not a time")


# ISO 8601's decimal hour or minute (``T12.5``, ``T12:30.5``, ``T1230,5``), which ``fromisoformat`` reads as
# ``12:00:00.5`` and ``12:30:00.5``; a fraction of a second always follows the seconds.
_PART_OF_AN_HOUR = re.compile(r"[Tt ]\d\d(?::?\d\d)?[.,]\d")
# 10/2/2024: month first in the US, day first elsewhere. A date whose first number passes 12 is day first, whose
# second does month first; one of two numbers up to 12 reads only in the order declared (``date_order``: a file's
# reader infers it from the file's other dates, a deployment names it), never guessed.
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/\d{2,4}(?:$|[ T,])")
_SLASH_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2})(:\d\d(?::\d\d(?:\.\d+)?)?)(?: ?([AaPp][Mm]))?)?")


class DateOrder(enum.StrEnum):
    """How a date of slashes reads: ``told``, only in the order it tells (``21/11``, ``11/21``); or always day or
    month first (the stream's ``date_order`` setting, a file's order as its dates told it)."""

    TOLD = "told"
    DAY_FIRST = "day_first"
    MONTH_FIRST = "month_first"


_DATE_ORDER: ContextVar[DateOrder | None] = ContextVar("date_order", default=None)
_SEEN_ORDERS: ContextVar[Counter[DateOrder] | None] = ContextVar("seen_orders", default=None)


@contextlib.contextmanager
def date_order(order: DateOrder | None) -> Iterator[None]:
    """Within the block a date of two numbers up to 12 (``5/6/2024``) reads in ``order``, and one that cannot
    (``11/21/2024`` day first) is unparseable; None: as outside any block."""
    token = _DATE_ORDER.set(None if order is DateOrder.TOLD else order)
    try:
        yield
    finally:
        _DATE_ORDER.reset(token)


@contextlib.contextmanager
def seen_date_orders() -> Iterator[Counter[DateOrder]]:
    """Counts, within the block, the dates read in the order they told themselves (``21/11``: day first): what a
    file's reader infers its ambiguous dates' order from."""
    seen: Counter[DateOrder] = Counter()
    token = _SEEN_ORDERS.set(seen)
    try:
        yield seen
    finally:
        _SEEN_ORDERS.reset(token)


def _slash_time(first: str, second: str, year: str, hour: str | None, rest: str | None, half: str | None) -> datetime:
    a, b = int(first), int(second)
    order = _DATE_ORDER.get()
    if order is None and a == b:  # 1/1/2024: the same day either way
        order = DateOrder.DAY_FIRST
    elif order is None:
        order = DateOrder.DAY_FIRST if a > 12 >= b else DateOrder.MONTH_FIRST if b > 12 >= a else None
        if order is None:
            raise ValueError("an ambiguous date")
        if (seen := _SEEN_ORDERS.get()) is not None:
            seen[order] += 1
    day, month = (a, b) if order is DateOrder.DAY_FIRST else (b, a)
    clock = int(hour or 0)
    if half is not None:
        if not 1 <= clock <= 12:
            raise ValueError("no such 12-hour time")
        clock = clock % 12 + (12 if half.upper() == "PM" else 0)
    return datetime.fromisoformat(f"{year}-{month:02d}-{day:02d} {clock:02d}{rest or ':00'}")


# d.m.yyyy, then h:mm[:ss[.fraction]]
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2})(:\d\d(?::\d\d(?:\.\d+)?)?))?")
_JS_DATE = re.compile(
    r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{4}) (\d\d:\d\d:\d\d) GMT([+-]\d{4})(?: \([^()]*\))?"
)


def _mail_time(text: str) -> datetime:
    """RFC 2822 and HTTP-date's three forms (IMF-fixdate, RFC 850, asctime: RFC 9110 asks recipients to read all
    three), and date(1)'s ``Thu Oct 10 13:55:36 UTC 2024``. A date without a zone is UTC; a zone it does not know
    is refused (it would read ``... 2024 junk`` as UTC): the text ends in a year, a time or a zone it knows. A
    12-hour clock's time has its own reader: the mail parser would take ``PM`` for an unknown zone and the time for
    the morning's."""
    if text[-2:].upper() in ("AM", "PM"):
        return _twelve_hour_time(text)
    try:
        dt = email.utils.parsedate_to_datetime(text)
    except (TypeError, IndexError) as exc:  # what it raises on some malformed dates
        raise ValueError(str(exc)) from None
    last = text.rsplit(None, 1)[-1]
    if dt.tzinfo is None and not (last.isdigit() or ":" in last or text.endswith("-0000")):  # ends in a year or time
        raise ValueError("a zone it does not know")
    if dt.tzinfo is None and any(word.lower() not in _DATE_WORDS for word in _WORD.findall(text)):
        raise ValueError("a zone it does not know")  # date(1)'s ``... 20:55:36 CEST 2024``: the parser ignored it
    return dt


def _twelve_hour_time(text: str) -> datetime:
    """``Oct 10, 2024 8:55:36 PM`` (Java's default date format, spreadsheets' and many US logs' form), with or
    without its weekday and seconds: UTC, as every time without a zone."""
    match = _TWELVE_HOUR.fullmatch(text)
    if match is None:
        raise ValueError("not Mon dd, yyyy h:mm[:ss] AM|PM")
    month, day, year, hour, minute, second, half = match.groups()
    if not 1 <= int(hour) <= 12 or month.lower() not in _MONTHS:
        raise ValueError("no such 12-hour time")
    hour24 = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
    return datetime(int(year), _MONTHS.index(month.lower()) + 1, int(day), hour24, int(minute), int(second or 0))


_TWELVE_HOUR = re.compile(
    r"(?:[A-Za-z]+,? )?([A-Za-z]{3})[A-Za-z]*\.? (\d{1,2}),? (\d{4}),? (\d{1,2}):(\d\d)(?::(\d\d))? ?([AaPp][Mm])"
)


def _iso_variant(upper: str) -> datetime:
    """The ISO 8601 / RFC 3339 forms ``fromisoformat`` refuses, upper-cased: RFC 3339's lower-case ``t`` and ``z``;
    a zone named after the time (" UTC", as data dumps write it) or a numeric offset after a space (" +0000"); RFC
    9557's suffix (Java's ``ZonedDateTime`` writes ``...+02:00[Europe/Paris]``: the offset alone fixes the instant,
    so a suffix needs one); an ordinal date (``2024-284``); the leap second ``23:59:60`` and the end of day
    ``24:00``, each the instant after, as POSIX time counts them."""
    if upper.endswith("]"):
        upper = upper[: upper.index("[")]
        if not _OFFSET_AT_END.search(upper[10:]):
            raise ValueError("a zone name without an offset")
    if upper.endswith((" UTC", " GMT")):
        upper = upper[:-4] + "+00:00"
    elif spaced := _SPACED_OFFSET.search(upper):  # "... 00:04:45.102 +0000": Snowflake's and SQL dumps' default
        upper = upper[: spaced.start()] + spaced[1]
    if ordinal := _ORDINAL_DATE.match(upper):
        year, day = int(ordinal[1]), int(ordinal[2])
        date = datetime(year, 1, 1) + timedelta(days=day - 1)
        if day < 1 or date.year != year:
            raise ValueError(f"day {day} of {year}")
        upper = f"{date:%Y-%m-%d}{upper[8:]}"
    if past := _PAST_THE_CLOCK.search(upper):
        name = "hour" if past["hour"] else "second"
        start, end = past.span(name)
        step = timedelta(days=1) if name == "hour" else timedelta(seconds=1)
        return datetime.fromisoformat(upper[:start] + ("00" if name == "hour" else "59") + upper[end:]) + step
    return datetime.fromisoformat(upper)


_OFFSET_AT_END = re.compile(r"(Z|[+-]\d\d(:?\d\d)?)$")
_SPACED_OFFSET = re.compile(r"(?<=\d) ([+-]\d\d:?\d\d)$")
_ORDINAL_DATE = re.compile(r"(\d{4})-(\d{3})(?=[T ]|$)")
_PAST_THE_CLOCK = re.compile(r"[T ](?:(?P<hour>24)(?=:00(:00([.,]0+)?)?(Z|[+-]|$))|\d\d:\d\d:(?P<second>60))")


@functools.lru_cache(maxsize=4096)  # a busy log repeats each second: parsed once (strptime took 6.7 us a time)
def _clf_time(text: str) -> datetime:
    """The common log format's time, ``10/Oct/2024:13:55:36 -0700``: two-digit day, English month, a zone."""
    match = _CLF.fullmatch(text)
    if match is None:
        raise ValueError("not dd/Mon/yyyy:HH:MM:SS +hhmm")
    day, month, year, hour, minute, second, sign, zh, zm = match.groups()
    offset = timedelta(hours=int(zh), minutes=int(zm))
    zone = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), _MONTHS.index(month.lower()) + 1, int(day), int(hour), int(minute), int(second), 0, zone)


_CLF = re.compile(r"(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
# The words a mail or date(1) time may hold besides a zone: weekdays and months, short and whole (English, as the
# formats are whatever the locale).
_DATE_WORDS = frozenset(
    [
        *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        *("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        *("january", "february", "march", "april", "june", "july", "august", "september", "october", "november"),
        "december",
        *_MONTHS,
    ]
)
_WORD = re.compile(r"[A-Za-z]+")


# An event dated more than this after its record reached the stream is read at arrival plus this: a clock that runs
# ahead (or a generator that dates a simulated day from now) would otherwise push its user's latest time into the
# future and make every later event of theirs late.
MAX_FUTURE_SKEW_MS = 5 * 60 * 1000


def effective_time(ts_ms: int, arrival_ms: int | None) -> int:
    """The time an event counts at: its own, at most ``MAX_FUTURE_SKEW_MS`` past its record's arrival (none known,
    as in a file: its own). The consumer and the archive's transformation both read it, so the trainer sees the
    times the consumer scored."""
    if arrival_ms and ts_ms > arrival_ms + MAX_FUTURE_SKEW_MS:
        return arrival_ms + MAX_FUTURE_SKEW_MS
    return ts_ms


def format_ms(ts_ms: int) -> str:
    """Epoch ms -> ISO 8601 UTC with a ``Z``, millisecond precision."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
