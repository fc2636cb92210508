"""The consumer's AWS data access on moto: call sizes, retries of partial failures, model refresh."""

from __future__ import annotations

import json
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import boto3
import pytest

from clickguard import settings
from clickguard.consumer.flags import Flag
from clickguard.consumer.state import LastFlag, UserState
from clickguard.model import artifact
from clickguard.model.scoring import SessionState
from clickguard.store.blobs import S3Store
from clickguard.store.flags import SqsFlagQueue
from clickguard.store.model_source import S3ModelSource
from clickguard.store.retry import Backoff
from clickguard.store.session_item import from_item
from clickguard.store.sessions import DynamoSessionStore, create_table
from tests.consumer_support import SHARD, T0, Flaky, make_model

KEY = settings.SESSION_TABLE_KEY


@pytest.fixture
def ddb(aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "sessions")
    return client


def states(n):
    return [
        UserState(
            f"u{i}",
            SessionState(None, "chat", T0, T0 + i, 3, 4_500_000),
            {SHARD: 10**100 + i},
            last_flag=LastFlag(T0, "v1", f"f{i}", ("mean_bits",)) if i % 7 == 0 else None,
            expires_at=1_800_000_000,
        )
        for i in range(n)
    ]


def test_call_sizes_round_trip_and_thread_pool(ddb):
    with ThreadPoolExecutor(4) as pool:
        store = DynamoSessionStore(ddb, "sessions", pool)
        written = states(250)
        assert store.put_many(written) == set()
        assert store.write_calls == 10  # 25 items a call
        found, failed = store.get_many([s.user_key for s in written] + ["nobody"])
        assert store.get_calls == 3 and failed == set()  # 100 keys a call
        assert found == {s.user_key: s for s in written}


def test_unprocessed_items_are_retried_with_jittered_backoff(ddb):
    sleeps = []
    store = DynamoSessionStore(Flaky(ddb), "sessions", backoff=Backoff(sleep=sleeps.append, rand=lambda: 0.5))
    assert store.put_many(states(30)) == set()
    found, failed = store.get_many([f"u{i}" for i in range(30)])
    assert len(found) == 30 and failed == set()
    assert sleeps == [0.5 * 0.025] * 3  # one pause per chunk (2 writes of 25, 1 read of 100) for its straggler


def test_keys_still_unprocessed_after_all_attempts_are_reported_not_raised(ddb):
    class Never(Flaky):
        def batch_write_item(self, RequestItems):
            ((table, reqs),) = RequestItems.items()
            return {"UnprocessedItems": {table: reqs}}

    sleeps = []
    store = DynamoSessionStore(Never(ddb), "sessions", backoff=Backoff(attempts=4, sleep=sleeps.append, rand=lambda: 1))
    assert store.put_many(states(3)) == {"u0", "u1", "u2"}
    assert store.write_calls == 4
    assert sleeps == [0.025, 0.05, 0.1]  # exponential ceiling; the jitter draws below it


def _stored(ddb, user):
    state = from_item(ddb.get_item(TableName="sessions", Key={KEY: {"S": user}}, ConsistentRead=True)["Item"])
    assert state.session is not None
    return state.session.transitions, state.version


def test_a_late_stale_write_replaces_a_newer_state_in_batch_mode_and_is_refused_in_conditional_mode(ddb):
    """The reproduced race: a crashed invocation's write (version 2, 3 transitions) lands after the retry's and
    the next batch's (7 transitions). BatchWriteItem cannot refuse it; the conditional mode does."""

    def state(transitions, version):
        return UserState("u1", SessionState(None, "chat", T0, T0 + transitions, transitions, 1), version=version)

    for conditional, expected in ((False, (3, 2)), (True, (7, 3))):
        ddb.delete_item(TableName="sessions", Key={KEY: {"S": "u1"}})
        store = DynamoSessionStore(ddb, "sessions", conditional=conditional)
        assert store.put_many([state(2, 1)]) == set()  # batch 1, read version 0
        assert store.put_many([state(5, 2)]) == set()  # the retry of batch 2, read version 1
        assert store.put_many([state(7, 3)]) == set()  # batch 3, read version 2
        stale = store.put_many([state(3, 2)])  # the crashed batch-2 invocation's write, read version 1, lands last
        assert stale == ({"u1"} if conditional else set())
        assert _stored(ddb, "u1") == expected


def test_no_write_starts_when_the_invocation_is_about_to_end(ddb):
    for conditional in (False, True):
        for i in range(30):
            ddb.delete_item(TableName="sessions", Key={KEY: {"S": f"u{i}"}})
        store = DynamoSessionStore(ddb, "sessions", conditional=conditional, min_seconds_left=22)
        store.time_left = lambda: 21.0
        assert store.put_many(states(30)) == {f"u{i}" for i in range(30)}
        assert store.write_calls == 0
        store.time_left = lambda: 60.0
        assert store.put_many([st._replace(version=1) for st in states(30)]) == set()


