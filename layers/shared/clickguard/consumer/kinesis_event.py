"""The Kinesis event shape Lambda's event source mapping delivers, both ways.

``decode_event`` turns a Lambda event into ``KinesisRecord`` tuples for the consumer. ``lambda_event`` builds
that exact shape from GetRecords output, so tests and the local runtime invoke the handler with what AWS sends.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import repeat
from operator import attrgetter
from typing import Any, NamedTuple

import msgspec
import numpy as np

# Kinesis sequence numbers match 0|([1-9]\d{0,128}): up to 129 digits, beyond DynamoDB's 38-digit Number.
# They are compared as Python ints and stored as fixed-width strings, which sort like the numbers.
SEQ_DIGITS = 129


def pad_seq(seq: int | str) -> str:
    return str(int(seq)).zfill(SEQ_DIGITS)


class KinesisRecord(NamedTuple):
    shard_id: str
    seq: int  # sequence number as a Python int: exact at any length
    seq_str: str  # as delivered; what batchItemFailures must echo back
    partition_key: str
    data: bytes
    arrival_ms: int
    # Which event of a record that holds several (a KPL aggregate, NDJSON, a log batch): its place in the replay
    # guard is (seq, sub). 0 for a record of one event.
    sub: int = 0


def shard_of(event_id: str) -> str:
    """``eventID`` is ``shardId-000000000006:<sequence number>``."""
    return event_id.split(":", 1)[0]


class _Kinesis(msgspec.Struct, gc=False):  # no cycles: the collector need not track them
    data: bytes  # base64 in the event: msgspec decodes it, as strictly as ``a2b_base64(strict_mode=True)``
    sequenceNumber: str
    partitionKey: str = ""
    approximateArrivalTimestamp: float = 0.0


class _Record(msgspec.Struct, gc=False):
    kinesis: _Kinesis
    eventID: str = ""


_RECORDS = list[_Record]
_KINESIS, _EVENT_ID = attrgetter("kinesis"), attrgetter("eventID")
_DATA, _SEQ, _KEY = attrgetter("data"), attrgetter("sequenceNumber"), attrgetter("partitionKey")
_ARRIVAL = attrgetter("approximateArrivalTimestamp")


def decode_event(event: Mapping[str, Any]) -> list[KinesisRecord]:
    """Lambda event -> records in shard order. Base64 that does not decode becomes empty data (then rejected).

    The whole batch is converted in one C pass (msgspec: base64 and types) and the records built a column at a
    time; a batch with any record that pass will not take (bad base64, an odd type) is decoded record by record
    (``decode_one_by_one``, the reference), with the same results."""
    raw = event.get("Records") or ()
    try:
        recs = msgspec.convert(raw, _RECORDS)
    except msgspec.ValidationError:
        return decode_one_by_one(event)
    kin = list(map(_KINESIS, recs))
    seq_strs = list(map(_SEQ, kin))
    arrival = np.rint(np.fromiter(map(_ARRIVAL, kin), np.float64, len(kin)) * 1000)
    if not np.isfinite(arrival).all() or np.abs(arrival).max(initial=0.0) >= 2**52:
        return decode_one_by_one(event)  # round() of a float past int64, or of NaN: the reference says what happens
    columns = (
        _shards(list(map(_EVENT_ID, recs))),
        map(int, seq_strs),
        seq_strs,
        map(_KEY, kin),
        map(_DATA, kin),
        arrival.astype(np.int64).tolist(),  # rounded half to even, as round() does
        repeat(0),
    )
    return list(map(tuple.__new__, repeat(KinesisRecord), zip(*columns, strict=False)))  # repeat(0) is endless


def _shards(event_ids: list[str]) -> Iterable[str]:
    """Each record's shard (``shard_of``); a batch comes from one shard, so usually one prefix checked on all."""
    if event_ids and ":" in event_ids[0]:
        first = shard_of(event_ids[0])
        if all(map(str.startswith, event_ids, repeat(first + ":"))):
            return repeat(first, len(event_ids))
    return map(shard_of, event_ids)


def decode_one_by_one(event: Mapping[str, Any]) -> list[KinesisRecord]:
    """``decode_event``, one record at a time: the reference, and the path for a batch the C pass refuses."""
    out: list[KinesisRecord] = []
    append = out.append
    a2b = binascii.a2b_base64
    new = tuple.__new__  # builds a KinesisRecord without NamedTuple's Python-level __new__
    for rec in event.get("Records") or ():
        k = rec["kinesis"]
        try:
            data = a2b(k["data"], strict_mode=True)  # what b64decode(validate=True) checks, in one C call
        except (binascii.Error, ValueError, TypeError):
            data = b""
        seq_str = k["sequenceNumber"]
        arrival = k.get("approximateArrivalTimestamp", 0)
        append(
            new(
                KinesisRecord,
                (
                    shard_of(rec.get("eventID", "")),
                    int(seq_str),
                    seq_str,
                    k.get("partitionKey", ""),
                    data,
                    round(float(arrival) * 1000),  # the millisecond it names: 1545084650.987 is ...650987
                    0,
                ),
            )
        )
    return out


def arrival_ms(arrival: datetime | float) -> int:
    """GetRecords' ``ApproximateArrivalTimestamp`` as the consumer reads it from the Lambda event that carries it
    (seconds to the millisecond): the archive reads the same millisecond for a record's events without a time."""
    seconds = arrival.timestamp() if isinstance(arrival, datetime) else float(arrival)
    return round(round(seconds, 3) * 1000)


def lambda_event(
    get_records_records: Iterable[Mapping[str, Any]],
    shard_id: str,
    stream_arn: str,
    region: str = "us-east-1",
    role_arn: str = "arn:aws:iam::123456789012:role/clickguard-consumer",
) -> dict[str, Any]:
    """GetRecords ``Records`` -> the ``{"Records": [...]}`` event an event source mapping would invoke with."""
    records = []
    for r in get_records_records:
        arrival = r["ApproximateArrivalTimestamp"]
        arrival_s = arrival.timestamp() if isinstance(arrival, datetime) else float(arrival)
        data = r["Data"]
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode("ascii"),
                    "approximateArrivalTimestamp": round(arrival_s, 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": records}
