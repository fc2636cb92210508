"""The local SQS event source mapping (the decisions queue's), against moto's SQS."""

from __future__ import annotations

import json

import boto3
import pytest

from clickguard.local.sqs_esm import SqsEsmSettings, SqsEventSourceMapping
from clickguard.review.sqs_event import decode_event


@pytest.fixture
def sqs(aws):
    client = boto3.client("sqs", region_name="us-east-1")
    dlq = client.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = client.create_queue(
        QueueName="decisions.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "VisibilityTimeout": "0",  # a failed message is visible again at once (the test does not wait)
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    for i in range(12):
        client.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}), MessageGroupId=f"g{i % 3}")
    return client, url, dlq


def numbers(event):
    return [json.loads(m.body)["n"] for m in decode_event(event)]


def visible(client, url):
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def test_batches_follow_the_batch_size_and_succeeded_messages_are_deleted(sqs):
    client, url, _ = sqs
    seen = []
    esm = SqsEventSourceMapping(client, url, lambda e, c: seen.append(numbers(e)), SqsEsmSettings(batch_size=5))
    esm.drain()
    assert sorted(n for batch in seen for n in batch) == list(range(12)) and max(map(len, seen)) <= 5
    assert esm.stats.messages_deleted == 12 and visible(client, url) == 0


def test_the_event_has_lambdas_sqs_shape_with_the_message_group(sqs):
    client, url, _ = sqs
    events = []
    esm = SqsEventSourceMapping(client, url, lambda e, c: events.append(e), SqsEsmSettings(batch_size=10))
    esm.poll_once()
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == esm.queue_arn
    assert record["attributes"]["MessageGroupId"].startswith("g") and record["receiptHandle"]


def test_reported_failures_stay_and_go_to_the_dead_letter_queue_after_max_receives(sqs):
    client, url, dlq = sqs

    def handler(event, _ctx):
        bad = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["n"] == 4]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}

    esm = SqsEventSourceMapping(client, url, handler, SqsEsmSettings(batch_size=10, report_batch_item_failures=True))
    esm.drain()
    assert esm.stats.messages_failed == 2  # received twice (maxReceiveCount 2), then moved by the redrive
    moved = client.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["n"] for m in moved] == [4]


def test_a_raised_error_or_an_unknown_identifier_fails_the_whole_batch(aws):
    client = boto3.client("sqs", region_name="us-east-1")
    url = client.create_queue(QueueName="plain", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for i in range(12):
        client.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    calls = []

    def handler(event, _ctx):
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("boom")
        if len(calls) == 2:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}
        return {"batchItemFailures": []}

    esm = SqsEventSourceMapping(client, url, handler, SqsEsmSettings(batch_size=10, report_batch_item_failures=True))
    esm.poll_once()
    esm.poll_once()
    assert esm.stats.function_errors == 1 and esm.stats.messages_deleted == 0
    assert esm.stats.messages_failed == calls[0] + calls[1]
    esm.drain()
    assert esm.stats.messages_deleted == 12 and visible(client, url) == 0
