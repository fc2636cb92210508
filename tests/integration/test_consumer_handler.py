"""The consumer Lambda on moto: records really put on Kinesis, read back with GetRecords, delivered in the event
shape of the event source mapping; state read from DynamoDB, flags from SQS, rejects from S3."""

from __future__ import annotations

import base64
import gc
import hashlib
import importlib
import json
import sys
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from clickguard import settings
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.kinesis_event import decode_event, lambda_event
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from clickguard.store.retry import Backoff
from clickguard.store.session_item import from_item
from clickguard.store.sessions import create_table
from tests.consumer_support import FakeFlags, FakeModel, FakeRejected, FakeSessions, config, event_stream, make_model

STREAM, TABLE, BUCKET = "events", "sessions", "clickguard-data"


@dataclass
class Ctx:
    function_name: str = "consumer"
    memory_limit_in_mb: int = 1769
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:consumer"
    aws_request_id: str = "req-1"


@pytest.fixture
def world(aws, monkeypatch):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(ddb, TABLE)
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="flags")["QueueUrl"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for name, value in {
        settings.ENV_TABLE_NAME: TABLE,
        settings.ENV_FLAG_QUEUE_URL: queue,
        settings.ENV_DATA_BUCKET: BUCKET,
        settings.ENV_MODEL_REFRESH_SECONDS: "0",
    }.items():
        monkeypatch.setenv(name, value)
    return {"kinesis": kinesis, "ddb": ddb, "sqs": sqs, "s3": s3, "queue": queue}


def load_handler():
    sys.modules.pop("lambdas.consumer.handler", None)
    mod = importlib.import_module("lambdas.consumer.handler")
    no_sleep = Backoff(sleep=lambda _s: None)
    mod.SESSIONS.backoff = mod.FLAGS.backoff = no_sleep
    return mod


@pytest.fixture
def handler(world):
    artifact.publish(S3Store(world["s3"], BUCKET), make_model())
    mod = load_handler()
    yield mod
    mod.POOL.shutdown()


def put_and_read(world, payloads):
    """Put on the stream in order, read everything back, return the Lambda event."""
    k = world["kinesis"]
    for i in range(0, len(payloads), 500):
        chunk = payloads[i : i + 500]
        k.put_records(
            StreamName=STREAM,
            Records=[
                {
                    "Data": p if isinstance(p, bytes) else json.dumps(p).encode(),
                    "PartitionKey": p.get("user_id", "x") if isinstance(p, dict) else "x",
                }
                for p in chunk
            ],
        )
    desc = k.describe_stream(StreamName=STREAM)["StreamDescription"]
    shard = desc["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = []
    while True:
        resp = k.get_records(ShardIterator=it, Limit=10_000)
        got.extend(resp["Records"])
        if not resp["Records"]:
            break
        it = resp["NextShardIterator"]
    return lambda_event(got, shard, desc["StreamARN"])


def from_checkpoint(event, checkpoint):
    return {"Records": [r for r in event["Records"] if int(r["kinesis"]["sequenceNumber"]) >= int(checkpoint)]}


def table_states(world):
    items = world["ddb"].scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {s.user_key: s for s in map(from_item, items)}


def queue_flags(world):
    out = []
    while True:
        msgs = world["sqs"].receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        out.extend(json.loads(m["Body"]) for m in msgs)
        world["sqs"].delete_message_batch(
            QueueUrl=world["queue"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
        )


def pure_run(event, model=True):
    """The same records through the orchestrator with in-memory fakes: the reference result."""
    d = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model() if model else None))
    process_batch(decode_event(event), d, config())
    return d.sessions.items, {f.flag_id for f in d.flags.sent}


@pytest.fixture
def stream_event(world):
    return put_and_read(world, event_stream())


def test_batch_scores_and_replays_of_it_change_nothing(world, handler, stream_event):
    assert handler.lambda_handler(stream_event, Ctx()) == {"batchItemFailures": []}
    states, flags = table_states(world), queue_flags(world)
    ref_states, ref_flags = pure_run(stream_event)
    assert states == ref_states and len(states) == 30
    assert {f["flag_id"] for f in flags} == ref_flags and len(flags) == len(ref_flags) > 0
    half = len(stream_event["Records"]) // 2
    recs = stream_event["Records"]
    for again in (stream_event, {"Records": recs[:half]}, {"Records": recs[half:]}):
        assert handler.lambda_handler(again, Ctx()) == {"batchItemFailures": []}
    assert table_states(world) == states and queue_flags(world) == []


def test_a_web_log_s_static_files_are_counted_but_neither_sunk_nor_logged(world, handler, capsys, caplog):
    """Access log lines as a server logs them: the pages are scored; the images, scripts and stylesheets a browser
    fetched with them are counted (RecordsRejected, reason static_file) and leave no sink object or log line each."""
    lines = []
    for k, path in enumerate(["/", "/static/app.3f9a8c1d.js", "/img/12.jpg", "/article/7", "/site.css", "/article/9"]):
        when = f"21/Nov/2025:04:40:{k:02d} +0000"
        lines.append(f'203.0.113.{k % 2} - - [{when}] "GET {path} HTTP/1.1" 200 512 "-" "Mozilla/5.0"'.encode())
    event = put_and_read(world, [*lines, b"{broken"])
    assert handler.lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    keys = [o["Key"] for o in world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected/").get("Contents", [])]
    assert len(keys) == 1  # the broken record alone
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"reason"' in line]
    assert {d["reason"]: d["RecordsRejected"] for d in docs} == {"static_file": [3.0], "not_json": [1.0]}
    assert [r.reason for r in caplog.records if r.getMessage() == "record rejected"] == ["not_json"]
    assert sorted(table_states(world)) == ["203.0.113.0", "203.0.113.1"]


def test_bad_records_are_sunk_counted_and_never_fail_the_batch(world, handler, capsys, caplog):
    good = event_stream(n_users=3, per_user=4)
    event = put_and_read(world, [*good[:5], b"\xff not utf8", b"{broken", *good[5:]])
    assert handler.lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    keys = sorted(o["Key"] for o in world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected/")["Contents"])
    bad = event["Records"][5:7]
    # One object per record, named by shard and sequence number: a replay rewrites it, never adds a line.
    assert [k.rsplit("/", 1)[1] for k in keys] == [f"{r['kinesis']['sequenceNumber']}.json" for r in bad]
    assert all(k.startswith("rejected/") and k.count("/") == 5 for k in keys)
    lines = [json.loads(world["s3"].get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
    assert [ln["reason"] for ln in lines] == ["not_utf8", "not_json"]
    assert [ln["sequence_number"] for ln in lines] == [r["kinesis"]["sequenceNumber"] for r in bad]
    # Metadata only by default: size and hash find the record, the payload (personal data) is not kept.
    assert lines[1]["size"] == len(b"{broken") and lines[1]["sha256"] == hashlib.sha256(b"{broken").hexdigest()
    assert lines[1]["payload_key"] is None and "data_base64" not in lines[1]
    assert "KeyCount" not in world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected-payloads/") or (
        world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected-payloads/")["KeyCount"] == 0
    )
    assert all(ln["shard_id"].startswith("shardId-") and ln["arrival_time"].endswith("Z") for ln in lines)
    out = capsys.readouterr().out
    assert '"RecordsRejected":[2.0]' in out
    docs = [json.loads(line) for line in out.splitlines() if '"reason"' in line and '"_aws"' in line]
    per_reason = {d["reason"]: d["RecordsRejected"] for d in docs}  # one EMF document per reason, for the dashboard
    assert per_reason == {"not_utf8": [1.0], "not_json": [1.0]}
    assert all(sorted(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["reason", "service"] for d in docs)
    rejected_logs = [r for r in caplog.records if r.getMessage() == "record rejected"]
    assert [r.reason for r in rejected_logs] == ["not_utf8", "not_json"]
    assert [r.sequence_number for r in rejected_logs] == [r["kinesis"]["sequenceNumber"] for r in bad]
    assert "broken" not in caplog.text  # the payload never reaches the logs
    assert len(table_states(world)) == 3
    # The same batch again (a replay): the same objects, byte for byte, and nothing new.
    before = {k: world["s3"].get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}
    assert handler.lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    after = world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected/")["Contents"]
    assert {o["Key"]: world["s3"].get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in after} == before


class Throttle:
    """Wraps a client method: the victim's keys/items come back unprocessed on every call."""

    def __init__(self, real, victim):
        self.real, self.victim = real, victim

    def batch_get_item(self, RequestItems):
        ((table, req),) = RequestItems.items()
        keep = [k for k in req["Keys"] if k[settings.SESSION_TABLE_KEY]["S"] != self.victim]
        resp = self.real(RequestItems={table: {**req, "Keys": keep}}) if keep else {"Responses": {table: []}}
        if len(keep) < len(req["Keys"]):
            resp["UnprocessedKeys"] = {table: {**req, "Keys": [{settings.SESSION_TABLE_KEY: {"S": self.victim}}]}}
        return resp

    def batch_write_item(self, RequestItems):
        ((table, reqs),) = RequestItems.items()
        keep = [r for r in reqs if r["PutRequest"]["Item"][settings.SESSION_TABLE_KEY]["S"] != self.victim]
        resp = self.real(RequestItems={table: keep}) if keep else {}
        if len(keep) < len(reqs):
            resp["UnprocessedItems"] = {table: [r for r in reqs if r not in keep]}
        return resp


def user_of(record):
    try:
        return json.loads(base64.b64decode(record["kinesis"]["data"]))["user_id"]
    except ValueError:
        return None


def throttling_error(op):
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, op)


@pytest.mark.parametrize(
    "site", ["batch_get_item", "batch_write_item", "batch_get_item_error", "send_message_batch", "put_object"]
)
def test_throttling_at_each_call_site_checkpoints_and_replays_safely(world, handler, stream_event, site, monkeypatch):
    ref_states, ref_flags = pure_run(stream_event)
    flagged = {json.loads(base64.b64decode(r["kinesis"]["data"]))["user_id"] for r in stream_event["Records"][30:]}
    victim = sorted(flagged & {u for u in ref_states if ref_states[u].last_flag})[0]
    event = stream_event
    if site == "put_object":  # a bad record makes the sink the call site
        event = put_and_read(world, [b"{oops"])
        event = {"Records": stream_event["Records"][:20] + event["Records"][-1:] + stream_event["Records"][20:]}
        first_bad = event["Records"][20]["kinesis"]["sequenceNumber"]
    ddb, stubber = handler.DYNAMODB, None
    if site in ("batch_get_item", "batch_write_item"):
        monkeypatch.setattr(ddb, site, getattr(Throttle(getattr(ddb, site), victim), site))
    elif site == "batch_get_item_error":
        monkeypatch.setattr(ddb, "batch_get_item", lambda **kw: (_ for _ in ()).throw(throttling_error("BatchGetItem")))
    elif site == "send_message_batch":
        # one attempt per call, so botocore does not sleep between the stubbed throttles
        handler.FLAGS.client = boto3.client("sqs", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
        stubber = Stubber(handler.FLAGS.client)
        for _ in range(20):
            stubber.add_client_error("send_message_batch", "AWS.SimpleQueueService.RequestThrottled")
        stubber.activate()
    elif site == "put_object":
        monkeypatch.setattr(handler.S3, "put_object", lambda **kw: (_ for _ in ()).throw(throttling_error("PutObject")))

    failures = handler.lambda_handler(event, Ctx())["batchItemFailures"]
    assert len(failures) == 1
    checkpoint = failures[0]["itemIdentifier"]
    seqs = [int(r["kinesis"]["sequenceNumber"]) for r in event["Records"]]
    users = [user_of(r) for r in event["Records"]]
    if site in ("batch_get_item", "batch_write_item"):
        assert int(checkpoint) == min(s for s, u in zip(seqs, users, strict=True) if u == victim)
        assert victim not in table_states(world) and len(table_states(world)) == 29
    elif site == "batch_get_item_error":
        assert int(checkpoint) == seqs[0] and table_states(world) == {}
    elif site == "send_message_batch":  # users with a flag are not committed; the others are
        flagged_users = {u for u, s in ref_states.items() if s.last_flag}
        assert int(checkpoint) == min(s for s, u in zip(seqs, users, strict=True) if u in flagged_users)
        assert set(table_states(world)) == set(ref_states) - flagged_users
    else:
        assert checkpoint == first_bad and len(table_states(world)) == 30

    monkeypatch.undo()
    if stubber:
        stubber.deactivate()
        handler.FLAGS.client = world["sqs"]
    assert handler.lambda_handler(from_checkpoint(event, checkpoint), Ctx()) == {"batchItemFailures": []}
    assert table_states(world) == ref_states
    ids = [f["flag_id"] for f in queue_flags(world)]
    assert set(ids) == ref_flags  # every flag, each under its one stable id
    if site != "batch_write_item":
        assert len(ids) == len(ref_flags)  # only a failed state write may re-send (same id)


def test_no_model_keeps_state_then_a_new_model_is_picked_up_without_redeploy(world, stream_event, capsys, caplog):
    mod = load_handler()  # cold start with nothing published: must not fail
    try:
        recs = stream_event["Records"]
        assert mod.lambda_handler({"Records": recs[:200]}, Ctx()) == {"batchItemFailures": []}
        assert queue_flags(world) == [] and len(table_states(world)) > 0
        assert all(s.session.total_ubits == 0 for s in table_states(world).values())
        printed = capsys.readouterr().out
        assert '"RecordsUnscored":[200.0]' in printed and '"EventsApplied":[200.0]' in printed
        assert '"EventsIn":[200.0]' in printed
        assert "no model" in caplog.text
        artifact.publish(S3Store(world["s3"], BUCKET), make_model("v2"))
        assert mod.lambda_handler({"Records": recs[200:]}, Ctx()) == {"batchItemFailures": []}
        flags = queue_flags(world)
        assert flags and {f["model_version"] for f in flags} == {"v2"}
    finally:
        mod.POOL.shutdown()


def test_a_missing_setting_fails_the_cold_start_with_its_name(world, monkeypatch):
    from clickguard.consumer.config import ConfigError

    monkeypatch.delenv(settings.ENV_TABLE_NAME)
    with pytest.raises(ConfigError, match=settings.ENV_TABLE_NAME):
        load_handler()


def test_a_poison_record_takes_the_documented_path_through_the_local_event_source_mapping(world, handler, caplog):
    """A user whose stored state is corrupt makes the handler fail on each of that user's records (a bug, not bad
    input). Played by the local event source mapping with the stack's settings (bisect, retries, on-failure queue):
    the handler isolates those records itself, keeps each one in the sink as internal_error with its payload and
    an error id, commits everyone else, and the on-failure queue stays empty: nothing leaves through it."""
    from clickguard.local.esm import EsmSettings, EventSourceMapping

    failures = world["sqs"].create_queue(QueueName="on-failure")["QueueUrl"]
    world["ddb"].put_item(TableName=TABLE, Item={"user_key": {"S": "u2"}, "last_token": {"S": "chat"}})
    payloads = event_stream(n_users=6, per_user=5)
    for p in payloads:
        world["kinesis"].put_record(StreamName=STREAM, Data=json.dumps(p).encode(), PartitionKey=p["user_id"])
    esm = EventSourceMapping(
        world["kinesis"],
        world["sqs"],
        STREAM,
        handler.lambda_handler,
        EsmSettings(
            batch_size=100,
            bisect_on_error=True,
            max_retry_attempts=2,
            report_batch_item_failures=True,
            on_failure_queue_url=failures,
        ),
    )
    esm.drain()
    assert "Messages" not in world["sqs"].receive_message(QueueUrl=failures, MaxNumberOfMessages=10)
    s3 = world["s3"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/")["Contents"])
    docs = [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
    poison = [p for p in payloads if p["user_id"] == "u2"]
    assert len(docs) == len(poison) and {d["reason"] for d in docs} == {"internal_error"}
    kept = [s3.get_object(Bucket=BUCKET, Key=d["payload_key"])["Body"].read() for d in docs]
    assert sorted(json.loads(b)["timestamp"] for b in kept) == sorted(p["timestamp"] for p in poison)
    assert all(d["payload_key"].startswith(settings.REJECTED_PAYLOAD_PREFIX) for d in docs)
    states = {k: v for k, v in world_items(world).items() if k != "u2"}
    assert set(states) == {p["user_id"] for p in payloads} - {"u2"}
    errors = [r for r in caplog.records if r.getMessage().startswith("record failed the consumer")]
    assert len(errors) == len(poison) and all(len(r.error_id) == 16 for r in errors)
    assert {r.error_id for r in errors} <= {d["detail"].rsplit(" ", 1)[1].rstrip(")") for d in docs}


def world_items(world):
    items = world["ddb"].scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {i["user_key"]["S"]: i for i in items}


def test_a_fuzzed_stream_never_fails_the_handler_and_every_reject_is_sunk_once(world, handler, caplog):
    """A fixed-seed campaign of hostile records (half the stream) through the real handler on moto: every batch
    commits, every malformed record is rejected with a reason (no internal_error: the decoder is total) and sunk
    exactly once even when a batch is replayed, and no personal datum of the envelopes reaches state or sink."""
    from clickguard.events import parse_record
    from clickguard.rejections import Reason, RejectedRecord
    from clickguard.timestamps import time_if_missing
    from tests.fuzz_records import fuzz_payloads

    payloads = fuzz_payloads(3000, seed=20261125)
    expected_rejects = 0
    for p in payloads:
        try:
            with time_if_missing(1_763_700_000_000):  # an event with no time is read at its arrival
                parse_record(p)
        except RejectedRecord:
            expected_rejects += 1
    event = put_and_read(world, payloads)
    batches = [{"Records": event["Records"][i : i + 500]} for i in range(0, len(event["Records"]), 500)]
    for batch in [*batches, batches[1], batches[3]]:  # two replays
        assert handler.lambda_handler(batch, Ctx()) == {"batchItemFailures": []}
    assert not [r for r in caplog.records if r.getMessage().startswith("record failed the consumer")]
    s3 = world["s3"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="rejected/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert len(keys) == expected_rejects > 500
    reasons = {json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())["reason"] for k in keys[::25]}
    assert reasons <= {r.value for r in Reason} - {Reason.INTERNAL_ERROR.value}
    sink = b"".join(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys)
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix=settings.REJECTED_PAYLOAD_PREFIX).get("KeyCount")
    dump = json.dumps(world["ddb"].scan(TableName=TABLE)["Items"], default=repr) + caplog.text + sink.decode()
    dump += json.dumps(queue_flags(world))
    assert "356938035643809" not in dump and "10.1.2.3" not in dump  # the envelopes' IMEI and IP


def test_a_batch_s_records_are_freed_before_the_collector_resumes(world, handler, monkeypatch):
    """The handler pauses the cyclic collector for a batch. Were the batch's records still alive when it resumes,
    the objects made while it was paused would set off a collection walking all of them, to free none (2-5 ms a
    10,000-record batch). So after the paused block, the collector's count of new objects is what the outcome holds,
    not the batch's."""
    from datetime import UTC, datetime

    from clickguard.consumer.batch import BatchOutcome
    from clickguard.gc_pause import no_cyclic_gc

    n = 5_000
    got = [{"Data": b"{}", "PartitionKey": f"u{i}", "SequenceNumber": str(10**20 + i),
            "ApproximateArrivalTimestamp": datetime(2025, 11, 21, tzinfo=UTC)} for i in range(n)]  # fmt: skip
    event = lambda_event(got, "shardId-000000000000", "arn:aws:kinesis:us-east-1:123456789012:stream/events")
    alive: list[int] = []  # the collector's count of new objects while the batch runs
    monkeypatch.setattr(handler, "process_batch", lambda records, deps, cfg: alive.append(gc.get_count()[0]) or
                        BatchOutcome(records_in=len(records)))  # fmt: skip
    gc.collect()
    with no_cyclic_gc():
        out = handler.consume(event)
        left = gc.get_count()[0]
    assert out.records_in == n
    assert alive[0] >= n  # the batch's records count while it runs
    assert left < 100  # freed on return: nothing for a collection to walk when the collector resumes
