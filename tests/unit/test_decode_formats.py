"""Each producer format decodes to the events it holds, and each of its failures has its own reason.

Records are built with the producers' own libraries where one exists (``aws_kinesis_agg``'s aggregator for KPL,
``snowplow_analytics_sdk``'s column list for Snowplow, ``gzip``/``zlib`` as Fluent Bit and CloudWatch compress),
otherwise from the published format (CloudWatch Logs' subscription payload shape).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.decoding import DecodeConfig, Decoder, Format, detect, kpl, parse_formats, snowplow
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import Event
from clickguard.rejections import Reason, RejectedRecord

T = 1763700000


def ev(user: str, etype: str = "view", k: int = 0, **extra) -> dict:
    return {"user_id": user, "event_type": etype, "timestamp": T + k, **extra}


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode()


def aggregate(records: list[tuple[str, bytes]]) -> bytes:
    """One KPL aggregate, built by aws_kinesis_agg's aggregator as the KPL builds it."""
    agg = RecordAggregator()
    for key, data in records:
        assert agg.add_user_record(key, data) is None
    _key, _ehk, data = agg.clear_and_get().get_contents()
    return data


def results(decoder: Decoder, data: bytes) -> list:
    """Each part's Event, or its reason."""
    return [i.result if isinstance(i.result, Event) else i.result.reason for i in decoder.items(data)]


def reason(decoder: Decoder, data: bytes) -> Reason:
    with pytest.raises(RejectedRecord) as info:
        decoder.decode(data)
    return info.value.reason


D = Decoder()


# --- KPL ------------------------------------------------------------------------------------------------------


def test_kpl_aggregate_gives_each_sub_record_with_its_own_partition_key():
    data = aggregate([("u1", line(ev("u1"))), ("u2", line(ev("u2", "buy"))), ("u1", line(ev("u1", k=1)))])
    assert detect(data) is Format.KPL
    items = D.decode(data)
    assert [(i.partition_key, i.result.user_key, i.result.token) for i in items] == [
        ("u1", "u1", "view"),
        ("u2", "u2", "buy"),
        ("u1", "u1", "view"),
    ]


def test_our_reader_reads_back_what_the_aggregator_put_in():
    subs = [(f"k{i % 7}", line(ev(f"u{i}", k=i)) + b"x" * (i % 300)) for i in range(500)]  # 1- and 2-byte lengths
    assert kpl.deaggregate(aggregate(subs)) == subs
    assert kpl.deaggregate(aggregate([("k", b"")])) == [("k", b"")]


def test_a_bad_sub_record_is_rejected_alone():
    data = aggregate([("u1", line(ev("u1"))), ("u2", b"not json"), ("u3", line(ev("u3")))])
    got = results(D, data)
    assert got[1] is Reason.NOT_JSON and [g.user_key for g in (got[0], got[2])] == ["u1", "u3"]
    assert D.decode(data)[1].data == b"not json" and D.decode(data)[1].partition_key == "u2"


def test_a_corrupt_or_truncated_aggregate_is_kpl_checksum():
    data = aggregate([("u1", line(ev("u1"))), ("u2", line(ev("u2")))])
    flipped = data[:30] + bytes([data[30] ^ 1]) + data[31:]
    assert reason(D, flipped) is Reason.KPL_CHECKSUM
    assert reason(D, data[:-7]) is Reason.KPL_CHECKSUM
    assert reason(D, kpl.MAGIC + b"\x00" * 5) is Reason.KPL_CHECKSUM


def with_digest(body: bytes) -> bytes:
    return kpl.MAGIC + body + hashlib.md5(body).digest()


@pytest.mark.parametrize(
    "body",
    [
        b"\x1a\x05\x08\x00\x1a\x01",  # a sub-record's data runs past its length
        b"\x0a\x02u1\x1a\x04\x08\x05\x1a\x00",  # a key index outside the table
        b"\x0a\x02u1\x1a\x02\x08\x00",  # a sub-record without data
        b"\x0a\x02u1\x1b",  # a group (wire type 3)
        b"\x0a\x02\xff\xfe\x1a\x04\x08\x00\x1a\x00",  # a partition key that is not UTF-8
        b"\x0a\x02u1\x1a\x04\x08\x00\x1a\x00" + b"\x1a\x0f\x08\x00\x1a" + b"\xff" * 11,  # a 12-byte varint
    ],
)
def test_a_protobuf_that_does_not_parse_is_kpl_malformed(body):
    assert reason(D, with_digest(body)) is Reason.KPL_MALFORMED


def test_an_aggregate_inside_an_aggregate_is_kpl_malformed():
    inner = aggregate([("u1", line(ev("u1")))])
    assert results(D, aggregate([("u1", inner)])) == [Reason.KPL_MALFORMED]


