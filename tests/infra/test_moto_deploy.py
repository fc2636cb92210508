"""The local flavour of the synthesized template deploys into moto's CloudFormation and its resources work."""

from __future__ import annotations

import gzip
import json

import boto3
import pytest
from moto import mock_aws

from clickguard import settings
from infra import config as cfg
from infra.local_deploy import deploy_assembly


@pytest.fixture(scope="module")
def deployed(synth_local):
    with mock_aws():
        outputs = deploy_assembly(synth_local.outdir, synth_local.stack_name, session=boto3.Session())
        yield outputs


def test_outputs_are_all_present(deployed):
    assert set(cfg.OUTPUT_KEYS) <= set(deployed)


def test_local_flavour_leaves_out_what_moto_cannot_create(synth_local, synth_aws):
    local_types = {r["Type"] for r in synth_local.template["Resources"].values()}
    omitted = {t for t, how in cfg.MOTO_UNSUPPORTED.items() if how.startswith("omitted")}
    assert not local_types & omitted
    aws_types = {r["Type"] for r in synth_aws.template["Resources"].values()}
    assert omitted <= aws_types  # the full flavour has them all (e-mail subscription included)
    # Everything else in the local template is either created by moto or a skipped, unreferenced leaf.
    from moto.cloudformation.parsing import get_model_map

    unknown = local_types - set(get_model_map()) - set(cfg.MOTO_UNSUPPORTED)
    assert not unknown, f"types neither supported by moto nor listed in MOTO_UNSUPPORTED: {unknown}"


def test_stream_takes_and_returns_records(deployed):
    kinesis = boto3.client("kinesis")
    name = deployed[cfg.OUTPUT_STREAM_NAME]
    event = {"user_id": "u1", "event_type": "view_item", "timestamp": "2026-01-02T00:01:16Z"}
    result = kinesis.put_records(
        StreamName=name, Records=[{"Data": json.dumps(event).encode(), "PartitionKey": "u1"} for _ in range(3)]
    )
    assert result["FailedRecordCount"] == 0
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [json.loads(r["Data"]) for r in records] == [event] * 3
    assert deployed[cfg.OUTPUT_STREAM_ARN].endswith(f":stream/{name}")


def test_event_source_mapping_carries_the_configured_settings(deployed, synth_local):
    mappings = boto3.client("lambda").list_event_source_mappings(FunctionName=deployed[cfg.OUTPUT_CONSUMER_FUNCTION])[
        "EventSourceMappings"
    ]
    assert len(mappings) == 1
    assert mappings[0]["EventSourceArn"] == deployed[cfg.OUTPUT_STREAM_ARN]
    assert mappings[0]["BatchSize"] == synth_local.config.batch_size


def test_the_decisions_queue_is_fifo_with_content_deduplication_and_a_fifo_dead_letter_queue(deployed):
    sqs = boto3.client("sqs")
    url = deployed[cfg.OUTPUT_DECISION_QUEUE_URL]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert url.endswith(".fifo") and attributes["ContentBasedDeduplication"] == "true"
    for _ in range(2):  # a service re-sends the same decision: SQS drops the copy, no id of its own needed
        sqs.send_message(QueueUrl=url, MessageBody='{"flag_id": "f1"}', MessageGroupId="u1")
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 1
    dlq = sqs.get_queue_attributes(QueueUrl=deployed[cfg.OUTPUT_DECISION_DLQ_URL], AttributeNames=["All"])
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq["Attributes"]["QueueArn"]
    lam = boto3.client("lambda")
    function = lam.get_function_configuration(FunctionName=deployed[cfg.OUTPUT_DECISIONS_FUNCTION])
    assert function["Environment"]["Variables"][settings.ENV_MODEL_BUCKET] == deployed[cfg.OUTPUT_MODEL_BUCKET]
    (mapping,) = lam.list_event_source_mappings(FunctionName=deployed[cfg.OUTPUT_DECISIONS_FUNCTION])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"] == attributes["QueueArn"] and mapping["BatchSize"] == 10


