"""The decisions Lambda on moto: decisions sent to a FIFO queue, received, delivered in Lambda's SQS event shape,
recorded in S3; metrics and the partial-batch response."""

from __future__ import annotations

import importlib
import json
import sys
import time
from dataclasses import dataclass

import boto3
import pytest

from clickguard import settings
from clickguard.review.decision import Verdict
from clickguard.review.sqs_event import lambda_event
from clickguard.store.allowlist import S3AllowListStore
from clickguard.store.decisions import SqsDecisionQueue
from clickguard.store.labels import S3Labels
from tests.review_support import decision

BUCKET = "clickguard-models"
NOW_MS = int(time.time() * 1000)


@dataclass
class Ctx:
    function_name: str = "decisions"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:decisions"
    aws_request_id: str = "req-1"


@pytest.fixture
def world(aws, monkeypatch):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(
        QueueName="decisions.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    monkeypatch.setenv(settings.ENV_MODEL_BUCKET, BUCKET)
    monkeypatch.setenv(settings.ENV_ALLOWLIST_DAYS, "10")
    sys.modules.pop("lambdas.decisions.handler", None)
    handler = importlib.import_module("lambdas.decisions.handler")
    return {"s3": s3, "sqs": sqs, "url": url, "handler": handler}


def event_of(world):
    sqs, url = world["sqs"], world["url"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return lambda_event(messages, arn)


def emf(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_decisions_are_recorded_labelled_and_allowed_and_metrics_say_so(world, capsys):
    queue = SqsDecisionQueue(world["sqs"], world["url"])
    queue.send(decision(user="a", verdict=Verdict.BLOCK, flag_id="fa"))
    queue.send(decision(user="b", verdict=Verdict.ALLOW, flag_id="fb", at_ms=NOW_MS))  # expiring 10 days from now
    world["sqs"].send_message(QueueUrl=world["url"], MessageBody="not a decision", MessageGroupId="x")
    event = event_of(world)
    assert len(event["Records"]) == 3 and event["Records"][0]["attributes"]["MessageGroupId"] == "a"
    assert world["handler"].lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    labels = S3Labels(world["s3"], BUCKET)
    assert labels.blocked_users() == {"a"} and labels.reviewed_users() == {"b"}
    allow, _ = S3AllowListStore(world["s3"], BUCKET).read()
    entry = allow.entry("b")
    assert entry is not None and entry.expires_at_ms - entry.decided_at_ms == 10 * 86_400_000
    rejected = world["s3"].list_objects_v2(Bucket=BUCKET, Prefix=settings.REJECTED_DECISIONS_PREFIX)["Contents"]
    assert len(rejected) == 1
    docs = emf(capsys)
    totals = next(d for d in docs if settings.METRIC_DECISIONS_REJECTED in d)
    assert totals[settings.METRIC_DECISIONS_RECORDED] == [2.0] and totals[settings.METRIC_DECISIONS_REJECTED] == [1.0]
    per_decision = {d["decision"]: d[settings.METRIC_DECISIONS_RECORDED] for d in docs if "decision" in d}
    assert per_decision == {"block": [1.0], "allow": [1.0]}


def test_the_logs_never_carry_a_decisions_content(world, capsys):
    d = decision(user="secret-user-key", verdict=Verdict.ALLOW, flag_id="fs")
    SqsDecisionQueue(world["sqs"], world["url"]).send(d)
    world["handler"].lambda_handler(event_of(world), Ctx())
    out = capsys.readouterr().out
    assert "secret-user-key" not in out and "alice" not in out and d.reason not in out


def test_a_failing_store_reports_only_the_failed_messages(world, monkeypatch):
    queue = SqsDecisionQueue(world["sqs"], world["url"])
    queue.send(decision(user="a", verdict=Verdict.BLOCK, flag_id="fa"))
    queue.send(decision(user="b", verdict=Verdict.BLOCK, flag_id="fb"))
    event = event_of(world)
    log = world["handler"].DEPS.log
    real = log.client.put_object

    def put_object(**kwargs):
        if "/fa." in kwargs["Key"]:
            raise world["handler"].S3.exceptions.ClientError(
                {"Error": {"Code": "SlowDown", "Message": "x"}}, "PutObject"
            )
        return real(**kwargs)

    monkeypatch.setattr(log.client, "put_object", put_object)
    response = world["handler"].lambda_handler(event, Ctx())
    failed_id = next(r["messageId"] for r in event["Records"] if r["attributes"]["MessageGroupId"] == "a")
    assert response == {"batchItemFailures": [{"itemIdentifier": failed_id}]}


def test_a_bad_setting_fails_the_cold_start_naming_it(aws, monkeypatch):
    from clickguard.envconfig import ConfigError
    from clickguard.review.config import DecisionsConfig

    with pytest.raises(ConfigError, match=settings.ENV_MODEL_BUCKET):
        DecisionsConfig.from_env({})
    with pytest.raises(ConfigError, match=settings.ENV_ALLOW_MARGIN):
        DecisionsConfig.from_env({settings.ENV_MODEL_BUCKET: "b", settings.ENV_ALLOW_MARGIN: "nan"})
    with pytest.raises(ConfigError, match=settings.ENV_ALLOWLIST_DAYS):
        DecisionsConfig.from_env({settings.ENV_MODEL_BUCKET: "b", settings.ENV_ALLOWLIST_DAYS: "0"})
    config = DecisionsConfig.from_env({settings.ENV_MODEL_BUCKET: "b"})
    assert (config.allowlist_days, config.allow_margin) == (settings.DEFAULT_ALLOWLIST_DAYS, 0.25)
