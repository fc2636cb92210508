"""Event schema: both input shapes, and one test per rejection reason."""

from __future__ import annotations

import json

import pytest

from clickguard import settings
from clickguard.decoding import DecodeConfig, Decoder
from clickguard.events import MAX_DEPTH, Event, UserKeySource, nesting_depth, parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import format_ms, parse_timestamp
from clickguard.training.dataset import EventColumns

ENVELOPE = {
    "timestamp": "2019-01-02T00:01:16Z",
    "source": "clickstream",
    "data": {
        "session": {"user_id": 24997128, "session_id": "s-1"},
        "event": {"event_type": "1", "event_name": "1", "event_created": "2019-01-02T00:01:15.500Z"},
        "device": {
            "access_token_id": "tok-abc",
            "imei": "356938035643809",
            "advertising_id": "ad-123",
            "gps": {"lat": 41.38, "lon": 2.17},
        },
        "request": {"user_ip": "203.0.113.7"},
    },
}


def canonical(**over):
    base = {"user_id": "u1", "event_type": "view_item", "timestamp": "2019-01-02T00:01:16Z"}
    base.update(over)
    return json.dumps(base).encode()


def rejection(data, **kw) -> Reason:
    with pytest.raises(RejectedRecord) as info:
        parse_record(data, **kw)
    return info.value.reason


def test_canonical_event_parses_to_internal_record():
    ev = parse_record(canonical(outcome="success", session_id="s9", event_id="e1", attributes={"x": 1}))
    assert ev == Event("u1", "view_item", 1546387276000, "s9", "e1")


def test_failed_outcome_is_a_distinct_token():
    assert parse_record(canonical(event_type="login", outcome="fail")).token == "login#fail"
    assert parse_record(canonical(event_type="login", outcome="FAILURE")).token == "login#fail"
    assert parse_record(canonical(event_type="login", outcome=False)).token == "login#fail"
    assert parse_record(canonical(event_type="login", outcome="ok")).token == "login"


def test_envelope_parses_with_session_user_id_first():
    ev = parse_record(json.dumps(ENVELOPE))
    assert ev.user_key == "24997128"
    assert ev.token == "1"
    assert ev.ts_ms == 1546387275500  # event_created wins over the envelope's arrival timestamp
    assert ev.session_id == "s-1"


def test_envelope_user_key_precedence_is_configurable():
    ev = parse_record(json.dumps(ENVELOPE), UserKeySource.DEVICE_TOKEN)
    assert ev.user_key == "tok-abc"
    no_user = json.loads(json.dumps(ENVELOPE))
    del no_user["data"]["session"]["user_id"]
    assert parse_record(json.dumps(no_user)).user_key == "tok-abc"


def test_envelope_personal_data_never_reaches_the_record():
    ev = parse_record(json.dumps(ENVELOPE))
    text = repr(ev) + json.dumps(ev._asdict())
    for secret in ("356938035643809", "203.0.113.7", "ad-123", "41.38", "2.17"):
        assert secret not in text


