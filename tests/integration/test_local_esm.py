"""The local event source mapping and archive stand-in, against moto Kinesis / SQS / S3."""

from __future__ import annotations

import base64
import gzip
import json
import re

import boto3
import pytest

from clickguard.local.archiver import Archiver
from clickguard.local.esm import EsmSettings, EventSourceMapping


@pytest.fixture
def stream(aws):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="events", ShardCount=1)
    for i in range(10):
        kinesis.put_record(StreamName="events", Data=json.dumps({"n": i}).encode(), PartitionKey="user")
    return kinesis


@pytest.fixture
def sqs(aws):
    client = boto3.client("sqs", region_name="us-east-1")
    client.create_queue(QueueName="on-failure")
    return client


def numbers(event):
    return [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"]]


def test_batches_follow_batch_size_and_keep_order(stream, sqs):
    seen = []
    esm = EventSourceMapping(stream, sqs, "events", lambda e, c: seen.append(numbers(e)), EsmSettings(batch_size=4))
    esm.drain()
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert esm.stats.records_delivered == 10


def test_partial_batch_response_retries_from_the_lowest_failed_record(stream, sqs):
    calls = []

    def handler(event, _ctx):
        calls.append(numbers(event))
        if len(calls) == 1:
            fail = [r for r in event["Records"] if json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] in (6, 8)]
            return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in fail]}
        return {"batchItemFailures": []}

    esm = EventSourceMapping(
        stream,
        sqs,
        "events",
        handler,
        EsmSettings(batch_size=10, report_batch_item_failures=True, max_retry_attempts=2),
    )
    esm.drain()
    assert calls == [list(range(10)), [6, 7, 8, 9]]
    assert esm.stats.partial_failures == 1


def test_bisect_then_give_up_sends_batch_metadata_to_on_failure_queue(stream, sqs):
    url = sqs.get_queue_url(QueueName="on-failure")["QueueUrl"]
    calls = []

    def handler(event, _ctx):
        calls.append(numbers(event))
        if 3 in numbers(event):
            raise RuntimeError("poison")

    esm = EventSourceMapping(
        stream,
        sqs,
        "events",
        handler,
        EsmSettings(batch_size=10, bisect_on_error=True, max_retry_attempts=10, on_failure_queue_url=url),
    )
    esm.drain()
    delivered_ok = sorted(n for c in calls if 3 not in c for n in c)
    assert delivered_ok == [0, 1, 2, 4, 5, 6, 7, 8, 9]  # only the poisonous record is given up
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    info = [json.loads(m["Body"])["KinesisBatchInfo"] for m in msgs]
    assert len(info) == 1 and info[0]["batchSize"] == 1 and info[0]["shardId"] == "shardId-000000000000"
    assert json.loads(msgs[0]["Body"])["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_archiver_writes_firehose_layout_of_canonical_events(aws, s3, bucket):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    for i in range(10):
        event = {"user_id": f"u{i}", "event_type": "view", "timestamp": f"2025-11-21T10:00:{i:02d}Z", "ip": "10.0.0.1"}
        kinesis.put_record(StreamName="clicks", Data=json.dumps(event).encode(), PartitionKey=f"u{i}")
    kinesis.put_record(StreamName="clicks", Data=b'{"n": 1}', PartitionKey="x")  # not an event: never archived
    stats = Archiver(kinesis, s3, "clicks", bucket).flush_stream()
    assert stats.records == 10
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="events/")["Contents"]]
    assert len(keys) == 1
    parts = keys[0].split("/")
    assert len(parts) == 6 and re.fullmatch(r"\d{7}-clicks-1-[-0-9]{19}-[-0-9a-f]{36}\.gz", parts[5])  # mmssSSS-...
    lines = [
        json.loads(line)
        for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()).splitlines()
    ]
    assert [e["user_id"] for e in lines] == [f"u{i}" for i in range(10)]  # the stream's order, canonical events
    assert all("ip" not in e for e in lines)  # the archive keeps no personal data
    assert Archiver(kinesis, s3, "clicks", bucket).flush_stream().records == 10  # a new consumer reads from the start


def test_records_past_the_maximum_age_go_to_the_on_failure_queue_unprocessed(stream, sqs):
    url = sqs.get_queue_url(QueueName="on-failure")["QueueUrl"]
    seen = []
    esm = EventSourceMapping(
        stream,
        sqs,
        "events",
        lambda e, c: seen.append(numbers(e)),
        EsmSettings(batch_size=10, max_record_age_seconds=0, on_failure_queue_url=url),
    )
    esm.drain()
    assert seen == [] and esm.stats.records_expired == 10
    (msg,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(msg["Body"])
    assert body["requestContext"]["condition"] == "RecordAgeExceeded"
    assert body["KinesisBatchInfo"]["batchSize"] == 10


def test_the_emulator_refuses_a_record_past_kinesis_s_1_mib_as_kinesis_does(stream):
    """moto took one through PutRecord (PutRecords refused it): a producer tried locally meets AWS's error."""
    from botocore.exceptions import ClientError

    from clickguard.local import moto_patches

    moto_patches.apply()
    at_limit = b"x" * (moto_patches.MAX_RECORD_BYTES - 4)
    assert stream.put_record(StreamName="events", Data=at_limit, PartitionKey="user")["SequenceNumber"]
    with pytest.raises(ClientError) as exc:
        stream.put_record(StreamName="events", Data=at_limit + b"x", PartitionKey="user")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 1048576" in exc.value.response["Error"]["Message"]