# --- gzip and zlib --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress], ids=["gzip", "zlib"])
def test_compressed_object_array_and_ndjson(compress):
    one, two = line(ev("u1")), line(ev("u2", k=1))
    assert D.decode(compress(one)).user_key == "u1"
    assert [r.user_key for r in results(D, compress(b"[" + one + b"," + two + b"]"))] == ["u1", "u2"]
    assert results(D, compress(one + b"\n\n" + b"oops\n" + two + b"\n"))[1] is Reason.NOT_JSON
    assert len(results(D, compress(one + b"\n" + two))) == 2


def test_gzip_members_concatenated_are_one_payload():
    data = gzip.compress(line(ev("u1")) + b"\n") + gzip.compress(line(ev("u2")) + b"\n")
    assert [r.user_key for r in results(D, data)] == ["u1", "u2"]


def test_a_decompression_bomb_is_rejected_without_inflating_it():
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces in about 64 KiB
    small = Decoder(DecodeConfig(max_decompressed_bytes=1024 * 1024))
    assert reason(small, bomb) is Reason.DECOMPRESSED_TOO_LARGE
    assert reason(small, zlib.compress(b"{" * (2 * 1024 * 1024))) is Reason.DECOMPRESSED_TOO_LARGE
    exact = Decoder(DecodeConfig(max_decompressed_bytes=len(line(ev("u1")))))
    assert exact.decode(gzip.compress(line(ev("u1")))).user_key == "u1"  # exactly the cap is not past it


def test_corrupt_truncated_or_trailing_bytes_are_bad_compression():
    good = gzip.compress(line(ev("u1")))
    assert reason(D, good[:-6]) is Reason.BAD_COMPRESSION
    assert reason(D, good[:12] + b"\x00" * 8 + good[20:]) is Reason.BAD_COMPRESSION
    assert reason(D, good + b"trailing") is Reason.BAD_COMPRESSION
    assert reason(D, zlib.compress(line(ev("u1")))[:-3]) is Reason.BAD_COMPRESSION


# --- CloudWatch Logs ------------------------------------------------------------------------------------------


def subscription(messages: list[str], kind: str = "DATA_MESSAGE") -> bytes:
    """A subscription payload as CloudWatch Logs delivers it (gzip of this JSON, per its documentation)."""
    doc = {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": "/app/clicks",
        "logStream": "i-0abc",
        "subscriptionFilters": ["clickguard"],
        "logEvents": [{"id": str(i), "timestamp": (T + i) * 1000, "message": m} for i, m in enumerate(messages)],
    }
    return gzip.compress(json.dumps(doc).encode())


def test_cloudwatch_data_message_gives_each_log_event():
    data = subscription([json.dumps(ev("u1")), json.dumps({"user_id": "u2", "event_type": "x"}), "START Request"])
    got = results(D, data)
    assert got[0].user_key == "u1" and got[1].ts_ms == (T + 1) * 1000 and got[2] is Reason.NOT_JSON


def test_cloudwatch_control_message_is_counted_apart():
    assert reason(D, subscription(["CWL CONTROL MESSAGE: Checking health of destination"], "CONTROL_MESSAGE")) is (
        Reason.CONTROL_MESSAGE
    )


# --- Snowplow -------------------------------------------------------------------------------------------------


def snowplow_line(**fields: str) -> bytes:
    """An enriched event in the column order snowplow_analytics_sdk reads (Snowplow's published layout)."""
    from snowplow_analytics_sdk.event_transformer import ENRICHED_EVENT_FIELD_TYPES

    names = [name for name, _ in ENRICHED_EVENT_FIELD_TYPES]
    row = {n: "" for n in names}
    row.update(app_id="shop", platform="web", collector_tstamp="2025-11-21 04:40:00.000", event="page_view",
               event_id="c6ef3124-b53a-4b13-a233-0088f79dcbcb", user_ipaddress="203.0.113.9",
               useragent="Mozilla/5.0 (Snowplow)", domain_userid="d-1", geo_city="Lleida")  # fmt: skip
    row.update(fields)
    return "\t".join(row[n] for n in names).encode()


def test_snowplow_columns_are_the_sdks():
    from snowplow_analytics_sdk.event_transformer import ENRICHED_EVENT_FIELD_TYPES

    names = [name for name, _ in ENRICHED_EVENT_FIELD_TYPES]
    assert len(names) == snowplow.COLUMNS
    for attr in ("COLLECTOR_TSTAMP", "EVENT", "EVENT_ID", "USER_ID", "DOMAIN_USERID", "NETWORK_USERID",
                 "DOMAIN_SESSIONID", "DERIVED_TSTAMP", "EVENT_NAME", "PAGE_URLPATH",
                 "SE_CATEGORY", "SE_ACTION"):  # fmt: skip
        assert names[getattr(snowplow, attr)] == attr.lower()