def test_envelope_falls_back_to_event_name_and_envelope_time():
    env = json.loads(json.dumps(ENVELOPE))
    env["data"]["event"] = {"event_name": "42"}
    ev = parse_record(json.dumps(env))
    assert (ev.token, ev.ts_ms) == ("42", 1546387276000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-01-02T00:01:16Z", 1546387276000),
        ("2019-01-02T01:01:16+01:00", 1546387276000),
        ("2019-01-02T00:01:16", 1546387276000),
        (1546387276, 1546387276000),
        (1546387276.25, 1546387276250),
        (1546387276000, 1546387276000),
        ("1546387276", 1546387276000),
        ("02/Jan/2019:01:01:16 +0100", 1546387276000),  # the common log format (Apache, nginx, Fluent Bit)
        ("01/Jan/2019:16:01:16 -0800", 1546387276000),
        ("Wed, 02 Jan 2019 00:01:16 GMT", 1546387276000),  # RFC 2822 / HTTP-date
        ("02 Jan 2019 01:01:16 +0100", 1546387276000),
        ("2019-01-02t00:01:16.000000001z", 1546387276000),  # RFC 3339's lower case, nanoseconds (Go, Vector)
        ("2019-01-02 00:01:16 UTC", 1546387276000),  # the zone named after the time, as data dumps write it
        ("2019-01-02 00:01:16.000 +0000", 1546387276000),  # a numeric offset after a space (Snowflake, SQL dumps)
        ("2019-01-02 01:01:16 +01:00", 1546387276000),
        (1546387276000999, 1546387276000),  # epoch microseconds
        (1546387276000999999, 1546387276000),  # epoch nanoseconds, exact (a float would round up to ...001)
        ("1546387276000999999", 1546387276000),
        (1546387276000999.0, 1546387276000),
        ("2019/01/02 00:01:16", 1546387276000),  # Go's log package, nginx's error log
        ("Wednesday, 02-Jan-19 00:01:16 GMT", 1546387276000),  # HTTP-date's RFC 850 form
        ("Wed Jan  2 00:01:16 2019", 1546387276000),  # HTTP-date's asctime form (no zone: GMT)
        ("Wed Jan  2 00:01:16 UTC 2019", 1546387276000),  # date(1)
        ("Wed, 02 Jan 2019 00:01:16 -0000", 1546387276000),  # RFC 2822's "zone unknown"
        ("2019-01-02T01:01:16+01:00[Europe/Paris]", 1546387276000),  # RFC 9557 (Java's ZonedDateTime)
        ("2019-01-02T00:01:16.000Z[UTC][u-ca=gregory]", 1546387276000),
        ("2019-002T00:01:16Z", 1546387276000),  # an ISO 8601 ordinal date
        ("2019-01-01T24:00:00Z", 1546387200000),  # ISO 8601's end of day: the next midnight
        ("2019-01-01T24:00+01:00", 1546383600000),
        ("2016-12-31T23:59:60Z", 1483228800000),  # RFC 3339's leap second: the instant after, as POSIX counts
        ("2016-12-31T23:59:60.500Z", 1483228800500),
        ("Jan 2, 2019 12:01:16 AM", 1546387276000),  # a 12-hour clock (Java's default format, spreadsheets)
        ("Tuesday, January 1, 2019 4:01 PM", 1546358460000),
        ("Jan 1, 2019 12:00:00 PM", 1546344000000),  # 12 PM is noon
        ("02.01.2019 00:01:16", 1546387276000),  # day first with dots (German and Russian exports)
        ("2.1.2019 0:01:16.000", 1546387276000),
        ("02.01.2019", 1546387200000),
        ("Wed Jan 02 2019 01:01:16 GMT+0100 (Central European Standard Time)", 1546387276000),  # String(new Date())
        ("Wed Jan 02 2019 00:01:16 GMT+0000", 1546387276000),
    ],
)
def test_timestamp_forms(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "02/Jnu/2019:01:01:16 +0100",  # no such month
        "2/Jan/2019:01:01:16 +0100",  # the day has two digits
        "02/Jan/2019:01:01:16",  # no zone: the common log format always has one
        "Wed, 32 Jan 2019 00:01:16 GMT",
        "Wed, 02 Jan 2019",
        "Wed, 02 Jan 2019 00:01:16 junk",  # a zone nobody defines is not read as UTC
        "Wed Jan  2 00:01:16 2019 junk",
        "2019-01-02T00:01:16[Europe/Paris]",  # a zone name alone needs the zone database: no guess at its offset
        "2019-366T00:00:00Z",  # 2019 has 365 days
        "2019-000",
        "2019-01-01T24:00:01Z",  # only 24:00 itself ends a day
        "2019-01-01T24:30Z",
        "2019-01-01T23:59:61Z",
        "2019/13/02 00:01:16",
        "Jan 2, 2019 13:01:16 PM",  # no 13 on a 12-hour clock
        "Jan 2, 2019 8:01:16 XM",
        "2 Jan 2019 8:01:16 PM",  # the mail parser would read PM as an unknown zone and 8 as the morning's 8
        "31.02.2019 00:01:16",  # no such day
        "Wed Jan 02 2019 00:01:16 GMT+0000 (unclosed",
    ],
)
def test_web_log_times_that_do_not_parse_are_bad_timestamps(value):
    assert rejection(canonical(timestamp=value)) is Reason.BAD_TIMESTAMP


@pytest.mark.parametrize("value", ["1/2/2019 00:01:16", "01/02/2019", "1/2/19 12:01 AM", "12/11/2019T00:00:00"])
def test_a_date_with_slashes_is_refused_as_ambiguous_not_guessed(value):
    """Month first in the US, day first elsewhere: a date of two numbers up to 12 cannot tell which (1/2 is both);
    ``test_slash_dates`` reads the others, and these in a declared order."""
    with pytest.raises(RejectedRecord) as exc:
        parse_timestamp(value)
    assert exc.value.reason is Reason.BAD_TIMESTAMP and "ambiguous date" in exc.value.detail


def test_format_ms_round_trips():
    assert format_ms(1546387276250) == "2019-01-02T00:01:16.250Z"
    assert parse_timestamp(format_ms(1546387276250)) == 1546387276250


# --- one test per rejection reason ------------------------------------------------------------------------------


def test_reject_not_utf8():
    assert rejection(b'{"user_id": "\xff\xfe"}') is Reason.NOT_UTF8


def test_reject_not_json():
    assert rejection(b"{user_id: u1") is Reason.NOT_JSON


def test_reject_not_object():
    assert rejection(b"[1, 2, 3]") is Reason.NOT_OBJECT