def test_a_failing_chunk_returns_only_after_every_other_chunk_finished():
    import threading
    import time

    from clickguard.store.retry import run_all

    finished = threading.Event()

    def call(i):
        if i == 0:
            raise RuntimeError("a bug in one chunk")
        time.sleep(0.3)
        finished.set()
        return i

    with ThreadPoolExecutor(4) as pool, pytest.raises(RuntimeError):
        run_all(pool, call, [0, 1])
    assert finished.is_set()  # the slow chunk was waited for before the error surfaced


def test_flags_go_ten_a_call_and_failed_entries_are_retried(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="flags")["QueueUrl"]

    class FailFirst:
        def __init__(self):
            self.first = True

        def send_message_batch(self, QueueUrl, Entries):
            resp = sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[1:] if self.first else Entries)
            if self.first:
                resp.setdefault("Failed", []).append(
                    {"Id": Entries[0]["Id"], "SenderFault": False, "Code": "InternalError"}
                )
                self.first = False
            return resp

    queue = SqsFlagQueue(FailFirst(), url, backoff=Backoff(sleep=lambda _s: None))
    flags = [
        Flag(f"id{i}", f"u{i}", json.dumps({"flag_id": f"id{i}"}), LastFlag(T0, "v", f"id{i}", ())) for i in range(23)
    ]
    assert queue.send(flags) == set()
    assert queue.calls == 4  # 3 chunks + 1 retry of the failed entry
    got = set()
    for _ in range(5):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        ):
            got.add(m["MessageAttributes"]["flag_id"]["StringValue"])
    assert got == {f"id{i}" for i in range(23)}


def test_model_is_cached_rechecked_cheaply_and_swapped(s3, bucket):
    now = [0.0]
    source = S3ModelSource(s3, bucket, refresh_seconds=60, clock=lambda: now[0])
    assert not source.current().scored  # nothing published: unscored, no exception
    store = S3Store(s3, bucket)
    artifact.publish(store, make_model("v1"))
    assert not source.current().scored and source.calls == 1  # within the interval: no request at all
    now[0] = 60
    assert source.current().model.version == "v1"
    now[0] = 120
    assert source.current().model.version == "v1" and source.calls == 3  # 304 Not Modified: one cheap call
    artifact.publish(store, replace(make_model("v2", scale=2.0), window_end="2025-11-22T00:00:00Z"))
    now[0] = 180
    view = source.current()
    assert view.model.version == "v2" and int(view.table.microbits[2, 3]) == 3_000_000
    # a pointer to a broken model: keep serving v2, try again next interval
    s3.put_object(Bucket=bucket, Key=settings.LATEST_POINTER_KEY, Body=b'{"version": "v9", "model_key": "x"}')
    now[0] = 240
    assert source.current().model.version == "v2"
    assert source.etag is not None


def test_a_model_without_a_usable_detector_is_refused_and_the_last_good_one_kept(s3, bucket, caplog):
    now = [0.0]
    source = S3ModelSource(s3, bucket, refresh_seconds=60, clock=lambda: now[0])
    store = S3Store(s3, bucket)
    artifact.publish(store, make_model("good"))
    assert source.current().model.version == "good"
    older_release = replace(make_model("v1-style"), detector=None, window_end="2025-11-22T00:00:00Z")
    artifact.publish(store, older_release)
    now[0] = 60
    with caplog.at_level("ERROR"):
        view = source.current()
    assert view.model.version == "good" and view.table.scorer is not None
    assert any("no detector v2" in str(getattr(r, "error", "")) for r in caplog.records)
    bad = dict(make_model("v3").detector, features=["peak_mean_bits", "something_else"])
    artifact.publish(store, replace(make_model("v3"), detector=bad, window_end="2025-11-23T00:00:00Z"))
    now[0] = 120
    assert source.current().model.version == "good"


def test_a_user_key_sqs_would_refuse_as_a_message_group_is_grouped_by_its_digest(aws):
    """moto takes any group id; SQS takes 1-128 ASCII letters, digits and punctuation, and refusing a flag holds the
    user's state back and replays the shard from there. The rule is SQS's, checked here on what was sent."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="flags.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    users = ["José García", "u" * 200, "plain-user_1", "tab\tkey"]
    flags = [Flag(f"id{i}", u, json.dumps({"flag_id": f"id{i}"}), LastFlag(T0, "v", f"id{i}", ())) for i, u in
             enumerate(users)]  # fmt: skip
    assert SqsFlagQueue(sqs, url).send(flags) == set()
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])["Messages"]
    groups = sorted(m["Attributes"]["MessageGroupId"] for m in got)
    allowed = set(string.ascii_letters + string.digits + string.punctuation)
    assert all(1 <= len(g) <= 128 and set(g) <= allowed for g in groups)
    assert "plain-user_1" in groups and len(set(groups)) == 4  # a plain key as it is; one group per user