def test_snowplow_enriched_line_decodes_and_the_sdk_reads_the_same_line():
    from snowplow_analytics_sdk.event_transformer import transform

    data = snowplow_line(user_id="u9", domain_sessionid="s-3", event_name="add_to_cart",
                         derived_tstamp="2025-11-21 04:40:01.250")  # fmt: skip
    event = D.decode(data)
    assert (event.user_key, event.token, event.session_id) == ("u9", "add_to_cart", "s-3")
    assert event.ts_ms == 1763700001250 and event.event_id == "c6ef3124-b53a-4b13-a233-0088f79dcbcb"
    sdk = transform(data.decode())
    assert sdk["user_id"] == "u9" and sdk["event_name"] == "add_to_cart"
    fallback = D.decode(snowplow_line())
    assert (fallback.user_key, fallback.token, fallback.ts_ms) == ("d-1", "page_view", 1763700000000)


def test_a_snowplow_page_view_is_its_page():
    """Every page view named page_view would say nothing: its page_urlpath is the action, read as a URL is."""
    view = D.decode(snowplow_line(page_urlpath="/order/123", page_url="https://shop.example/order/123?e=a@b.c"))
    assert view.token == "/order/*" and "a@b.c" not in repr(view)
    assert D.decode(snowplow_line(event_name="add_to_cart", page_urlpath="/order/123")).token == "add_to_cart"
    assert D.decode(snowplow_line(page_urlpath="")).token == "page_view"


def test_a_snowplow_structured_event_is_its_action():
    """A structured event's event_name is always "event": add-to-cart, remove and purchase were one state."""
    line = snowplow_line(event="struct", event_name="event", se_category="shop", se_action="add-to-cart")
    assert D.decode(line).token == "add-to-cart"
    assert D.decode(snowplow_line(event="struct", event_name="event", se_category="shop")).token == "shop"
    assert D.decode(snowplow_line(event="struct", event_name="event")).token == "event"


def test_snowplow_lines_in_a_gzip_record_and_a_short_line():
    data = gzip.compress(snowplow_line(user_id="a") + b"\n" + snowplow_line(user_id="b") + b"\n")
    assert [r.user_key for r in results(D, data)] == ["a", "b"]
    assert reason(D, b"shop\tweb\t2025-11-21") is Reason.BAD_TSV


# --- access logs ------------------------------------------------------------------------------------------------
# Lines in the common and combined log formats as Apache's mod_log_config documents them (nginx's "combined" is
# the same), including what real logs hold: a TLS handshake on the HTTP port, an escaped quote (a bare "-", a
# connection that sent no request, is skipped: ``test_json_access_log``).

COMBINED = (
    '203.0.113.7 - - [21/Nov/2025:04:40:00 +0000] "GET /product/123?ref=a@b.c HTTP/1.1" 200 2326 "https://x/?q=1" '
    '"Mozilla/5.0 (PII)"'
)
COMMON = 'crawler.example - frank [21/Nov/2025:05:40:01 +0100] "POST /login?next=/a HTTP/1.0" 401 12'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (COMBINED, ("203.0.113.7", "/product/*", 1763700000000)),
        (COMMON, ("crawler.example", "POST /login#fail", 1763700001000)),
        ("shop.example:443 " + COMBINED, ("203.0.113.7", "/product/*", 1763700000000)),  # Apache's vhost_combined
        ('2001:db8::1 - - [21/Nov/2025:04:40:00 +0000] "GET / HTTP/1.1" 200 1', ("2001:db8::1", "/", 1763700000000)),
        (
            '::1 - - [21/Nov/2025:04:40:00 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"',
            ("::1", "(bad request)#fail", 1763700000000),
        ),
        (
            '10.0.0.1 - - [21/Nov/2025:04:40:00 +0000] "HEAD /a\\"b HTTP/2.0" 304 - "-" "curl" 0.003',
            ("10.0.0.1", 'HEAD /a"b', 1763700000000),  # Apache's escaped quote is the quote the client sent
        ),
    ],
)
def test_an_access_log_line_is_the_client_s_request_of_a_page(text, expected):
    event = D.decode(text.encode())
    assert detect(text.encode()) is Format.ACCESS_LOG
    assert (event.user_key, event.token, event.ts_ms) == expected and event.session_id is None
    assert "Mozilla" not in repr(event) and "frank" not in repr(event) and "a@b.c" not in repr(event)