def test_reject_missing_user_key():
    body = json.loads(canonical())
    del body["user_id"]
    assert rejection(json.dumps(body)) is Reason.MISSING_USER_KEY


def test_reject_user_key_of_wrong_type():
    assert rejection(canonical(user_id={"id": 1})) is Reason.BAD_TYPE  # was missing_user_key before issue 8


def test_reject_empty_user_key():
    assert rejection(canonical(user_id="   ")) is Reason.EMPTY_USER_KEY


def test_reject_missing_event_type():
    body = json.loads(canonical())
    del body["event_type"]
    assert rejection(json.dumps(body)) is Reason.MISSING_EVENT_TYPE
    assert rejection(canonical(event_type="")) is Reason.MISSING_EVENT_TYPE


def test_reject_bad_timestamp():
    assert rejection(canonical(timestamp="yesterday")) is Reason.BAD_TIMESTAMP
    assert rejection(canonical(timestamp="1970-01-01T00:00:00Z")) is Reason.BAD_TIMESTAMP  # out of range


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01/Jul/1995:00:00:01 -0400", 804571201000),  # NASA-HTTP's first line: public logs of the 1990s read
        ("1998-05-01T00:00:00Z", 893980800000),  # the World Cup 98 logs
        (804571201, 804571201000),  # the same times as epoch numbers keep their unit
        (804571201000, 804571201000),
        ("1990-01-01T00:00:00Z", 631152000000),  # the window's first instant
    ],
)
def test_times_of_the_1990s_read(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    "value",
    ["1989-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", 3600, 86_400_000, 631_151_999, "31/Dec/1989:23:59:59 +0000"],
)
def test_a_zero_date_or_a_relative_count_is_a_bad_timestamp(value):
    """Before 1990: a default date (Go's and .NET's zero time), seconds or ms since a start, not since the epoch."""
    with pytest.raises(RejectedRecord) as exc:
        parse_timestamp(value)
    assert exc.value.reason is Reason.BAD_TIMESTAMP and "1990-2100" in exc.value.detail


def test_reject_missing_timestamp():
    body = json.loads(canonical())
    del body["timestamp"]
    assert rejection(json.dumps(body)) is Reason.MISSING_TIMESTAMP


def test_reject_user_key_too_long():
    assert rejection(canonical(user_id="u" * (settings.MAX_USER_KEY_CHARS + 1))) is Reason.USER_KEY_TOO_LONG
    assert parse_record(canonical(user_id="u" * settings.MAX_USER_KEY_CHARS))


def test_reject_event_type_too_long():
    long_type = "e" * (settings.MAX_EVENT_TYPE_CHARS + 1)
    assert rejection(canonical(event_type=long_type)) is Reason.EVENT_TYPE_TOO_LONG


def test_reject_record_too_large():
    big = canonical(attributes={"blob": "x" * settings.MAX_RECORD_BYTES})
    assert rejection(big) is Reason.RECORD_TOO_LARGE


def test_reject_unknown_outcome():
    assert rejection(canonical(outcome="maybe")) is Reason.UNKNOWN_OUTCOME
    for status in ("99", "600", "1000", "4O1", "\u0664\u0660\u0661"):  # not an HTTP status (the last: Arabic digits)
        assert rejection(canonical(outcome=status)) is Reason.UNKNOWN_OUTCOME


@pytest.mark.parametrize(
    ("status", "token"), [(200, "login"), ("302", "login"), (401, "login#fail"), ("503", "login#fail")]
)
def test_an_http_status_as_the_outcome_fails_from_400(status, token):
    assert parse_record(canonical(event_type="login", outcome=status)).token == token


def test_rejection_message_never_contains_the_payload():
    with pytest.raises(RejectedRecord) as info:
        parse_record(canonical(user_id="secret-user", outcome="maybe-secret-value-that-is-long-enough-to-cut"))
    assert "secret-user" not in str(info.value)


def test_timestamps_are_exact_to_the_millisecond():
    """Epoch seconds (as JSON floats) and ISO strings both round-trip every millisecond exactly."""
    import random

    rng = random.Random(5)
    for _ in range(20_000):
        ms = 1_700_000_000_000 + rng.randrange(10**11)
        assert parse_timestamp(ms / 1000) == ms
        assert parse_timestamp(format_ms(ms)) == ms


# --- issue 8: the parser is total; one test per class of input that used to escape as another exception ----------


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def canonical_text(**raw: str) -> str:
    """A canonical record with some field values given as raw JSON text (which json.dumps cannot produce)."""
    fields = {"user_id": '"u1"', "event_type": '"view_item"', "timestamp": '"2019-01-02T00:01:16Z"'} | raw
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


