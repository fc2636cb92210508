"""The whole decoder is total: any bytes, in any format's wrapping, give events and rejections with a reason and an
ASCII detail, and nothing else escapes. Derandomized, like the JSON decoder's fuzz tests."""

from __future__ import annotations

import gzip
import hashlib
import zlib

import zstandard
from aws_kinesis_agg.aggregator import RecordAggregator
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.decoding import DecodeConfig, Decoder
from clickguard.decoding.kpl import MAGIC
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import Event
from clickguard.rejections import Reason, RejectedRecord
from tests.snowplow_support import framed
from tests.unit.test_events_fuzz import PROFILE, anything, canonical_records, render

DECODERS = [
    Decoder(),
    Decoder(DecodeConfig(max_decompressed_bytes=64 * 1024)),
    Decoder(DecodeConfig(mapping=FieldMapping.from_dict({"user_key": "u.id", "event_type": "e", "time": "t"}))),
    Decoder(DecodeConfig(fast_json=False)),
]


def check(data: bytes) -> None:
    for decoder in DECODERS:
        items = decoder.items(data)
        assert isinstance(items, list)
        for item in items:
            result = item.result
            if isinstance(result, RejectedRecord):
                assert isinstance(result.reason, Reason)
                assert str(result).isascii() and len(result.detail) < 200
            else:
                assert isinstance(result, Event) and result.user_key and result.token
                result.user_key.encode("utf-8")


def aggregate(payloads: list[bytes]) -> bytes:
    agg = RecordAggregator()
    for i, payload in enumerate(payloads):
        agg.add_user_record(f"k{i % 3}", payload)
    return agg.clear_and_get().get_contents()[2]


def zstd_compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


as_bytes = st.one_of(
    st.binary(max_size=200),
    st.tuples(anything, st.integers(0, 2))
    .map(lambda v: render(*v))
    .map(lambda r: r if isinstance(r, bytes) else r.encode("utf-8", "surrogatepass")),
    st.tuples(canonical_records(), st.integers(0, 2))
    .map(lambda v: render(v[0][0], v[1]))
    .map(lambda r: r if isinstance(r, bytes) else r.encode("utf-8", "surrogatepass")),
)


@settings(PROFILE, max_examples=400)
@given(st.binary(max_size=400))
def test_any_bytes(data):
    check(data)


@settings(PROFILE, max_examples=300)
@given(
    st.sampled_from([MAGIC, b"\x1f\x8b", b"\x78\x9c", b"\x78\x01", b"\x28\xb5\x2f\xfd", b"a\tb\t"]),
    st.binary(max_size=200),
)
def test_any_bytes_behind_each_formats_first_bytes(prefix, rest):
    check(prefix + rest)


@settings(PROFILE, max_examples=200)
@given(st.binary(max_size=200))
def test_any_protobuf_with_a_good_checksum(body):
    check(MAGIC + body + hashlib.md5(body).digest())


@settings(PROFILE, max_examples=200)
@given(st.lists(as_bytes, min_size=1, max_size=6))
def test_aggregates_of_anything(payloads):
    check(aggregate(payloads))


@settings(PROFILE, max_examples=200)
@given(st.lists(as_bytes, min_size=1, max_size=6), st.sampled_from([gzip.compress, zlib.compress, zstd_compress]))
def test_compressed_lines_and_arrays_of_anything(payloads, compress):
    check(compress(b"\n".join(payloads)))
    check(compress(b"[" + b",".join(payloads) + b"]"))


@settings(PROFILE, max_examples=200)
@given(st.lists(as_bytes, max_size=6), st.binary(max_size=3), st.sampled_from([gzip.compress, zstd_compress]))
def test_snowplow_frames_of_anything_and_cut_anywhere(payloads, tail, compress):
    body = framed(payloads)
    check(compress(body))
    check(compress(body + tail))  # a length cut short, or one more event announced than there is
    check(compress(body[: len(body) // 2]))
