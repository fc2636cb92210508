"""The campaign alert's counters on moto: set union under replays and shards, the cap, the alerted mark."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from clickguard import settings
from clickguard.consumer.buckets import Bucket, GroupUpdate
from clickguard.consumer.state import id_digest
from clickguard.store.groups import DynamoGroupCounter
from clickguard.store.retry import Backoff
from clickguard.store.sessions import create_table

HOUR = 1_763_700_000_000 // 3_600_000 * 3_600_000
BUCKET = Bucket("login#fail+register_device", HOUR)


@pytest.fixture
def ddb(aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "sessions")
    return client


def update(users, cap=40, bucket=BUCKET):
    return GroupUpdate(bucket, tuple(id_digest(u) for u in users), tuple(sorted(users)[:10]), cap, 1_900_000_000)


def test_members_are_a_union_whatever_the_replays_and_order(ddb):
    counter = DynamoGroupCounter(ddb, "sessions")
    first = counter.add([update(["a", "b", "c"])])[BUCKET]
    again = counter.add([update(["a", "b", "c"])])[BUCKET]  # a replay of the same batch
    other = counter.add([update(["c", "d"])])[BUCKET]  # another shard, overlapping
    assert (first.members, again.members, other.members) == (3, 3, 4)
    assert other.sample == ("a", "b", "c")  # the first batch's keys stay
    assert not other.alerted


def test_a_full_bucket_answers_with_its_item_and_stops_growing(ddb):
    counter = DynamoGroupCounter(ddb, "sessions")
    counter.add([update([f"u{i}" for i in range(5)], cap=5)])
    assert counter.mark_alerted([BUCKET]) == set()
    full = counter.add([update(["late"], cap=5)])[BUCKET]
    assert full.members == 5 and full.alerted
    item = ddb.get_item(TableName="sessions", Key={"user_key": {"S": BUCKET.key}})["Item"]
    assert len(item["members"]["BS"]) == 5 and item["signature"]["S"] == BUCKET.signature
    assert int(item[settings.SESSION_TABLE_TTL_ATTRIBUTE]["N"]) == 1_900_000_000


def test_each_bucket_is_its_own_item_keyed_past_any_user_key(ddb):
    counter = DynamoGroupCounter(ddb, "sessions", ThreadPoolExecutor(4))
    buckets = [Bucket(f"sig{i}", HOUR + (i % 2) * 3_600_000) for i in range(6)]
    answers = counter.add([update([f"u{i}"], bucket=b) for i, b in enumerate(buckets)])
    assert set(answers) == set(buckets) and {c.members for c in answers.values()} == {1}
    assert len({b.key for b in buckets}) == 6
    assert all(len(b.key) > settings.MAX_USER_KEY_CHARS for b in buckets)  # the decoder rejects longer user keys


class Throttled:
    def __init__(self, client, failures):
        self.client, self.failures = client, failures

    def update_item(self, **kw):
        if self.failures:
            self.failures -= 1
            raise ddb_error("ThrottlingException")
        return self.client.update_item(**kw)


def ddb_error(code):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")


def test_throttling_is_retried_and_a_bucket_still_failing_is_left_out(ddb):
    quick = Backoff(attempts=3, sleep=lambda s: None)
    assert BUCKET in DynamoGroupCounter(Throttled(ddb, 2), "sessions", backoff=quick).add([update(["a"])])
    assert DynamoGroupCounter(Throttled(ddb, 3), "sessions", backoff=quick).add([update(["a"])]) == {}
    assert DynamoGroupCounter(Throttled(ddb, 3), "sessions", backoff=quick).mark_alerted([BUCKET]) == {BUCKET}


class Counting:
    def __init__(self, client):
        self.client, self.updates = client, 0

    def update_item(self, **kw):
        self.updates += 1
        return self.client.update_item(**kw)


def test_an_alerted_bucket_is_not_updated_again_by_this_container(ddb):
    counting = Counting(ddb)
    counter = DynamoGroupCounter(counting, "sessions")
    counter.add([update(["a"])])
    counter.mark_alerted([BUCKET])
    before = counting.updates
    answer = counter.add([update(["late"])])[BUCKET]
    assert answer.alerted and counting.updates == before  # nothing to count: its one flag went out
    fresh = DynamoGroupCounter(ddb, "sessions").add([update(["later"])])[BUCKET]  # another container learns it
    assert fresh.alerted and fresh.members == 2  # "late" was never written