def test_reject_too_deep():
    assert rejection(b"[" * 5000 + b"]" * 5000) is Reason.TOO_DEEP  # RecursionError before
    assert rejection(b'{"a":' * 5000 + b"1" + b"}" * 5000) is Reason.TOO_DEEP
    assert rejection(b"[" * 60_000) is Reason.TOO_DEEP  # unbalanced, within the size cap
    assert rejection(canonical(attributes=nested(MAX_DEPTH))) is Reason.TOO_DEEP  # record + attributes = 65
    env = json.loads(json.dumps(ENVELOPE))
    env["data"]["device"]["gps"] = nested(200)
    assert rejection(json.dumps(env)) is Reason.TOO_DEEP


def test_depth_limit_is_exact_and_ignores_brackets_in_strings():
    assert parse_record(canonical(attributes=nested(MAX_DEPTH - 1))).user_key == "u1"
    assert nesting_depth(json.dumps(nested(MAX_DEPTH))) == MAX_DEPTH
    brackets = "[{" * 200 + '\\"' + "]" * 3
    assert parse_record(canonical(attributes={"s": brackets}, user_id="[{")).user_key == "[{"
    assert nesting_depth('{"a": "[[[[\\\\", "b": [[1]]}') == 3


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e309", "1" + "0" * 5000])
def test_reject_bad_number_as_timestamp(number):
    assert rejection(canonical_text(timestamp=number)) is Reason.BAD_NUMBER


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "-" + "9" * 4301])
def test_reject_bad_number_anywhere(number):
    assert rejection(canonical_text(attributes=f'{{"x":[{number}]}}')) is Reason.BAD_NUMBER
    assert rejection(canonical_text(outcome=number)) is Reason.BAD_NUMBER


def test_out_of_range_finite_numbers_are_bad_timestamps_not_bad_numbers():
    assert rejection(canonical_text(timestamp="1e300")) is Reason.BAD_TIMESTAMP
    assert rejection(canonical_text(timestamp="9" * 4000)) is Reason.BAD_TIMESTAMP
    assert rejection(canonical(timestamp="1" + "0" * 400)) is Reason.BAD_TIMESTAMP  # a digit string, not a number
    assert parse_record(canonical_text(attributes="1e400")).user_key == "u1"  # an ignored field may overflow


@pytest.mark.parametrize("field", ["user_id", "event_type", "outcome", "session_id", "event_id"])
@pytest.mark.parametrize("value", ["{}", "[]", '{"ip": "203.0.113.7"}', '["356938035643809"]', "1.5", "true"])
def test_reject_bad_type_in_a_string_field(field, value):
    if field == "outcome" and value == "true":
        return  # a boolean outcome is meaningful
    assert rejection(canonical_text(**{field: value})) is Reason.BAD_TYPE


def test_a_whole_float_id_is_the_integer_it_names():
    """pandas writes an integer column that has a gap as floats: ``12.0`` is user 12, on every path."""
    record = canonical_text(user_id="12.0", session_id="3.0", event_id="7.0")
    fast = Decoder().decode(record.encode())
    assert (fast.user_key, fast.session_id, fast.event_id) == ("12", "3", "7")
    assert fast == parse_record(record) == Decoder().decode_many([record.encode()])[0]
    for not_one_integer in ("12.5", "1e300"):
        assert rejection(canonical_text(user_id=not_one_integer)) is Reason.BAD_TYPE


def test_reject_bad_type_when_a_duplicate_key_ends_as_an_object():
    assert rejection('{"user_id":"u1","event_type":"x","timestamp":1546387276,"outcome":"ok","outcome":{}}') is (
        Reason.BAD_TYPE
    )
    assert rejection('{"user_id":"u1","event_type":"x","event_type":[],"timestamp":1546387276}') is Reason.BAD_TYPE


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "session", "user_id"), {"imei": "356938035643809"}),
        (("data", "session", "session_id"), {"user_ip": "203.0.113.7"}),
        (("data", "event", "event_id"), ["356938035643809"]),
        (("data", "event", "event_type"), {}),
        (("data", "event", "outcome"), []),
        (("event_id",), {"ip": "203.0.113.7"}),
    ],
)
def test_reject_bad_type_in_the_envelope(path, value):
    env = json.loads(json.dumps(ENVELOPE))
    if path == ("event_id",):
        del env["data"]["event"]["event_name"]
    target = env
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RejectedRecord) as info:
        parse_record(json.dumps(env))
    assert info.value.reason is Reason.BAD_TYPE
    assert "356938035643809" not in str(info.value) and "203.0.113.7" not in str(info.value)


def test_integer_ids_are_spelled_out_and_empty_ids_are_absent():
    ev = parse_record(canonical(user_id=42, session_id=7, event_id=""))
    assert (ev.user_key, ev.session_id, ev.event_id) == ("42", "7", None)
    assert parse_record(canonical(session_id="s" * 1000)).session_id == "s" * settings.MAX_USER_KEY_CHARS


