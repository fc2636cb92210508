"""Consumer benchmarks (issue 3): API calls, records/s against moto, and handler CPU per record.

Same data, same process for every pair:

1. API calls for one batch of 10,000 records from 1,000 users: BatchGetItem/BatchWriteItem of the consumer beside
   the GetItem/PutItem of a per-record consumer.
2. Records per second end to end against moto (Lambda event in, DynamoDB and SQS out) of the real handler
   beside the per-record consumer (``bench.consumer_baseline``), with the ratio.
3. Handler CPU microseconds per record with every AWS call replaced by a fake that only records it, beside the
   thesis's per-record dictionary loop (annex V of seed 000), with the ratio.

Run: ``python -m bench.bench_consumer`` (``--quick`` for a 1,000-record smoke run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.consumer_baseline import PerRecordConsumer, thesis_loop
from bench.data import TOKEN_NAMES, ndjson_lines
from clickguard import settings
from clickguard.consumer.kinesis_event import lambda_event
from clickguard.model import artifact
from clickguard.model.model import Model, ModelParams
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train

T0_MS = int(datetime(2025, 11, 21, tzinfo=UTC).timestamp() * 1000)
SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"
TABLE, BUCKET = "sessions", "clickguard-bench"


def trained_model() -> Model:
    cols = EventColumns()
    cols.add_lines(ndjson_lines(200_000, 5_000, T0_MS - 7 * 86_400_000, 7 * 86_400_000, seed=7))
    model, _ = train(cols, ModelParams(), window_start="w0", window_end="w1", created_at="2025-11-21T00:00:00Z",
                     min_sessions=10)
    return model


def batch_lines(n: int, n_users: int, seed: int = 1) -> list[bytes]:
    """Exactly ``n_users`` users with ``n / n_users`` events each, 1-60 s apart, interleaved in time order."""
    rng = np.random.default_rng(seed)
    per = n // n_users
    users = np.repeat(np.arange(n_users), per)
    steps = rng.integers(1_000, 60_000, n_users * per).reshape(n_users, per)
    ts = (rng.integers(0, 3_600_000, n_users)[:, None] + np.cumsum(steps, axis=1)).ravel() + T0_MS
    toks = np.minimum(rng.zipf(1.4, len(ts)) - 1, len(TOKEN_NAMES) - 1)
    fail = rng.random(len(ts)) < 0.08
    out = []
    for i in np.argsort(ts, kind="stable").tolist():
        secs, ms = divmod(int(ts[i]), 1000)
        out.append(
            (f'{{"user_id": "user-{users[i]}", "event_type": "{TOKEN_NAMES[toks[i]]}", "timestamp": {secs}.{ms:03d}, '
             f'"outcome": "{"fail" if fail[i] else "success"}"}}').encode()
        )
    return out


def batch_event(n: int, n_users: int, seed: int = 1) -> dict[str, Any]:
    """The batch as the event source mapping delivers it (GetRecords shape -> Lambda event)."""
    seq0 = 49590338271490256608559692538361571095921575989136588898
    arrival = datetime.fromtimestamp(T0_MS / 1000 + 7200, tz=UTC)
    got = [
        {"Data": line, "PartitionKey": json.loads(line)["user_id"], "SequenceNumber": str(seq0 + i * 1000),
         "ApproximateArrivalTimestamp": arrival}
        for i, line in enumerate(batch_lines(n, n_users, seed))
    ]
    return lambda_event(got, SHARD, STREAM_ARN)


def aws_resources(model: Model) -> dict[str, Any]:
    import boto3

    from clickguard.store.blobs import S3Store
    from clickguard.store.sessions import create_table

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for name in (TABLE, TABLE + "-baseline"):
        create_table(ddb, name)
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="flags")["QueueUrl"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    artifact.publish(S3Store(s3, BUCKET), model)
    os.environ.update({
        settings.ENV_TABLE_NAME: TABLE, settings.ENV_FLAG_QUEUE_URL: queue, settings.ENV_DATA_BUCKET: BUCKET,
        "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
        "AWS_DEFAULT_REGION": "us-east-1",
    })
    return {"ddb": ddb, "sqs": sqs, "queue": queue}


def load_handler():
    sys.modules.pop("lambdas.consumer.handler", None)
    return importlib.import_module("lambdas.consumer.handler")


class Ctx:
    function_name, memory_limit_in_mb, aws_request_id = "consumer", 1769, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:consumer"


def bench_moto(event: dict[str, Any], model: Model) -> dict[str, float]:
    from moto import mock_aws

    n = len(event["Records"])
    with mock_aws():
        res = aws_resources(model)
        h = load_handler()
        g0, w0 = h.SESSIONS.get_calls, h.SESSIONS.write_calls
        t0 = time.perf_counter()
        resp = h.lambda_handler(event, Ctx())
        ours_s = time.perf_counter() - t0
        assert resp == {"batchItemFailures": []}, resp
        gets, writes, flags = h.SESSIONS.get_calls - g0, h.SESSIONS.write_calls - w0, h.FLAGS.calls
        base = PerRecordConsumer(res["ddb"], res["sqs"], TABLE + "-baseline", res["queue"], model,
                                 settings.DEFAULT_FLAG_COOLDOWN_SECONDS)
        t0 = time.perf_counter()
        base.handle(event)
        base_s = time.perf_counter() - t0
        h.POOL.shutdown()
    return {"gets": gets, "writes": writes, "sqs": flags, "base_calls": base.calls,
            "ours_rps": n / ours_s, "base_rps": n / base_s}


class RecordingClient:
    """Stands in for the boto3 clients: remembers each call, answers 'no state yet' and 'all accepted'."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def batch_get_item(self, RequestItems):
        self.calls.append("BatchGetItem")
        return {"Responses": {t: [] for t in RequestItems}}

    def batch_write_item(self, RequestItems):
        self.calls.append("BatchWriteItem")
        return {}

    def send_message_batch(self, QueueUrl, Entries):
        self.calls.append("SendMessageBatch")
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def put_object(self, **kw):
        self.calls.append("PutObject")
        return {}