def test_access_log_lines_in_one_record_gzip_cloudwatch_and_fluent_bit():
    lines = COMBINED + "\n" + COMMON + "\n" + '203.0.113.7 - - [21/Nov/2025:04:40:00 +0000] "GET / HTTP/1.1" 2x0 1\n'
    expected = ["/product/*", "POST /login#fail", Reason.BAD_ACCESS_LOG]
    tokens = [r if isinstance(r, Reason) else r.token for r in results(D, lines.encode())]
    assert tokens == expected
    assert [r if isinstance(r, Reason) else r.token for r in results(D, gzip.compress(lines.encode()))] == expected
    cloudwatch_tokens = [r.token for r in results(D, subscription([COMBINED, COMMON]))]  # a web server's log group
    assert cloudwatch_tokens == ["/product/*", "POST /login#fail"]
    shipped = D.decode(json.dumps({"log": COMBINED, "stream": "stdout", "time": "2025-11-21T04:40:00Z"}).encode())
    assert (shipped.user_key, shipped.token) == ("203.0.113.7", "/product/*")  # Fluent Bit's and Docker's wrapper
    assert reason(D, json.dumps({"log": "GET / 200"}).encode()) is Reason.MISSING_USER_KEY
    no_logs = Decoder(DecodeConfig(formats=frozenset(Format) - {Format.ACCESS_LOG}))
    assert reason(no_logs, COMBINED.encode()) is Reason.FORMAT_DISABLED
    assert reason(no_logs, json.dumps({"log": COMBINED}).encode()) is Reason.MISSING_USER_KEY


def test_a_json_line_an_application_logged_is_read_from_its_shipper_s_log_field():
    """Docker's json-file driver and Fluent Bit's tail input ship the line as the string ``log`` (newline kept)."""
    event = {"user_id": "u1", "event_type": "view_item", "timestamp": 1763700000000, "ip": "203.0.113.7"}
    shipped = {"log": json.dumps(event) + "\n", "stream": "stdout", "time": "2025-11-21T04:40:00.123Z"}
    got = D.decode(json.dumps(shipped).encode())
    assert (got.user_key, got.token, got.ts_ms) == ("u1", "view_item", 1763700000000)
    assert Decoder(DecodeConfig(fast_json=False)).decode(json.dumps(shipped).encode()) == got  # the reference agrees
    mapped = Decoder(
        DecodeConfig(mapping=FieldMapping.parse('{"user_key": "who", "event_type": "what", "time": "at"}'))
    )
    inner = {"who": "u2", "what": "search", "at": "2025-11-21T04:40:00Z"}
    assert mapped.decode(json.dumps({"log": json.dumps(inner)}).encode()).user_key == "u2"  # the mapping reads it
    # the logged line's own verdict; a line wrapped twice is not unwrapped again
    assert reason(D, json.dumps({"log": json.dumps({"user_id": "u1", "timestamp": 1})}).encode()) is (
        Reason.MISSING_EVENT_TYPE
    )
    assert reason(D, json.dumps({"log": "{not json"}).encode()) is Reason.NOT_JSON
    assert reason(D, json.dumps({"log": json.dumps({"log": json.dumps(event)})}).encode()) is Reason.MISSING_USER_KEY
    assert reason(D, b'{"log": "{\\"user_id\\": \\"\\ud800\\"}"}') is Reason.BAD_UNICODE


def test_a_json_line_shipped_by_vector_logstash_or_filebeat_is_read_from_message():
    """Vector's file source, Logstash and Filebeat ship the line as the string ``message`` (Filebeat's ``log`` is an
    object of the file's details); the shippers' own fields (host, agent, file) are never read."""
    event = {"user_id": "u1", "event_type": "view_item", "timestamp": 1763700000000}
    line = json.dumps(event)
    vector = {
        "file": "/var/log/app.log",
        "host": "web-1",
        "message": line,
        "source_type": "file",
        "timestamp": "2025-11-21T04:40:00.123Z",
    }
    filebeat = {
        "@timestamp": "2025-11-21T04:40:00.123Z",
        "@metadata": {"beat": "filebeat"},
        "message": line,
        "log": {"offset": 0, "file": {"path": "/var/log/app.log"}},
        "host": {"name": "web-1"},
    }
    for shipped in (vector, filebeat):
        body = json.dumps(shipped).encode()
        got = D.decode(body)
        assert (got.user_key, got.token, got.ts_ms) == ("u1", "view_item", 1763700000000)
        assert Decoder(DecodeConfig(fast_json=False)).decode(body) == got
    access = {"message": COMBINED, "host": "web-1"}  # an access log line shipped the same way
    assert D.decode(json.dumps(access).encode()).token == "/product/*"
    assert reason(D, json.dumps({"message": "started", "host": "web-1"}).encode()) is Reason.MISSING_USER_KEY


@pytest.mark.parametrize("start", ["80.1.2.3", "hb-7.example", "Hj.example", "XG.example", "x^.example"])
def test_text_that_starts_like_a_zlib_header_is_not_taken_for_zlib(start):
    """One text in 31 whose first byte is 8, H, X, h or x passes RFC 1950's header check (a client at 80.x.x.x);
    real deflate data after it is never text."""
    text = f'{start} - - [21/Nov/2025:04:40:00 +0000] "GET / HTTP/1.1" 200 1'.encode()
    assert (text[0] << 8 | text[1]) % 31 == 0  # the header check alone would say zlib
    assert detect(text) is Format.ACCESS_LOG and D.decode(text).user_key == start  # a host name as logged
    assert detect(zlib.compress(text)) is Format.ZLIB and detect(zlib.compress(text, level=0)) is Format.ZLIB