@pytest.mark.parametrize("field", ["user_id", "event_type", "session_id", "event_id"])
def test_reject_bad_unicode_lone_surrogate(field):
    assert rejection(canonical_text(**{field: '"ab\\ud800"'})) is Reason.BAD_UNICODE
    assert rejection(canonical_text(**{field: '"\\udfff"'})) is Reason.BAD_UNICODE
    raw = json.dumps(json.loads(canonical_text(**{field: '"\\ud83d x"'})), ensure_ascii=False)
    assert "\ud83d" in raw and rejection(raw) is Reason.BAD_UNICODE  # a str holding the surrogate itself


def test_bad_unicode_in_the_envelope_and_valid_pairs_accepted():
    text = json.dumps(ENVELOPE).replace('"s-1"', '"s-\\ud800"')
    assert rejection(text) is Reason.BAD_UNICODE
    ev = parse_record(canonical_text(user_id='"\\ud83d\\ude00 \\u00e9"', attributes='"\\ud800"'))
    assert ev.user_key == "\U0001f600 \u00e9"  # a surrogate pair is one code point; ignored fields are not checked
    assert rejection(b'{"user_id": "u\xed\xa0\x80"}') is Reason.NOT_UTF8  # a UTF-8-encoded surrogate


def test_rejection_detail_is_ascii_and_holds_no_payload():
    for record in (
        canonical_text(outcome='"\\ud800caf\\u00e9 the-start-of-an-outcome-that-runs-on-past-the-cut"'),
        canonical_text(timestamp='"\\ud800 2019 the-start-of-a-timestamp-value-that-runs-on-past-the-cut"'),
        canonical_text(user_id='{"ip": "203.0.113.7"}'),
        canonical_text(attributes="[NaN]"),
    ):
        with pytest.raises(RejectedRecord) as info:
            parse_record(record)
        message = str(info.value)
        assert message.isascii() and len(message) < 120
        assert "203.0.113.7" not in message and "past-the-cut" not in message


@pytest.mark.parametrize(
    ("event_type", "token"),
    [
        ("/search?q=alice@example.com&page=2", "/search"),  # the page, not its parameters (nor the email in them)
        ("https://shop.example/cart?session=abc#top", "/cart"),  # the page, whatever its scheme and host
        ("http://www.shop.example/cart", "/cart"),
        ("/article/42?" + "utm_source=x&" * 20, "/article/*"),  # past the type's cap only because of its query
        ("/", "/"),
        ("what?", "what?"),  # not a URL: kept as it is
        ("view_item_42", "view_item_42"),
        # identifiers become *: the site's product pages are one page, and ids, emails and IPs are personal data
        ("/product/123/reviews", "/product/*/reviews"),
        ("/files/60844.pdf", "/files/*.pdf"),
        ("/dl/main.3f9a8c1d.tar.gz", "/dl/main.*.tar.gz"),
        ("/u/jane.doe@example.com/orders", "/u/*/orders"),
        ("https://10.0.0.1:8080/a/1", "/a/*"),
        ("/s/550e8400-e29b-41d4-a716-446655440000/", "/s/*/"),
        ("/t/aB3dE9fGhJ2kLmNoPq", "/t/*"),
        ("/#/cart/55", "/#/cart/*"),  # a single-page app's route is in its fragment, which stays
        # words and slugs stay, digits and all
        ("/2024/10/how-to-bake-bread-2024/", "/*/*/how-to-bake-bread-2024/"),
        ("/api/v2/items", "/api/v2/items"),
        ("/page/deadbeef", "/page/deadbeef"),
        ("/wiki/Main_Page", "/wiki/Main_Page"),
        ("/" + "1/" * 50, "/" + "*/" * 50),
        # an HTTP request line (a web log's JSON, a clickstream generator's event) is the page, after a non-GET method
        ("GET /product/123?ref=mail HTTP/1.1", "/product/*"),
        ("POST /u/jane@example.com/login HTTP/2", "POST /u/*/login"),
        ("GET https://shop.example/cart?session=abc HTTP/1.0", "/cart"),  # absolute form: the path it asks for
        ("POST http://shop.example:8080/login HTTP/1.1", "POST /login"),  # a proxy's request; the port is no id
        ("GET http://[::1/x HTTP/1.1", "http://[::*/x"),  # no URL urlsplit reads (a scanner's): templated as it is
        ("DELETE /cart/items/7", "DELETE /cart/items/*"),
        ("Add To Cart /x", "Add To Cart /x"),  # not a method: kept as it is
        ("GET", "GET"),
    ],
)
def test_a_url_as_the_event_type_is_the_page_it_names(event_type, token):
    assert parse_record(canonical(event_type=event_type)).token == token
    lines = [json.dumps({"user_id": f"u{i}", "event_type": event_type, "timestamp": 1546387276 + i}).encode()
             for i in range(3)]  # fmt: skip
    many = Decoder().decode_many(lines)  # the batch path (columns) agrees with one record at a time
    assert [e.token for e in many] == [token] * 3


