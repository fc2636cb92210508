"""The Kinesis event shape Lambda's event source mapping delivers, both ways.

``decode_event`` turns a Lambda event into ``KinesisRecord`` tuples for the consumer. ``lambda_event`` builds
that exact shape from GetRecords output, so tests and the local runtime invoke the handler with what AWS sends.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

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


def decode_event(event: Mapping[str, Any]) -> list[KinesisRecord]:
    """Lambda event -> records in shard order. Base64 that does not decode becomes empty data (then rejected)."""
    out: list[KinesisRecord] = []
    append = out.append
    a2b = binascii.a2b_base64
    new = tuple.__new__  # builds a KinesisRecord without NamedTuple's Python-level __new__ (10,000 a batch)
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
                    rec.get("eventID", "").split(":", 1)[0],
                    int(seq_str),
                    seq_str,
                    k.get("partitionKey", ""),
                    data,
                    int(float(arrival) * 1000),
                    0,
                ),
            )
        )
    return out


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