@pytest.mark.parametrize(
    ("host", "status", "expected"),
    [
        ("UNICOMP6.unicomp.net", "200", ("UNICOMP6.unicomp.net", "/")),  # NASA-HTTP's clients: names, as logged
        ("fe80::1%eth0", "200", ("fe80::1", "/")),  # the zone is the server's interface
        ("203.0.113.7", "000", ("203.0.113.7", "/")),  # a client that left before any response: no outcome
        ("203.0.113.7", "499", ("203.0.113.7", "/#fail")),
    ],
)
def test_an_access_log_s_client_and_status_as_written_by_servers(host, status, expected):
    event = D.decode(f'{host} - - [01/Jul/1995:00:00:01 -0400] "GET / HTTP/1.0" {status} -'.encode())
    assert (event.user_key, event.token) == expected


@pytest.mark.parametrize("host", ["-", "unix:", "unix:/run/nginx.sock"])
def test_a_line_with_no_client_address_names_no_user(host):
    """Every such line would otherwise be one user: a client made of all the requests without an address."""
    line = f'{host} - - [21/Nov/2025:04:40:00 +0000] "GET / HTTP/1.1" 200 1'.encode()
    assert reason(D, line) is Reason.MISSING_USER_KEY


def test_a_line_that_starts_as_an_access_log_but_is_not_one_is_bad_access_log():
    assert reason(D, b'10.0.0.1 - - [21/Nov/2025:04:40:00 +0000] "GET / HTTP/1.1" 20 1') is Reason.BAD_ACCESS_LOG
    assert reason(D, b'10.0.0.1 - - [yesterday] "GET / HTTP/1.1" 200 1') is Reason.BAD_TIMESTAMP


# --- field mapping ----------------------------------------------------------------------------------------------

MAPPING = {
    "user_key": ["actor.id", "anon"],
    "event_type": "action.name",
    "time": "at",
    "outcome": "action.status",
    "failure_values": ["error", "DENIED", False],
    "session_id": "sess",
    "event_id": "id",
    "amount": "order.total",
    "friend_id": "peer",
}


def test_mapping_reads_any_json_and_leaves_known_shapes_alone():
    d = Decoder(DecodeConfig(mapping=FieldMapping.from_dict(MAPPING)))
    other = {"actor": {"id": 7, "ip": "203.0.113.5"}, "action": {"name": "pay", "status": "denied"}, "at": T * 1000,
             "sess": "s1", "id": "e1", "order": {"total": "12.50"}, "peer": "u8"}  # fmt: skip
    got = d.decode(line(other))
    assert got == Event("7", "pay#fail", T * 1000, "s1", "e1", 12.5, "u8")
    assert d.decode(line({"anon": "a1", "action": {"name": "view"}, "at": "2025-11-21T04:40:00Z"})).user_key == "a1"
    assert d.decode(line(ev("u1"))).user_key == "u1"  # no mapped user key: read by shape
    assert "203.0.113.5" not in repr(got)


def test_a_mapped_dotted_path_is_also_a_flattened_column_s_name():
    """``pandas.json_normalize`` and warehouse exports write nested fields as columns named with dots."""
    d = Decoder(DecodeConfig(mapping=FieldMapping.from_dict(MAPPING)))
    flat = {"actor.id": 7, "action.name": "pay", "at": T * 1000}
    assert (d.decode(line(flat)).user_key, d.decode(line(flat)).token) == ("7", "pay")
    nested_first = {**flat, "actor": {"id": 8}}  # both: the nested path, as the mapping reads first
    assert d.decode(line(nested_first)).user_key == "8"


CLOUDFRONT_FIELDS = ["timestamp", "c-ip", "time-to-first-byte", "sc-status", "sc-bytes", "cs-method", "cs-protocol",
                     "cs-host", "cs-uri-stem", "cs-bytes", "x-edge-location", "x-edge-request-id", "cs-user-agent",
                     "cs-uri-query"]  # fmt: skip


def cloudfront_line(ip: str, stem: str, status: str, at: str = "1763700000.143") -> bytes:
    """A CloudFront real-time log record as its documentation describes it: the configuration's fields, in its
    order, tab-separated, ``-`` for an empty one."""
    cells = [at, ip, "0.002", status, "512", "GET", "https", "d111111abcdef8.cloudfront.net", stem, "78",
             "LHR62-C2", "Ab3xW==", "Mozilla/5.0%20(PII)", "-"]  # fmt: skip
    return "\t".join(cells).encode()