@pytest.mark.parametrize(
    "event_type",
    [
        "/static/app.3f9a8c1d.js",
        "/img/60844.JPG",
        "/favicon.ico",
        "https://cdn.example/font.woff2",
        "/manifest.webmanifest",  # fetched by the browser on its own, as a page's icons are
        "GET /images/logo-small.png HTTP/1.1",
    ],
)
def test_a_page_s_static_file_is_no_user_action(event_type):
    """A browser fetches a page's images, scripts, stylesheets and fonts with it: static_file, one event or many."""
    assert rejection(canonical(event_type=event_type)) is Reason.STATIC_FILE
    lines = [json.dumps({"user_id": f"u{i}", "event_type": t, "timestamp": 1546387276 + i}).encode()
             for i, t in enumerate(["/article/1", event_type, "/article/2"])]  # fmt: skip
    many = Decoder().decode_many(lines)  # the batch path (columns) agrees with one record at a time
    assert [getattr(e, "token", None) or e.reason for e in many] == ["/article/*", Reason.STATIC_FILE, "/article/*"]
    assert parse_record(canonical(event_type="/report.pdf")).token == "/report.pdf"  # a document is read: an action


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"userId": "u1", "event": "view", "timestamp": "2019-01-02T00:01:16Z"}, ("u1", "view", 1546387276000, None)),
        (  # GA4's export: microseconds
            {"user_pseudo_id": "p1", "event_name": "page_view", "event_timestamp": 1546387276000000},
            ("p1", "page_view", 1546387276000, None),
        ),
        (  # an e-commerce event dump
            {
                "event_time": "2019-01-02 00:01:16 UTC",
                "event_type": "cart",
                "user_id": 5413,
                "user_session": "72d7",
            },
            ("5413", "cart", 1546387276000, "72d7"),
        ),
        (  # Logstash / Fluentd
            {"@timestamp": "2019-01-02T00:01:16.000Z", "user_id": "u1", "action": "/search?q=x", "sessionId": "s"},
            ("u1", "/search", 1546387276000, "s"),
        ),
        (  # the canonical name wins over an alias
            {"user_id": "u1", "userId": "u2", "event_type": "a", "event": "b", "timestamp": 1546387276, "time": 1},
            ("u1", "a", 1546387276000, None),
        ),
    ],
)
def test_flat_json_of_common_producers_is_read_under_their_field_names(record, expected):
    ev = parse_record(json.dumps(record))
    assert (ev.user_key, ev.token, ev.ts_ms, ev.session_id) == expected
    (many,) = Decoder().decode_many([json.dumps(record).encode()])  # the batch path reads them the same
    assert many == ev


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"visitorid": 257597, "event": "view", "timestamp": "1433221332117"}, ("257597", "view", 1433221332117, None)),
        ({"customer_id": "c1", "event_type": "login", "created_at": "2019-01-02T01:01:16+01:00", "session": "s"},
         ("c1", "login", 1546387276000, "s")),
        ({"client_id": "c2", "page_url": "https://shop.example/p/123?ref=x", "datetime": "2019-01-02 00:01:16"},
         ("c2", "/p/*", 1546387276000, None)),
        ({"user": "u3", "request": "POST /login HTTP/1.1", "time_local": "02/Jan/2019:00:01:16 +0000"},
         ("u3", "POST /login", 1546387276000, None)),
        # PostHog's event; Snowplow's enriched event as its Analytics SDKs write JSON; Amplitude's export (no user id)
        ({"event": "$pageview", "distinct_id": "ph-1", "timestamp": "2019-01-02T00:01:16Z",
          "properties": {"$current_url": "https://x.example/y", "$ip": "203.0.113.9"}},
         ("ph-1", "/y", 1546387276000, None)),  # a page view's page (since 12-01)
        ({"event": "$autocapture", "distinct_id": "ph-2", "timestamp": "2019-01-02T00:01:16Z",
          "properties": {"distinct_id": "ph-2", "$session_id": "x", "$ip": "203.0.113.9"}},  # Mixpanel's shape
         ("ph-2", "$autocapture", 1546387276000, "x")),
        ({"app_id": "web", "domain_userid": "d-1", "domain_sessionid": "s-1", "event_name": "page_view",
          "derived_tstamp": "2019-01-02 00:01:16.000", "user_ipaddress": "203.0.113.9"},
         ("d-1", "page_view", 1546387276000, "s-1")),
        ({"user_id": None, "amplitude_id": 5, "event_type": "click", "client_event_time": "2019-01-02 00:01:16.000000",
          "device_id": "dev-1"},
         ("5", "click", 1546387276000, None)),
        # a generator's login name (Faker's user_name, a KDG template's username)
        ({"username": "jdoe77", "event": "view", "ts": 1546387276}, ("jdoe77", "view", 1546387276000, None)),
        # an alias holding an object is another field of that name: the next alias is read
        ({"user": {"name": "Jane"}, "uid": "u4", "action": "view", "ts": 1546387276},
         ("u4", "view", 1546387276000, None)),
        # API Gateway's access log (its documented $context fields, the caller's id logged as userId)
        ({"requestId": "r-1", "userId": "u-42", "requestTime": "10/Oct/2025:13:55:36 +0000", "routeKey": "POST /login",
          "status": 401, "ip": "203.0.113.9"}, ("u-42", "POST /login#fail", 1760104536000, None)),
        ({"requestId": "r-2", "user": "-", "uid": "u-43", "requestTimeEpoch": 1760104536123,
          "resourcePath": "/items/{id}", "status": "200"}, ("u-43", "/items/{id}", 1760104536123, None)),
    ],
)  # fmt: skip
def test_exports_and_web_logs_are_read_under_their_field_names(record, expected):
    ev = parse_record(json.dumps(record))
    assert (ev.user_key, ev.token, ev.ts_ms, ev.session_id) == expected
    line = json.dumps(record).encode()
    assert Decoder().decode_many([line, line]) == [ev, ev]  # the consumer's batch path
    archive = EventColumns()
    archive.add_object(line + b"\n" + line + b"\n")  # the trainer's object at a time
    assert (archive.users, archive.session_ids) == ([expected[0]] * 2, [expected[3]] * 2)


