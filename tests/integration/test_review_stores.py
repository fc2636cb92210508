"""The review loop's AWS adapters on moto: decisions queue, decision log, rejected messages, allow-list, labels."""

from __future__ import annotations

import json

import boto3
import pytest

from clickguard import settings
from clickguard.model.ports import ConditionalWriteFailed
from clickguard.review.allowlist import AllowList, apply
from clickguard.review.decision import Verdict, parse_decision
from clickguard.review.ports import DecisionStoreError, RejectedDecision
from clickguard.store.allowlist import S3AllowListSource, S3AllowListStore
from clickguard.store.decisions import (
    S3DecisionLog,
    S3RejectedDecisions,
    SqsDecisionQueue,
    group_id,
    read_decisions,
)
from clickguard.store.labels import S3Labels, put_decisions
from tests.review_support import T0_MS, decision

BUCKET = "clickguard-models"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_the_log_writes_a_decision_once_and_a_redelivery_finds_it(s3):
    log = S3DecisionLog(s3, BUCKET)
    d = decision()
    assert log.record(d) is True
    assert log.record(d) is False  # IfNoneMatch: the object is never rewritten
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [d.log_key()] and keys[0].startswith(settings.DECISIONS_PREFIX)
    body = s3.get_object(Bucket=BUCKET, Key=d.log_key())["Body"].read()
    assert body.endswith(b"\n") and parse_decision(body.strip()) == d


def test_a_missing_bucket_is_a_store_error_not_a_duplicate(s3):
    with pytest.raises(DecisionStoreError, match="NoSuchBucket"):
        S3DecisionLog(s3, "nope").record(decision())


def test_the_trainers_label_reader_sees_the_log_beside_other_block_lists(s3):
    log = S3DecisionLog(s3, BUCKET)
    log.record(decision(user="a", verdict=Verdict.BLOCK, flag_id="fa"))
    log.record(decision(user="b", verdict=Verdict.ALLOW, flag_id="fb"))
    log.record(decision(user="c", verdict=Verdict.BLOCK, flag_id="fc1", at_ms=T0_MS))
    log.record(decision(user="c", verdict=Verdict.ALLOW, flag_id="fc2", at_ms=T0_MS + 60_000))
    put_decisions(s3, BUCKET, [{"user_key": "d", "decision": "fraud", "decided_at": "2025-11-20T00:00:00Z"}], "x")
    labels = S3Labels(s3, BUCKET)
    assert labels.blocked_users() == {"a", "d"}
    assert labels.reviewed_users() == {"b", "c"}


def test_read_decisions_lists_the_log_from_a_day(s3):
    log = S3DecisionLog(s3, BUCKET)
    early, late = decision(flag_id="f1", at_ms=T0_MS), decision(flag_id="f2", at_ms=T0_MS + 2 * 86_400_000)
    log.record(early)
    log.record(late)
    assert list(read_decisions(s3, BUCKET)) == [early, late]
    assert list(read_decisions(s3, BUCKET, since_day="2025-11-25")) == [late]


def test_a_rejected_message_is_kept_with_its_reason_outside_labels(s3):
    sink = S3RejectedDecisions(s3, BUCKET)
    rejected = RejectedDecision("6f1c-42", "not_json", "body is not JSON", "{oops", T0_MS)
    sink.put(rejected)
    key = sink.key(rejected)
    assert key == f"{settings.REJECTED_DECISIONS_PREFIX}2025/11/24/6f1c-42.json"
    assert not key.startswith(settings.LABELS_PREFIX)
    doc = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert (doc["reason"], doc["body"], doc["size"]) == ("not_json", "{oops", 5)
    odd = RejectedDecision("../../x", "not_json", "", "", T0_MS)
    assert "/../" not in sink.key(odd) and sink.key(odd).startswith(settings.REJECTED_DECISIONS_PREFIX)


def test_the_allow_list_store_creates_then_compare_and_swaps(s3):
    store = S3AllowListStore(s3, BUCKET)
    empty, etag = store.read()
    assert len(empty) == 0 and etag is None
    first = apply(empty, [decision(user="a")], days=30, margin=0.25, now_ms=T0_MS)
    store.write(first, None)
    with pytest.raises(ConditionalWriteFailed):
        store.write(first, None)  # someone created it meanwhile
    got, etag = store.read()
    assert got == first and etag
    second = apply(got, [decision(user="b")], days=30, margin=0.25, now_ms=T0_MS)
    store.write(second, etag)
    with pytest.raises(ConditionalWriteFailed):
        store.write(first, etag)  # stale: the list moved on
    assert store.read()[0] == second


def test_the_consumers_source_re_checks_with_a_conditional_get(s3):
    now = [0.0]
    source = S3AllowListSource(s3, BUCKET, refresh_seconds=60, clock=lambda: now[0])
    assert len(source.current()) == 0 and source.calls == 1  # no list yet: nobody is allowed
    store = S3AllowListStore(s3, BUCKET)
    store.write(apply(AllowList(), [decision(user="a")], days=30, margin=0.25, now_ms=T0_MS), None)
    assert len(source.current()) == 0 and source.calls == 1  # within the interval: no call
    now[0] = 61
    assert source.current().entry("a") is not None and source.calls == 2
    now[0] = 122
    assert source.current().entry("a") is not None and source.calls == 3  # a 304: kept, nothing parsed
    assert source.etag == store.read()[1]


def test_the_consumers_source_keeps_its_list_when_the_object_turns_unreadable(s3):
    now = [0.0]
    store = S3AllowListStore(s3, BUCKET)
    store.write(apply(AllowList(), [decision(user="a")], days=30, margin=0.25, now_ms=T0_MS), None)
    source = S3AllowListSource(s3, BUCKET, refresh_seconds=1, clock=lambda: now[0])
    assert source.current().entry("a") is not None
    s3.put_object(Bucket=BUCKET, Key=settings.ALLOWLIST_KEY, Body=b"garbage")
    now[0] = 2
    assert source.current().entry("a") is not None
    s3.delete_object(Bucket=BUCKET, Key=settings.ALLOWLIST_KEY)
    now[0] = 4
    assert len(source.current()) == 0  # deleted by an operator: nobody is allowed any more


def test_decisions_go_to_the_fifo_queue_grouped_by_user_and_deduplicated(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(
        QueueName="decisions.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    queue = SqsDecisionQueue(sqs, url)
    d = decision()
    queue.send(d)
    queue.send(d)  # a retried send
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == 1 and parse_decision(messages[0]["Body"]) == d
    assert messages[0]["Attributes"]["MessageGroupId"] == "u-1"
    with pytest.raises(DecisionStoreError):
        SqsDecisionQueue(sqs, url + "-missing.fifo").send(d)


def test_a_user_key_sqs_cannot_take_as_a_group_is_grouped_by_its_digest():
    assert group_id("u-1") == "u-1"
    odd = group_id("ünï cødé " * 20)
    assert odd.startswith("sha256-") and len(odd) <= 128 and odd == group_id("ünï cødé " * 20)