def test_functions_have_their_environment(deployed):
    lam = boto3.client("lambda")
    consumer = lam.get_function_configuration(FunctionName=deployed[cfg.OUTPUT_CONSUMER_FUNCTION])
    env = consumer["Environment"]["Variables"]
    assert env[settings.ENV_TABLE_NAME] == deployed[cfg.OUTPUT_TABLE_NAME]
    assert env[settings.ENV_FLAG_QUEUE_URL] == deployed[cfg.OUTPUT_FLAG_QUEUE_URL]
    assert env[settings.ENV_DATA_BUCKET] == deployed[cfg.OUTPUT_DATA_BUCKET]
    assert env[settings.ENV_MODEL_BUCKET] == deployed[cfg.OUTPUT_MODEL_BUCKET]
    assert consumer["Handler"] == settings.CONSUMER_HANDLER
    trainer = lam.get_function_configuration(FunctionName=deployed[cfg.OUTPUT_TRAINER_FUNCTION])
    assert trainer["Environment"]["Variables"][settings.ENV_MODEL_BUCKET] == deployed[cfg.OUTPUT_MODEL_BUCKET]
    assert trainer["Handler"] == settings.TRAINER_HANDLER


def test_table_stores_state_by_user_key_with_ttl(deployed):
    ddb = boto3.client("dynamodb")
    table = deployed[cfg.OUTPUT_TABLE_NAME]
    key, ttl = settings.SESSION_TABLE_KEY, settings.SESSION_TABLE_TTL_ATTRIBUTE
    ddb.put_item(TableName=table, Item={key: {"S": "u1"}, ttl: {"N": "1999999999"}})
    item = ddb.get_item(TableName=table, Key={key: {"S": "u1"}})["Item"]
    assert item[ttl] == {"N": "1999999999"}
    assert ddb.describe_table(TableName=table)["Table"]["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]


def test_flag_queue_is_fifo_and_drops_a_resent_flag(deployed):
    """What the consumer sends (store/flags.py on a .fifo URL): group = user key, deduplication id = flag id."""
    sqs = boto3.client("sqs")
    url = deployed[cfg.OUTPUT_FLAG_QUEUE_URL]
    assert url.endswith(".fifo")
    entry = {"Id": "0", "MessageBody": json.dumps({"flag_id": "f1"}), "MessageGroupId": "u1"}
    for _ in range(2):  # a replayed batch re-sends the same flag
        sent = sqs.send_message_batch(QueueUrl=url, Entries=[{**entry, "MessageDeduplicationId": "f1"}])
        assert not sent.get("Failed")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"flag_id": "f1"}]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "false")
    assert (attributes["DeduplicationScope"], attributes["FifoThroughputLimit"]) == (
        "messageGroup",
        "perMessageGroupId",
    )
    dlq = sqs.get_queue_attributes(QueueUrl=deployed[cfg.OUTPUT_FLAG_DLQ_URL], AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq["QueueArn"]
    assert dlq["FifoQueue"] == "true"
    assert attributes["MessageRetentionPeriod"] == str(14 * 86400)


def test_flag_reader_reads_and_deletes_from_the_fifo_queue(deployed):
    from clickguard.store import flag_reader

    sqs = boto3.client("sqs")
    url = deployed[cfg.OUTPUT_FLAG_QUEUE_URL]
    for i, user in enumerate(("u2", "u3")):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"flag_id": f"g{i}"}),
            MessageGroupId=user,
            MessageDeduplicationId=f"g{i}",
        )
    got = flag_reader.receive(sqs, url, 10, wait_s=0)
    assert {m.body["flag_id"] for m in got} >= {"g0", "g1"}
    assert flag_reader.delete(sqs, url, got) == 0


def test_buckets_take_archive_objects_and_models(deployed):
    s3 = boto3.client("s3")
    data, models = deployed[cfg.OUTPUT_DATA_BUCKET], deployed[cfg.OUTPUT_MODEL_BUCKET]
    key = f"{settings.ARCHIVE_PREFIX}2026/01/02/00/part-1.gz"
    s3.put_object(Bucket=data, Key=key, Body=gzip.compress(b'{"user_id": "u1"}\n'))
    assert gzip.decompress(s3.get_object(Bucket=data, Key=key)["Body"].read()).startswith(b"{")
    s3.put_object(Bucket=models, Key=settings.LATEST_POINTER_KEY, Body=b'{"version": "v1"}')
    assert s3.get_object(Bucket=models, Key=settings.LATEST_POINTER_KEY)["Body"].read() == b'{"version": "v1"}'
    # (moto's CloudFormation ignores VersioningConfiguration; test_template asserts it on the template.)