def test_a_nested_user_record_gives_its_id_alone_and_an_id_is_never_guessed_as_the_event_s():
    nested = {"user": {"id": "u1", "email": "jane@example.com"}, "event": "view", "ts": 1546387276}
    assert parse_record(json.dumps(nested)) == Event("u1", "view", 1546387276000)
    assert rejection(json.dumps({**nested, "user": {"email": "jane@example.com"}})) is Reason.MISSING_USER_KEY
    ids = {"userId": "u1", "event": "view", "ts": 1546387276, "id": "per-user", "uuid": "per-user"}
    assert parse_record(json.dumps(ids)).event_id is None  # a per-user id would drop every later event as a duplicate
    assert parse_record(json.dumps({**ids, "messageId": "m-1"})).event_id == "m-1"


def test_an_alias_holding_a_web_log_s_dash_or_nothing_is_no_user():
    """API Gateway logs an anonymous caller's ``user`` as ``-``: read as a user, every anonymous request would be
    one user's."""
    for none in ("-", ""):
        assert rejection(json.dumps({"user": none, "event": "view", "ts": 1546387276})) is Reason.MISSING_USER_KEY


def test_an_alias_that_is_not_a_time_is_a_bad_timestamp_not_a_guess():
    assert rejection(json.dumps({"user_id": "u1", "event_type": "a", "time": 35})) is Reason.BAD_TIMESTAMP


T_MS, CANONICAL_NAMES = 1763700000000, {"user_id": "u1", "event_type": "view_item", "timestamp": 1763700000000}


@pytest.mark.parametrize(
    ("record", "ids"),
    [
        # another naming scheme (Amplitude's HTTP API and export: time, not timestamp): the ids by any of their names
        ({"user_id": "u1", "event_type": "view_item", "time": T_MS, "insert_id": "e2"}, (None, "e2")),
        ({"userId": "u1", "event": "view_item", "time": T_MS, "sessionId": 17, "$insert_id": "e3"}, ("17", "e3")),
        ({"user_id": "u1", "event_type": "cart", "event_time": "2025-11-21 04:40:00 UTC", "user_session": "s2"},
         ("s2", None)),
        # the canonical scheme: the ids by their canonical names alone
        ({**CANONICAL_NAMES, "sessionId": "s1"}, (None, None)),
        ({**CANONICAL_NAMES, "session_id": "s0", "eventId": "e1"}, ("s0", None)),
    ],
)  # fmt: skip
def test_an_id_under_another_name_is_read_the_same_on_every_path(record, ids):
    line = json.dumps(record).encode()
    single, reference = Decoder().decode(line), Decoder(DecodeConfig(fast_json=False)).decode(line)
    batch = Decoder().decode_many([line] * 3)  # a chunk per C call
    archive = EventColumns()
    archive.add_object(b"\n".join([line] * 3) + b"\n")  # the trainer's object at a time
    assert (single.session_id, single.event_id) == ids
    assert reference == single and batch == [single] * 3
    assert (archive.session_ids, archive.event_ids) == ([ids[0]] * 3, [ids[1]] * 3)


