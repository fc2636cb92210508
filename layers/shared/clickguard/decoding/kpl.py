"""KPL aggregated records: the Kinesis Producer Library's (and Fluent Bit's ``aggregation true``) many-in-one format.

A record is the magic ``F3 89 9A C2``, a protobuf ``AggregatedRecord`` and the 16-byte MD5 of that protobuf::

    message AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
                               repeated Record records = 3; }
    message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
                     required bytes data = 3; repeated Tag tags = 4; }

Lambda hands such a record to the function undecoded (Firehose de-aggregates on its own). The protobuf is read by
the ``protobuf`` package's C parser (upb) with the message types above declared in code (no generated module):
about 0.3 us a sub-record against 0.6 for the hand-written reader it replaced (2026-11-30, the consumer benchmark's
aggregates). Partition keys are declared as bytes and decoded here, strictly: proto2 does not check UTF-8. It is
tested against the ``aws_kinesis_agg`` aggregator's output. Unlike that library, which passes a record whose
checksum fails through as if it were not aggregated, a bad checksum (a corrupt or truncated aggregate) is
``kpl_checksum`` and a protobuf that does not parse (or lacks a required field, or points past its key table) is
``kpl_malformed``: either way the whole record is rejected and kept in the sink.
"""

from __future__ import annotations

import hashlib
from operator import attrgetter
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from clickguard.rejections import Reason, RejectedRecord

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16


def _aggregate_type() -> Any:
    """The ``AggregatedRecord`` message class, from its descriptor, in a pool of its own (no clash with any other
    protobuf types in the process)."""
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="clickguard/kpl.proto", package="clickguard.kpl", syntax="proto2")
    agg = proto.message_type.add(name="AggregatedRecord")
    agg.field.add(name="partition_key_table", number=1, label=f.LABEL_REPEATED, type=f.TYPE_BYTES)
    agg.field.add(name="explicit_hash_key_table", number=2, label=f.LABEL_REPEATED, type=f.TYPE_BYTES)
    agg.field.add(
        name="records", number=3, label=f.LABEL_REPEATED, type=f.TYPE_MESSAGE, type_name=".clickguard.kpl.Record"
    )
    rec = proto.message_type.add(name="Record")
    rec.field.add(name="partition_key_index", number=1, label=f.LABEL_REQUIRED, type=f.TYPE_UINT64)
    rec.field.add(name="explicit_hash_key_index", number=2, label=f.LABEL_OPTIONAL, type=f.TYPE_UINT64)
    rec.field.add(name="data", number=3, label=f.LABEL_REQUIRED, type=f.TYPE_BYTES)  # tags (4): skipped, unknown
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("clickguard.kpl.AggregatedRecord"))


_AGGREGATE = _aggregate_type()
_INDEX, _DATA = attrgetter("partition_key_index"), attrgetter("data")


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
        message = _AGGREGATE.FromString(body)
    except DecodeError as exc:  # a length past the end, a wire type it cannot skip...
        raise RejectedRecord(Reason.KPL_MALFORMED, f"the protobuf does not parse: {exc}") from None
    if not message.IsInitialized():  # the parser does not check required fields itself
        raise RejectedRecord(Reason.KPL_MALFORMED, "a sub-record lacks its partition key index or its data")
    try:
        keys = [key.decode("utf-8") for key in message.partition_key_table]
    except UnicodeDecodeError:
        raise RejectedRecord(Reason.KPL_MALFORMED, "a partition key is not UTF-8") from None
    records = message.records
    if not records:  # an aggregate of nothing: counted in RecordsIn, it had been under no reason
        raise RejectedRecord(Reason.KPL_MALFORMED, "an aggregate of no records")
    indices = list(map(_INDEX, records))
    if indices and max(indices) >= len(keys):
        raise RejectedRecord(Reason.KPL_MALFORMED, "a partition key index is outside the key table")
    return list(map(keys.__getitem__, indices)), list(map(_DATA, records))


def aggregate(records: list[tuple[str, bytes]]) -> bytes:
    """The KPL aggregate of (partition key, data) records, as the KPL writes it (``clickguard produce --format
    kpl``; a test checks the bytes against aws_kinesis_agg's aggregator)."""
    keys: dict[str, int] = {}
    for key, _ in records:
        keys.setdefault(key, len(keys))
    message = _AGGREGATE(partition_key_table=[key.encode() for key in keys])
    for key, data in records:
        message.records.add(partition_key_index=keys[key], data=data)
    body: bytes = message.SerializeToString(deterministic=True)
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