def test_a_header_less_tsv_line_reads_through_the_mapping_s_columns():
    """CloudFront real-time logs (a web distribution's requests on Kinesis) name no column: tsv_columns does."""
    cloudfront = {"user_key": "c-ip", "event_type": "cs-uri-stem", "time": "timestamp", "outcome": "sc-status",
                  "tsv_columns": CLOUDFRONT_FIELDS}  # fmt: skip
    d = Decoder(DecodeConfig(mapping=FieldMapping.from_dict(cloudfront)))
    got = d.decode(cloudfront_line("203.0.113.7", "/product/123", "200"))
    assert got == Event("203.0.113.7", "/product/*", 1763700000143, None, None) and "PII" not in repr(got)
    assert d.decode(cloudfront_line("203.0.113.7", "/login", "403")).token == "/login#fail"
    assert reason(d, cloudfront_line("-", "/login", "200")) is Reason.MISSING_USER_KEY  # "-": an empty field
    lines = cloudfront_line("a", "/x", "200") + b"\n" + cloudfront_line("b", "/site.css", "200")
    assert results(d, gzip.compress(lines))[1] is Reason.STATIC_FILE
    assert d.decode(snowplow_line(user_id="u9")).user_key == "u9"  # another column count: Snowplow, as ever
    assert reason(d, b"a\tb\tc") is Reason.BAD_TSV
    mapping = FieldMapping.from_dict(cloudfront)
    assert FieldMapping.parse(mapping.to_json()) == mapping


@pytest.mark.parametrize("columns", [["only"], ["a", "a"], ["a", ""], ["a\tb", "c"], "a,b", [1, 2]])
def test_bad_tsv_columns_are_refused_with_what_is_wrong(columns):
    with pytest.raises(ValueError, match="tsv_columns"):
        FieldMapping.from_dict({**MAPPING, "tsv_columns": columns})


def test_a_mapped_outcome_without_failure_values_is_read_as_a_canonical_outcome():
    """nginx's JSON access log (``log_format ... escape=json``) mapped as it is: its status is an HTTP status."""
    nginx = {"user_key": "remote_addr", "event_type": "request_uri", "time": "time_local", "outcome": "status"}
    d = Decoder(DecodeConfig(mapping=FieldMapping.from_dict(nginx)))
    log = {"time_local": "21/Nov/2025:04:40:00 +0000", "remote_addr": "203.0.113.7", "request_uri": "/item/12?a=b",
           "status": 404, "http_user_agent": "Mozilla/5.0 (PII)"}  # fmt: skip
    assert d.decode(line(log)) == Event("203.0.113.7", "/item/*#fail", T * 1000, None, None)
    assert d.decode(line({**log, "status": "200"})).token == "/item/*"
    assert d.decode(line({**log, "status": False})).token == "/item/*#fail"
    assert reason(d, line({**log, "status": "teapot"})) is Reason.UNKNOWN_OUTCOME
    listed = Decoder(DecodeConfig(mapping=FieldMapping.from_dict({**nginx, "failure_values": ["teapot"]})))
    assert listed.decode(line({**log, "status": "teapot"})).token == "/item/*#fail"
    assert listed.decode(line(log)).token == "/item/*"  # with failure_values, only those fail


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"event_type": "a", "time": "t"}, "lacks"),
        ({**MAPPING, "colour": "c"}, "unknown keys"),
        ({**MAPPING, "time": ""}, "dotted path"),
        ({**MAPPING, "time": []}, "dotted path"),
        ({**MAPPING, "failure_values": "error"}, "failure_values"),
        ([1], "JSON object"),
    ],
)
def test_a_bad_mapping_fails_with_what_is_wrong(doc, message):
    with pytest.raises(ValueError, match=message):
        FieldMapping.from_dict(doc)
    with pytest.raises(ValueError, match="not JSON"):
        FieldMapping.parse("{user_key")


def test_mapping_round_trips_through_its_environment_form():
    mapping = FieldMapping.from_dict(MAPPING)
    assert FieldMapping.parse(mapping.to_json()) == mapping and FieldMapping.parse("  ") is None


# --- formats switched off, network fields -----------------------------------------------------------------------


def test_a_format_switched_off_is_format_disabled():
    json_only = Decoder(DecodeConfig(formats=parse_formats("json")))
    assert reason(json_only, gzip.compress(line(ev("u1")))) is Reason.FORMAT_DISABLED
    assert reason(json_only, aggregate([("u1", line(ev("u1")))])) is Reason.FORMAT_DISABLED
    assert reason(json_only, snowplow_line()) is Reason.FORMAT_DISABLED
    no_cw = Decoder(DecodeConfig(formats=ALL_BUT_CLOUDWATCH))
    assert reason(no_cw, subscription([json.dumps(ev("u1"))])) is Reason.FORMAT_DISABLED
    assert reason(Decoder(DecodeConfig(formats=parse_formats("kpl"))), line(ev("u1"))) is Reason.FORMAT_DISABLED
    with pytest.raises(ValueError, match="unknown input formats"):
        parse_formats("json,protobuf")


