"""The campaign alert through the real consumer handler on moto: a model with behaviour groups published to S3,
records put on Kinesis, buckets counted in the session table, one group flag on the FIFO flag queue whatever
the replays, and a throttled bucket holding its users back until the retry."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from clickguard import settings
from clickguard.consumer.buckets import KIND
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from clickguard.store.retry import Backoff
from clickguard.store.sessions import create_table
from tests.consumer_support import event_stream
from tests.group_support import campaign, grouped_model
from tests.integration.test_consumer_handler import (
    BUCKET,
    STREAM,
    TABLE,
    Ctx,
    from_checkpoint,
    load_handler,
    put_and_read,
)


@pytest.fixture
def world(aws, monkeypatch):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(ddb, TABLE)
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(
        QueueName="flags.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for name, value in {
        settings.ENV_TABLE_NAME: TABLE,
        settings.ENV_FLAG_QUEUE_URL: queue,
        settings.ENV_DATA_BUCKET: BUCKET,
        settings.ENV_MODEL_REFRESH_SECONDS: "0",
    }.items():
        monkeypatch.setenv(name, value)
    artifact.publish(S3Store(s3, BUCKET), grouped_model())
    mod = load_handler()
    mod.GROUPS.backoff = Backoff(sleep=lambda _s: None)
    yield {"kinesis": kinesis, "ddb": ddb, "sqs": sqs, "queue": queue, "handler": mod}
    mod.POOL.shutdown()


def drain(world):
    out = []
    while True:
        msgs = world["sqs"].receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            world["sqs"].delete_message(QueueUrl=world["queue"], ReceiptHandle=m["ReceiptHandle"])


def stream():
    return sorted(event_stream() + campaign(30), key=lambda e: (e["timestamp"], e["user_id"]))


def bucket_items(world):
    items = world["ddb"].scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return [i for i in items if len(i["user_key"]["S"]) > settings.MAX_USER_KEY_CHARS]


def test_a_campaign_is_counted_in_the_table_and_alerted_once_on_the_fifo_queue(world):
    event = put_and_read(world, stream())
    h = world["handler"]
    assert h.lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    assert h.lambda_handler(event, Ctx()) == {"batchItemFailures": []}  # a replay of the whole batch
    alerts = [m for m in drain(world) if m.get("kind") == KIND]
    assert len(alerts) == 1 and alerts[0]["members"] >= 20 and alerts[0]["signature"] == "OTHER"
    (item,) = [i for i in bucket_items(world) if i["signature"]["S"] == "OTHER"]
    assert len(item["members"]["BS"]) >= 30 and item["alerted"]["BOOL"] is True  # the ring, and a few others


class ThrottledUpdates:
    """The session table's client with every UpdateItem throttled (past retries) while ``on``."""

    def __init__(self, client):
        self.client, self.on = client, True

    def __getattr__(self, name):
        return getattr(self.client, name)

    def update_item(self, **kw):
        if self.on:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem")
        return self.client.update_item(**kw)


def test_a_bucket_not_counted_checkpoints_the_batch_and_the_retry_alerts(world):
    event = put_and_read(world, stream())
    h = world["handler"]
    h.GROUPS.client = throttled = ThrottledUpdates(world["ddb"])
    first = h.lambda_handler(event, Ctx())
    assert first["batchItemFailures"] and not [m for m in drain(world) if m.get("kind") == KIND]
    throttled.on = False
    retry = from_checkpoint(event, first["batchItemFailures"][0]["itemIdentifier"])
    assert h.lambda_handler(retry, Ctx()) == {"batchItemFailures": []}
    assert len([m for m in drain(world) if m.get("kind") == KIND]) == 1