@pytest.mark.parametrize(
    ("record", "token"),
    [
        # the notebook's logs (seed 001): time, user, path, status
        ({"time": "2019-01-01 00:00:05", "user": "u1", "path": "login", "status": "fail"}, "login#fail"),
        ({"time": "2019-01-01 00:00:05", "user": "u1", "path": "login", "status": "success"}, "login"),
        ({"userId": "u1", "event": "login", "ts": 1546300805, "success": False}, "login#fail"),
        ({"userId": "u1", "event": "login", "ts": 1546300805, "result": "Denied"}, "login#fail"),
        ({"userId": "u1", "event": "view_cart", "ts": 1546300805, "status_code": 503}, "view_cart#fail"),
        ({"userId": "u1", "event": "checkout", "ts": 1546300805, "statusCode": "201"}, "checkout"),
        # a value that is no outcome is another field of that name: passed over, the next alias read
        ({"userId": "u1", "event": "login", "ts": 1546300805, "status": "active", "result": "failed"}, "login#fail"),
        ({"userId": "u1", "event": "login", "ts": 1546300805, "status": 0, "result": "1"}, "login"),
        # the outcome under its own name comes first, and keeps its strictness
        ({"userId": "u1", "event": "login", "ts": 1546300805, "outcome": "ok", "status": "fail"}, "login"),
        # the canonical scheme reads the aliases too (until 11-30l it read `outcome` alone, and a canonical record's
        # failures under `status` went unread), with the same strictness; `outcome` first
        ({"user_id": "u1", "event_type": "login", "timestamp": 1546300805, "status": "fail"}, "login#fail"),
        ({"user_id": "u1", "event_type": "login", "timestamp": 1546300805, "status": 401}, "login#fail"),
        ({"user_id": "u1", "event_type": "login", "timestamp": 1546300805, "success": False}, "login#fail"),
        ({"user_id": "u1", "event_type": "login", "timestamp": 1546300805, "status": "active"}, "login"),
        ({"user_id": "u1", "event_type": "login", "timestamp": 1546300805, "outcome": "success", "status": "fail"},
         "login"),
    ],
)  # fmt: skip
def test_an_outcome_under_another_name_is_read_when_its_value_is_one_on_every_path(record, token):
    line = json.dumps(record).encode()
    single, reference = Decoder().decode(line), Decoder(DecodeConfig(fast_json=False)).decode(line)
    archive = EventColumns()
    archive.add_object(b"\n".join([line] * 3) + b"\n")  # the trainer's object at a time
    assert single.token == token and reference == single
    assert Decoder().decode_many([line] * 3) == [single] * 3
    assert archive.tokens == [token] * 3


def test_an_unknown_outcome_under_its_own_name_is_still_rejected():
    record = {"userId": "u1", "event": "login", "ts": 1546300805, "outcome": "active", "status": "fail"}
    assert rejection(json.dumps(record)) is Reason.UNKNOWN_OUTCOME


@pytest.mark.parametrize(("sid", "expected"), [(-1, None), ("s-1", "s-1"), (7, "7"), ("-1", "-1")])
def test_a_numeric_session_id_of_minus_one_is_no_session(sid, expected):
    """Amplitude's export writes session_id -1 for events outside any session (a string is an id as written)."""
    record = {"user_id": "u1", "event_type": "view", "event_time": "2024-10-10 10:00:00.123456", "session_id": sid}
    assert parse_record(json.dumps(record)).session_id == expected


def test_a_path_names_the_page_before_a_url_does():
    record = {"user_id": "u1", "timestamp": "2024-10-10T10:00:00Z", "url": "https://shop.example/p/1", "path": "/p/1"}
    assert parse_record(json.dumps(record)).token == "/p/*"


@pytest.mark.parametrize(
    ("event_type", "token"),
    [("search?q=someone@example.com", "search"), ("search", "search"), ("view?item=42&ref=mail", "view"),
     ("/search?q=someone@example.com", "/search")],
)  # fmt: skip
def test_an_event_types_query_string_is_dropped_on_every_path(event_type, token):
    """The vocabulary is published in the model: a query's email ended up in it (a tester's ``search?q=...``)."""
    line = json.dumps({"user_id": "u1", "event_type": event_type, "timestamp": 1546300805}).encode()
    single, reference = Decoder().decode(line), Decoder(DecodeConfig(fast_json=False)).decode(line)
    archive = EventColumns()
    archive.add_object(b"\n".join([line] * 3) + b"\n")
    assert single.token == token and reference == single
    assert Decoder().decode_many([line] * 3) == [single] * 3
    assert archive.tokens == [token] * 3


def test_an_event_type_that_is_only_a_query_string_is_empty_on_every_path():
    line = json.dumps({"user_id": "u1", "event_type": "?q=x", "timestamp": 1546300805}).encode()
    assert rejection(line.decode()) is Reason.MISSING_EVENT_TYPE
    assert [e.reason for e in Decoder().decode_many([line] * 3)] == [Reason.MISSING_EVENT_TYPE] * 3
    archive = EventColumns()
    archive.add_object(b"\n".join([line] * 3) + b"\n")
    assert archive.tokens == [] and archive.rejected == {"missing_event_type": 3}