ALL_BUT_CLOUDWATCH = frozenset(Format) - {Format.CLOUDWATCH}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"amount": 12.5, "friend_id": "u2"}, (12.5, "u2")),
        ({"amount": "0.99", "friend_id": 42}, (0.99, "42")),
        ({"amount": 3}, (3.0, None)),
        ({"friend_id": "  u3 "}, (None, "u3")),
        ({"amount": None, "friend_id": ""}, (None, None)),
        ({"page": "/x"}, (None, None)),
    ],
)
def test_amount_and_friend_are_read_when_present(attributes, expected):
    got = D.decode(line(ev("u1", "purchase", attributes=attributes)))
    assert (got.amount, got.friend_id) == expected


@pytest.mark.parametrize("amount", [-1, "-1", "1e3", "12 EUR", "", True, {"v": 1}, [1], 10**400, "NaN", "\u0661"])
def test_a_bad_amount_is_bad_amount(amount):
    assert reason(D, line(ev("u1", "purchase", attributes={"amount": amount}))) is Reason.BAD_AMOUNT


@pytest.mark.parametrize(
    ("friend", "why"),
    [({"ip": "1.2.3.4"}, Reason.BAD_TYPE), ([1], Reason.BAD_TYPE), (1.5, Reason.BAD_TYPE), (True, Reason.BAD_TYPE),
     ("f" * 300, Reason.USER_KEY_TOO_LONG)],
)  # fmt: skip
def test_a_bad_friend_is_rejected_like_an_id(friend, why):
    assert reason(D, line(ev("u1", "befriend", attributes={"friend_id": friend}))) is why


# --- Amazon Pinpoint event stream -------------------------------------------------------------------------------
# An app event as Pinpoint's developer guide shows it ("App event data stream from Amazon Pinpoint"), its endpoint
# block carrying the personal data the guide lists (address, location, demographic).


def pinpoint_event(**top) -> dict:
    return {
        "event_type": "_session.stop", "event_timestamp": 1487973802507, "arrival_timestamp": 1487973803515,
        "event_version": "3.0",
        "application": {"app_id": "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6", "package_name": "main.page",
                        "sdk": {"name": "aws-sdk-mobile-analytics-js", "version": "0.9.1:2.4.8"}},
        "client": {"client_id": "m3n4o5p6-a1b2-c3d4-e5f6-g7h8i9j0k1l2", "cognito_id": "us-east-1:i9j0k1l2"},
        "device": {"locale": {"code": "en_US"}, "make": "generic web browser", "platform": {"name": "android"}},
        "session": {"session_id": "f549dea9-1090-945d-c3d1-e4967example", "start_timestamp": 1487973202531,
                    "stop_timestamp": 1487973802507},
        "attributes": {}, "metrics": {}, "awsAccountId": "123456789012",
        "endpoint": {"Address": "someone@example.com", "Location": {"City": "Lleida", "Latitude": 41.6},
                     "Demographic": {"Model": "Pixel"}, "User": {"UserId": "jane"}},
        **top,
    }  # fmt: skip


def test_a_pinpoint_app_event_is_its_client_s_action_and_its_endpoint_is_never_read():
    event = D.decode(line(pinpoint_event()))
    assert (event.user_key, event.token, event.ts_ms) == ("m3n4o5p6-a1b2-c3d4-e5f6-g7h8i9j0k1l2", "_session.stop",
                                                           1487973802507)  # fmt: skip
    assert event.session_id == "f549dea9-1090-945d-c3d1-e4967example" and event.event_id is None
    assert not any(v in repr(event) for v in ("someone@example.com", "Lleida", "jane", "Pixel"))
    purchase = D.decode(line(pinpoint_event(event_type="_monetization.purchase", session=None)))
    assert purchase.token == "_monetization.purchase" and purchase.session_id is None
    assert reason(D, line(pinpoint_event(client={"client_id": {"id": 1}}))) is Reason.BAD_TYPE
    assert reason(D, line(pinpoint_event(event_timestamp=None, event_type="x"))) is Reason.MISSING_TIMESTAMP


# --- the Kinesis Agent's LOGTOJSON ------------------------------------------------------------------------------
# The agent's processing option turns an Apache log line into a JSON object of its parts, named as the Firehose
# developer guide's COMMONAPACHELOG and COMBINEDAPACHELOG patterns name them.


def agent_json(**parts) -> bytes:
    doc = {"host": "64.242.88.10", "ident": None, "authuser": None, "datetime": "07/Mar/2025:16:10:02 -0800",
           "request": "GET /mailman/listinfo/hsdivision?who=a@b.c HTTP/1.1", "response": "200",
           "bytes": "6291"}  # fmt: skip
    return json.dumps({**doc, **parts}).encode()


