"""The social network's state on moto (issue 12): the item format, call sizes (100 keys a read, 25 items a write),
retries of unprocessed keys and items, failures reported as keys, and the step + commit through DynamoDB giving
what the in-memory store gives, interruptions included."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bench.network_data import LogShape, events
from clickguard.network.config import NetworkConfig
from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.state import FriendsItem, Part, Purchase, PurchasesItem
from clickguard.store.network import DynamoNetworkStore, create_table
from clickguard.store.retry import Backoff
from tests.consumer_support import Flaky
from tests.network_support import SEQ0, SHARD, RecordingSink, run_chunks, run_until_committed, snapshot, texts

TABLE = "network"
NO_WAIT = Backoff(sleep=lambda s: None)
CONFIG = NetworkConfig(degree=2, window=6)


@pytest.fixture
def ddb(aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, TABLE)
    return client


def friends(n: int) -> list[FriendsItem]:
    return [FriendsItem(f"u{i}", frozenset({f"u{i + 1}", f"u{i + 2}"}) if i % 3 else frozenset(), {SHARD: SEQ0 + i})
            for i in range(n)]  # fmt: skip


def purchases(n: int) -> list[PurchasesItem]:
    late = Purchase(2_000, SEQ0 + 10**6, 3, SHARD, 5)  # the fourth event of an aggregated record
    return [PurchasesItem(f"u{i}", (Purchase(1_000 + i, SEQ0 + i, 0, SHARD, 1683), late), {SHARD: late.seq})
            for i in range(n)]  # fmt: skip


def test_items_round_trip_exactly_including_empty_friend_sets_and_129_digit_positions(ddb):
    store = DynamoNetworkStore(ddb, TABLE)
    long_seq = int("9" * 129)
    items = [*friends(4), FriendsItem("big", frozenset({"x"}), {SHARD: long_seq, "shardId-1": 3})]
    assert store.put(items, purchases(3)) == set()
    got_f, failed = store.get_friends([i.user_key for i in items] + ["nobody"])
    assert failed == set()
    assert got_f == {i.user_key: i for i in items}
    got_p, _ = store.get_purchases(["u0", "u1", "u2", "nobody"])
    assert got_p == {p.user_key: p for p in purchases(3)}


def test_reads_take_100_keys_a_call_and_writes_25_items_a_call(ddb):
    store = DynamoNetworkStore(ddb, TABLE, ThreadPoolExecutor(4))
    assert store.put(friends(130), purchases(120)) == set()
    assert store.write_calls == 10  # 250 items
    found, _ = store.get_friends([f"u{i}" for i in range(250)])
    assert store.get_calls == 3
    assert len(found) == 130


def test_unprocessed_keys_and_items_are_retried_until_done(ddb):
    store = DynamoNetworkStore(Flaky(ddb), TABLE, backoff=NO_WAIT)
    assert store.put(friends(5), []) == set()
    found, failed = store.get_friends([f"u{i}" for i in range(5)])
    assert (len(found), failed) == (5, set())
    assert store.write_calls == 2 and store.get_calls == 2


class Down:
    def batch_get_item(self, **kw):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "BatchGetItem")

    def batch_write_item(self, **kw):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "BatchWriteItem")


def test_what_still_fails_is_reported_as_keys_never_raised():
    store = DynamoNetworkStore(Down(), TABLE, backoff=NO_WAIT)
    assert store.get_purchases(["a", "b"]) == ({}, {"a", "b"})
    assert store.put(friends(2), purchases(1)) == {(Part.FRIENDS, "u0"), (Part.FRIENDS, "u1"), (Part.PURCHASES, "u0")}


def test_no_write_starts_with_too_little_of_the_invocation_left(ddb):
    store = DynamoNetworkStore(ddb, TABLE, min_seconds_left=22.0)
    store.time_left = lambda: 5.0
    assert store.put(friends(2), []) == {(Part.FRIENDS, "u0"), (Part.FRIENDS, "u1")}
    assert store.write_calls == 0
    store.time_left = lambda: 60.0
    assert store.put(friends(2), []) == set()


def _log() -> tuple[list, list]:
    shape = LogShape(users=30, events=600, seed=9, outlier_share=0.05, late_share=0.1, events_per_second=4)
    batch = [ev._replace(shard_id=SHARD, seq=SEQ0 + ev.seq) for ev in events(shape)]
    stream = [ev._replace(shard_id=SHARD, seq=SEQ0 + 10_000 + ev.seq) for ev in events(shape)]
    return batch, stream


def dynamo_snapshot(store: DynamoNetworkStore, users: list[str]) -> tuple[dict, dict]:
    f, _ = store.get_friends(users)
    p, _ = store.get_purchases(users)
    return snapshot(InMemoryNetworkStore(friends=f, purchases=p))


def test_the_step_through_dynamodb_gives_what_the_in_memory_store_gives(ddb):
    batch, stream = _log()
    memory = InMemoryNetworkStore()
    run_chunks(batch, memory, CONFIG, 100, score=False)
    want = run_chunks(stream, memory, CONFIG, 100)
    dynamo = DynamoNetworkStore(ddb, TABLE, ThreadPoolExecutor(4))
    run_chunks(batch, dynamo, CONFIG, 100, score=False)
    got = run_chunks(stream, dynamo, CONFIG, 100)
    assert want and texts(got) == texts(want)
    users = [str(i) for i in range(30)]
    assert dynamo_snapshot(dynamo, users) == snapshot(memory)


class FailsOnce:
    """The first BatchWriteItem fails outright (a crash between the item writes of one batch); the rest pass."""

    def __init__(self, client: Any) -> None:
        self.client, self.failed = client, False

    def batch_get_item(self, **kw):
        return self.client.batch_get_item(**kw)

    def batch_write_item(self, **kw):
        if not self.failed:
            self.failed = True
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "BatchWriteItem")
        return self.client.batch_write_item(**kw)


def test_a_crash_between_item_writes_is_replayed_from_the_checkpoint_without_double_effects(ddb):
    batch, stream = _log()
    memory = InMemoryNetworkStore()
    run_chunks(batch + stream, memory, CONFIG, 1000)
    dynamo = DynamoNetworkStore(FailsOnce(ddb), TABLE, backoff=NO_WAIT)
    outcomes = run_until_committed(batch + stream, dynamo, CONFIG, RecordingSink())
    assert outcomes[0].checkpoint is not None and outcomes[-1].checkpoint is None
    users = [str(i) for i in range(30)]
    assert dynamo_snapshot(DynamoNetworkStore(ddb, TABLE), users) == snapshot(memory)