def bench_cpu(event: dict[str, Any], model: Model, repeat: int) -> dict[str, float]:
    from unittest import mock

    from moto import mock_aws

    n = len(event["Records"])
    with mock_aws():
        aws_resources(model)
        h = load_handler()
        h.MODEL.refresh_seconds = 10**9  # cached model: the steady state between re-checks
        fake = RecordingClient()
        h.SESSIONS.client = h.FLAGS.client = fake
        with mock.patch.object(h.DEPS.rejected, "client", fake):
            h.lambda_handler(event, Ctx())  # warm-up
            ours = []
            for _ in range(repeat):
                t0 = time.process_time()
                h.lambda_handler(event, Ctx())
                ours.append(time.process_time() - t0)
        h.POOL.shutdown()
    matrix = np.log(np.exp2(-model.surprisal.astype(np.float64))).tolist()
    index = dict(model.index)
    thesis = []
    for _ in range(repeat):
        t0 = time.process_time()
        thesis_loop(event, matrix, index, {})
        thesis.append(time.process_time() - t0)
    per_run = len(fake.calls) // (repeat + 1)
    return {"ours_us": min(ours) / n * 1e6, "thesis_us": min(thesis) / n * 1e6, "fake_calls": per_run}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 records / 100 users instead of 10,000 / 1,000")
    args = ap.parse_args(argv)
    n, users = (1_000, 100) if args.quick else (10_000, 1_000)
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    model = trained_model()
    event = batch_event(n, users)
    print(f"batch: {n:,} records, {users:,} users, model {model.n_states} states")

    m = bench_moto(event, model)
    print("1. API calls for the batch")
    print(f"   consumer : {m['gets']} BatchGetItem + {m['writes']} BatchWriteItem + {m['sqs']} SendMessageBatch")
    print(f"   per-record baseline: {m['base_calls']:,} GetItem/PutItem calls "
          f"({m['base_calls'] / max(1, m['gets'] + m['writes']):.0f}x more DynamoDB calls)")
    print("2. end to end against moto (handler in-process)")
    print(f"   consumer {m['ours_rps']:,.0f} records/s, per-record {m['base_rps']:,.0f} records/s, "
          f"ratio {m['ours_rps'] / m['base_rps']:.1f}x")
    c = bench_cpu(event, model, repeat=3 if args.quick else 5)
    print("3. handler CPU per record, AWS calls replaced by recording fakes (best of runs, one process)")
    print(f"   consumer {c['ours_us']:.1f} us/record ({c['fake_calls']} recorded calls a batch), "
          f"thesis-style dict loop {c['thesis_us']:.1f} us/record, "
          f"ratio consumer/thesis {c['ours_us'] / c['thesis_us']:.2f}")


if __name__ == "__main__":
    main()