def test_the_kinesis_agents_logtojson_reads_as_its_access_log_line():
    event = D.decode(agent_json())
    line = (
        b'64.242.88.10 - - [07/Mar/2025:16:10:02 -0800] "GET /mailman/listinfo/hsdivision?who=a@b.c HTTP/1.1" 200 6291'
    )
    assert event == D.decode(line) and event.token == "/mailman/listinfo/hsdivision"
    combined = D.decode(agent_json(request="POST /login HTTP/1.1", response=401, referrer="-", agent="curl/8"))
    assert combined.token == "POST /login#fail" and "curl" not in repr(combined)
    assert reason(D, agent_json(request="GET /logo.png HTTP/1.1")) is Reason.STATIC_FILE
    assert reason(D, agent_json(response="2x0")) is Reason.BAD_ACCESS_LOG
    assert reason(D, agent_json(host={"ip": "1.2.3.4"})) is Reason.BAD_ACCESS_LOG
    no_logs = Decoder(DecodeConfig(formats=parse_formats("json")))
    assert reason(no_logs, agent_json()) is Reason.MISSING_USER_KEY  # access logs switched off: not read as one


def test_the_agents_ec2_metadata_names_no_user_of_an_access_log_line():
    """ADDEC2METADATA after LOGTOJSON adds the instance's accountId (an alias of a user): every client had become
    the AWS account, one user hiding every bot of the log."""
    ec2 = {"privateIp": "172.31.5.17", "instanceId": "i-0abc123", "accountId": "123456789012", "region": "us-east-1"}
    for decoder in (D, Decoder(DecodeConfig(fast_json=False))):
        event = decoder.decode(agent_json(**ec2))
        assert event == D.decode(agent_json()) and "123456789012" not in repr(event)
        assert decoder.decode(agent_json(user_id="jane")).user_key == "jane"  # a user the record names is its user


# --- Mixpanel ---------------------------------------------------------------------------------------------------
# Events as Mixpanel's import API documents them ("Import Events": time in milliseconds, $insert_id) and as its
# event schema's example has them (time in seconds, an ip property).

MIXPANEL = {"event": "Purchase", "properties": {"time": 1618716477000, "distinct_id": "91304156-cafc-4673-a237",
            "$insert_id": "935d87b1-00cd-41b7", "Item": "Coffee", "Amount": 5.0, "ip": "203.0.113.9",
            "$city": "Lleida"}}  # fmt: skip


def test_a_mixpanel_event_is_its_distinct_ids_action_and_its_properties_are_never_read():
    event = D.decode(line(MIXPANEL))
    assert (event.user_key, event.token, event.ts_ms) == ("91304156-cafc-4673-a237", "Purchase", 1618716477000)
    assert event.event_id == "935d87b1-00cd-41b7" and event.session_id is None and event.amount is None
    assert not any(v in repr(event) for v in ("203.0.113.9", "Lleida", "Coffee"))
    seconds = {"event": "Played Song", "properties": {"time": 1601412131, "distinct_id": "u-7", "ip": "203.0.113.9"}}
    assert D.decode(line(seconds)).ts_ms == 1601412131000
    assert reason(D, line({"event": "x", "properties": {"distinct_id": "u", "time": None}})) is Reason.MISSING_TIMESTAMP
    assert reason(D, line({"event": ["x"], "properties": {"distinct_id": "u", "time": 1}})) is Reason.BAD_TYPE


# HAProxy's HTTP log (``option httplog``, its documented example's fields) and syslog's framing of any access log line
# (RFC 3164's header as rsyslog writes it to a file; rsyslog's high-precision ISO time with a priority).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Mar 30 18:00:00 lb haproxy[1234]: 81.2.3.4:51234 [30/Mar/2024:18:00:00.123] fe~ be_shop/srv1 0/0/1/20/21 '
         '200 10 - - ---- 12/12/3/1/0 0/0 "GET /cart?id=5 HTTP/1.1"', ("81.2.3.4", "/cart", 1711821600123)),
        ('2001:db8::7:51234 [30/Mar/2024:18:00:01.500] fe be/srv1 0/0/1/20/21 401 10 - - ---- 1/1/1/1/0 0/0 '
         '{shop.example|Mozilla/5.0 (PII)} "POST /login HTTP/1.1"', ("2001:db8::7", "POST /login#fail", 1711821601500)),
        ('10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 -1 2750 - - CD-- 1/1/1/1/0 0/0 '
         '"GET /index.html HTTP/1.1"', ("10.0.1.2", "/index.html", 1233922454655)),  # -1: no response
        ('Mar 30 18:00:00 web1 nginx: ' + COMBINED, ("203.0.113.7", "/product/*", 1763700000000)),
        ('<134>2024-03-30T18:00:02.000000+00:00 web1 nginx[77]: ' + COMBINED, ("203.0.113.7", "/product/*",
                                                                               1763700000000)),
    ],
)  # fmt: skip
def test_haproxy_s_log_and_syslog_framed_lines_are_their_requests(text, expected):
    assert detect(text.encode()) is Format.ACCESS_LOG
    event = D.decode(text.encode())
    assert (event.user_key, event.token, event.ts_ms) == expected
    assert "PII" not in repr(event) and "a@b.c" not in repr(event) and "Mozilla" not in repr(event)
