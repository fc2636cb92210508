"""Snowplow's compressed enriched records (Enrich 6.11 on): many enriched lines in one zstd or gzip record, length
prefixed after a 2-byte header; the lines are built in the column order ``snowplow_analytics_sdk`` reads and the
records from the layout Snowplow's own streams library writes (``tests/snowplow_support.py``)."""

from __future__ import annotations

import pytest

from clickguard.cli.producer_formats import encode
from clickguard.decoding import DecodeConfig, Decoder, Format, detect, parse_formats
from clickguard.events import Event
from clickguard.rejections import Reason, RejectedRecord
from tests.snowplow_support import framed, gzip_record, zstd_record
from tests.unit.test_decode_formats import D, reason, results, snowplow_line

LINES = [snowplow_line(user_id=f"u{i}", event_name=f"step_{i}", domain_sessionid=f"s-{i}") for i in range(5)]


@pytest.mark.parametrize("build", [zstd_record, gzip_record])
def test_each_line_of_a_compressed_record_is_its_own_event_as_the_plain_record_would_be(build):
    data = build(LINES)
    parts = results(D, data)
    assert parts == [D.decode(line) for line in LINES]  # the very events of the same lines sent one a record
    assert [p.user_key for p in parts] == [f"u{i}" for i in range(5)] and parts[2].session_id == "s-2"


def test_the_record_is_told_apart_from_its_first_bytes_and_plain_records_still_decode_beside_it():
    assert detect(zstd_record(LINES)) is Format.ZSTD and detect(gzip_record(LINES)) is Format.GZIP
    batch = [LINES[0], zstd_record(LINES[1:3]), gzip_record(LINES[3:])]  # Enrich mixes them while compression rolls out
    decoded = D.decode_many(batch)
    assert isinstance(decoded[0], Event) and [len(d) for d in decoded[1:]] == [2, 2]


def test_the_payload_format_byte_is_not_read_and_an_empty_record_holds_no_event():
    assert results(D, zstd_record(LINES[:1], payload_version=7)) == [D.decode(LINES[0])]
    assert results(D, zstd_record([])) == []


def test_a_bad_line_inside_costs_only_that_event():
    data = zstd_record([LINES[0], b"shop\tweb\tshort", b"", LINES[1]])
    assert results(D, data) == [D.decode(LINES[0]), Reason.BAD_TSV, Reason.BAD_TSV, D.decode(LINES[1])]
    kept = [i.data for i in D.items(data) if not isinstance(i.result, Event)]
    assert kept == [b"shop\tweb\tshort", b""]  # each rejected line kept as it was, for the sink


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\x01", "2-byte header"),
        (framed(LINES[:1])[:-10], "announced"),  # the last event cut short
        (framed(LINES[:1]) + b"\x00\x00", "length is cut short"),
    ],
)
def test_a_frame_that_does_not_parse_is_bad_snowplow_frame(body, detail):
    import gzip

    import zstandard

    for data in (gzip.compress(body), zstandard.ZstdCompressor().compress(body)):
        with pytest.raises(RejectedRecord) as info:
            D.decode(data)
        assert info.value.reason is Reason.BAD_SNOWPLOW_FRAME and detail in str(info.value)


def test_zstd_failures_have_their_reasons():
    import zstandard

    good = zstd_record(LINES)
    assert reason(D, good[:-6]) is Reason.BAD_COMPRESSION  # truncated: no end marker
    assert reason(D, good + b"trailing") is Reason.BAD_COMPRESSION
    assert reason(D, b"\x28\xb5\x2f\xfd" + b"\xff" * 40) is Reason.BAD_COMPRESSION
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (64 * 1024 * 1024))  # 2 KiB that would be 64 MiB
    small_cap = Decoder(DecodeConfig(max_decompressed_bytes=1 << 20))
    assert len(bomb) < 4096 and reason(small_cap, bomb) is Reason.DECOMPRESSED_TOO_LARGE
    two = zstandard.ZstdCompressor().compress(b'{"user_id": "a", "event_type": "v", "timestamp": 1763700000}\n')
    assert [e.user_key for e in results(D, two + two)] == ["a", "a"]  # frames one after another, as gzip members


def test_zstd_json_is_read_as_gzip_json_is():
    import zstandard

    ndjson = (
        b'{"user_id": "a", "event_type": "v", "timestamp": 1763700000}\n'
        b'{"user_id": "b", "event_type": "w", "timestamp": 1763700001}'
    )
    assert [e.user_key for e in results(D, zstandard.ZstdCompressor().compress(ndjson))] == ["a", "b"]


def test_switched_off_formats_are_refused_whole():
    no_snowplow = Decoder(DecodeConfig(formats=parse_formats("json,zstd,gzip")))
    assert reason(no_snowplow, zstd_record(LINES)) is Reason.FORMAT_DISABLED
    no_zstd = Decoder(DecodeConfig(formats=parse_formats("json,snowplow,gzip")))
    assert reason(no_zstd, zstd_record(LINES)) is Reason.FORMAT_DISABLED
    assert len(results(no_zstd, gzip_record(LINES))) == 5


def test_the_producer_encoder_writes_what_the_layout_says():
    from clickguard.cli.producer_formats import snowplow_line as product_line
    from tests.snowplow_support import unzstd

    events = [Event(f"u{i % 2}", f"step_{i}", 1_763_700_000_000 + i, "s-1", f"e-{i}") for i in range(4)]
    entries = encode("snowplow_zstd", events, per_record=10)
    by_user = {e.user_key: [x for x in events if x.user_key == e.user_key] for e in events}
    for entry in entries:
        inflated = unzstd(entry["Data"])
        assert inflated[:2] == b"\x01\x01"
        users = {r.user_key for r in results(D, entry["Data"])}
        (user,) = users
        assert inflated == framed([product_line(x) for x in by_user[user]])
