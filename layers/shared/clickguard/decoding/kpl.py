"""KPL aggregated records: the Kinesis Producer Library's (and Fluent Bit's ``aggregation true``) many-in-one format.

A record is the magic ``F3 89 9A C2``, a protobuf ``AggregatedRecord`` and the 16-byte MD5 of that protobuf::

    message AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
                               repeated Record records = 3; }
    message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
                     required bytes data = 3; repeated Tag tags = 4; }

Lambda hands such a record to the function undecoded (Firehose de-aggregates on its own). This small reader reads
only what the consumer needs (each sub-record's partition key and data) and skips the rest; it is tested against
the ``aws_kinesis_agg`` aggregator's output. Unlike that library, which passes a record whose checksum fails
through as if it were not aggregated, a bad checksum (a corrupt or truncated aggregate) is ``kpl_checksum`` and a
protobuf that does not parse is ``kpl_malformed``: either way the whole record is rejected and kept in the sink.
"""

from __future__ import annotations

import hashlib

from clickguard.events import Reason, RejectedRecord

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class _Malformed(Exception):
    """Internal: the protobuf does not parse (turned into ``kpl_malformed`` with its reason)."""


def is_aggregate(data: bytes) -> bool:
    return data[:4] == MAGIC


def deaggregate(data: bytes) -> list[tuple[str, bytes]]:
    """The sub-records of an aggregate, in order, as (partition key, data); raises ``RejectedRecord``."""
    keys, payloads = deaggregate_columns(data)
    return list(zip(keys, payloads, strict=True))


def deaggregate_columns(data: bytes) -> tuple[list[str], list[bytes]]:
    """``deaggregate`` as two columns: the sub-records' partition keys and their data."""
    if len(data) < len(MAGIC) + DIGEST_BYTES:
        raise RejectedRecord(Reason.KPL_CHECKSUM, f"aggregate of {len(data)} bytes is too short for its checksum")
    body, digest = data[len(MAGIC) : -DIGEST_BYTES], data[-DIGEST_BYTES:]
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        raise RejectedRecord(Reason.KPL_CHECKSUM, "MD5 trailer does not match: corrupt or truncated aggregate")
    try:
        keys, indices, payloads = _read_aggregate(body)
        return list(map(keys.__getitem__, indices)), payloads
    except IndexError:  # a length or index past the end of the buffer or the key table
        raise RejectedRecord(Reason.KPL_MALFORMED, "a length or key index points past its end") from None
    except _Malformed as exc:
        raise RejectedRecord(Reason.KPL_MALFORMED, str(exc)) from None


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    b = buf[i]
    if b < 0x80:
        return b, i + 1
    value, shift = b & 0x7F, 7
    while True:
        i += 1
        b = buf[i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i + 1
        shift += 7
        if shift > 63:
            raise _Malformed("varint longer than 10 bytes")


def _skip(buf: bytes, i: int, wire: int) -> int:
    if wire == _VARINT:
        return _varint(buf, i)[1]
    if wire == _BYTES:
        n, i = _varint(buf, i)
        return i + n
    if wire == _FIXED64:
        return i + 8
    if wire == _FIXED32:
        return i + 4
    raise _Malformed(f"unsupported wire type {wire}")


def _read_aggregate(body: bytes) -> tuple[list[str], list[int], list[bytes]]:
    """The key table, and each sub-record's key index and data."""
    keys: list[str] = []
    indices: list[int] = []
    payloads: list[bytes] = []
    i, end = 0, len(body)
    while i < end:
        if body[i] == _RECORD_TAG:  # field 3, bytes: a sub-record (nearly every field), its tag read inline
            n, i = _varint(body, i + 1)
            field, stop = 3, i + n
        else:
            tag, i = _varint(body, i)
            field, wire = tag >> 3, tag & 7
            if wire != _BYTES:
                i = _skip(body, i, wire)
                continue
            n, i = _varint(body, i)
            stop = i + n
        if stop > end:
            raise _Malformed(f"field {field} runs past the end")
        if field == 3:
            index, payload = _sub_record(body, i, stop)
            indices.append(index)
            payloads.append(payload)
        elif field == 1:
            try:
                keys.append(body[i:stop].decode("utf-8"))
            except UnicodeDecodeError:
                raise _Malformed("a partition key is not UTF-8") from None
        i = stop
    if i != end:
        raise _Malformed("the last field runs past the end")
    if indices and max(indices) >= len(keys):
        raise _Malformed("a partition key index is outside the key table")
    return keys, indices, payloads


_RECORD_TAG = 3 << 3 | _BYTES  # 0x1A: field 3 (``records`` in the aggregate, ``data`` in a sub-record)
_INDEX_TAG = 1 << 3 | _VARINT  # 0x08: a sub-record's ``partition_key_index``


def _sub_record(buf: bytes, i: int, end: int) -> tuple[int, bytes]:
    """``_read_record``, with the layout the KPL writes (the key index, then the data, nothing else) read in a few
    steps; any other layout is read field by field, where the same reads give the same verdict."""
    if end - i > 3 and buf[i] == _INDEX_TAG:
        index, j = _varint(buf, i + 1)
        if j < end and buf[j] == _RECORD_TAG:
            size, k = _varint(buf, j + 1)
            if k + size == end:
                return index, buf[k:end]
    return _read_record(buf, i, end)


def _read_record(buf: bytes, i: int, end: int) -> tuple[int, bytes]:
    index: int | None = None
    data: bytes | None = None
    while i < end:
        tag = buf[i]
        if tag == 0x08:  # field 1, varint: partition_key_index
            index, i = _varint(buf, i + 1)
        elif tag == 0x1A:  # field 3, bytes: data
            n, i = _varint(buf, i + 1)
            data, i = buf[i : i + n], i + n
        else:
            tag, i = _varint(buf, i)
            i = _skip(buf, i, tag & 7)
    if i != end:
        raise _Malformed("a sub-record runs past its length")
    if index is None or data is None:
        raise _Malformed("a sub-record lacks its partition key index or its data")
    return index, data


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint_bytes(number << 3 | _BYTES) + _varint_bytes(len(payload)) + payload


def aggregate(records: list[tuple[str, bytes]]) -> bytes:
    """The KPL aggregate of (partition key, data) records, as the KPL writes it (``clickguard produce --format
    kpl``; a test checks the bytes against aws_kinesis_agg's aggregator)."""
    keys: dict[str, int] = {}
    for key, _ in records:
        keys.setdefault(key, len(keys))
    body = b"".join(_field(1, key.encode()) for key in keys)
    for key, data in records:
        inner = b"\x08" + _varint_bytes(keys[key]) + _field(3, data)
        body += _field(3, inner)
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
