"""One decoder everywhere: a stream fed by every kind of producer is archived (the local archiver, playing the
Firehose transformation with the same function) as the canonical events the consumer scores, so the model trained
from it equals the model trained from the same events sent canonically; and the archive holds no personal data.

Records are built with the producers' own libraries where one exists (aws_kinesis_agg's aggregator for KPL, the
Segment client's message builder), otherwise from the published formats (Snowplow's enriched TSV in
snowplow_analytics_sdk's column order, CloudWatch Logs' subscription payload).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import zlib
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.decoding import Decoder
from clickguard.decoding.archive import ArchiveStats, canonical_line, firehose_response
from clickguard.local.archiver import Archiver
from clickguard.model.model import ModelParams
from clickguard.store.archive import S3Archive
from clickguard.timestamps import format_ms
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train
from clickguard.training.ports import ArchiveStats as ReadStats
from tests.factories import ordinary_events
from tests.snowplow_support import zstd_record

STREAM, BUCKET = "events", "archive"
PERSONAL = ("203.0.113.77", "Mozilla/5.0 (PII-UA)", "356938035643809", "41.6176", "Lleida")


def snowplow(ev: dict) -> bytes:
    from snowplow_analytics_sdk.event_transformer import ENRICHED_EVENT_FIELD_TYPES

    names = [n for n, _ in ENRICHED_EVENT_FIELD_TYPES]
    token = ev["event_type"] + ("#fail" if ev["outcome"] == "fail" else "")
    row = dict.fromkeys(names, "")
    row.update(
        app_id="shop", platform="web", event="unstruct", event_name=token, user_id=ev["user_id"],
        collector_tstamp=format_ms(int(ev["timestamp"] * 1000)).replace("T", " ").rstrip("Z"),
        user_ipaddress=PERSONAL[0], useragent=PERSONAL[1], geo_latitude=PERSONAL[3], geo_city=PERSONAL[4],
    )  # fmt: skip
    return "\t".join(row[n] for n in names).encode()


def segment(ev: dict) -> bytes:
    from segment.analytics import Client

    token = ev["event_type"] + ("#fail" if ev["outcome"] == "fail" else "")
    sent = datetime.fromtimestamp(ev["timestamp"], tz=UTC)
    _, msg = Client(write_key="test", send=False).track(
        user_id=ev["user_id"], event=token, timestamp=sent,
        context={"ip": PERSONAL[0], "userAgent": PERSONAL[1], "device": {"id": PERSONAL[2]}},
    )  # fmt: skip
    msg.pop("messageId")  # the canonical events carry no event id: neither may these
    return json.dumps(msg, default=str).encode()


def with_personal_data(ev: dict) -> bytes:
    return json.dumps({**ev, "attributes": {"ip": PERSONAL[0], "ua": PERSONAL[1], "imei": PERSONAL[2]}}).encode()


def cloudwatch(chunk: list[dict]) -> bytes:
    log_events = [
        {"id": str(i), "timestamp": 0, "message": with_personal_data(e).decode()} for i, e in enumerate(chunk)
    ]
    doc = {"messageType": "DATA_MESSAGE", "logGroup": "/app", "logStream": "s", "logEvents": log_events}
    return gzip.compress(json.dumps(doc).encode())


def kpl(chunk: list[dict]) -> bytes:
    agg = RecordAggregator()
    for e in chunk:
        agg.add_user_record(e["user_id"], with_personal_data(e))
    return agg.clear_and_get().get_contents()[2]


def mixed_records(events: list[dict], seed: int = 3) -> list[bytes]:
    """The events in order, in records of every format (several events per record where the format allows)."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(events):
        kind = rng.choice(
            ["json", "segment", "snowplow", "base64", "kpl", "gzip", "zlib", "cloudwatch", "snowplow_zstd"]
        )
        n = 1 if kind in ("json", "segment", "snowplow", "base64") else rng.randint(1, 12)
        chunk = events[i : i + n]
        ndjson = b"\n".join(with_personal_data(e) for e in chunk)
        out.append(
            {
                "json": lambda c=chunk: with_personal_data(c[0]),
                "segment": lambda c=chunk: segment(c[0]),
                "snowplow": lambda c=chunk: snowplow(c[0]),
                "base64": lambda c=chunk: base64.encodebytes(with_personal_data(c[0])),
                "kpl": lambda c=chunk: kpl(c),
                "gzip": lambda d=ndjson: gzip.compress(d),
                "zlib": lambda d=ndjson: zlib.compress(d),
                "cloudwatch": lambda c=chunk: cloudwatch(c),
                "snowplow_zstd": lambda c=chunk: zstd_record([snowplow(e) for e in c]),
            }[kind]()
        )
        i += n
    return out


def archived_model(records: list[bytes], now: datetime):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    name = f"{STREAM}-{abs(hash(tuple(records[:3]))) % 10**6}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    bucket = f"{BUCKET}-{name}"
    s3.create_bucket(Bucket=bucket)
    for lo in range(0, len(records), 500):
        kinesis.put_records(StreamName=name, Records=[{"Data": r, "PartitionKey": "p"} for r in records[lo : lo + 500]])
    Archiver(kinesis, s3, name, bucket).flush_stream()
    bodies = list(S3Archive(s3, bucket, "events/").bodies(now - timedelta(days=2), now, ReadStats()))
    cols = EventColumns()
    cols.add_objects(bodies)
    model, _ = train(
        cols, ModelParams(min_token_count=1), window_start="2025-11-20T00:00:00Z", window_end="2025-11-23T00:00:00Z",
        created_at="2025-11-23T00:00:00Z", min_sessions=5,
    )  # fmt: skip
    return model, cols, bodies


def test_a_model_from_a_mixed_format_stream_equals_the_canonical_one(aws):
    now = datetime.now(tz=UTC)
    events = ordinary_events(60, seed=5, t0_ms=int((now - timedelta(hours=20)).timestamp() * 1000), max_events=12)
    plain = [json.dumps(e).encode() for e in events]
    mixed = mixed_records(events)
    assert len(mixed) < len(plain)
    assert {r[:4] for r in mixed} >= {b"\xf3\x89\x9a\xc2", b"\x28\xb5\x2f\xfd"}  # KPL and zstd among them
    model_a, cols_a, bodies = archived_model(mixed, now)
    model_b, cols_b, _ = archived_model(plain, now)
    assert len(cols_a) == len(cols_b) == len(events) and not cols_a.rejected
    assert (cols_a.users, cols_a.tokens, cols_a.ts_ms) == (cols_b.users, cols_b.tokens, cols_b.ts_ms)
    assert model_a.tokens == model_b.tokens and model_a.thresholds == model_b.thresholds
    assert np.array_equal(model_a.counts, model_b.counts) and np.array_equal(model_a.surprisal, model_b.surprisal)
    archive = b"".join(bodies)
    assert not [p for p in PERSONAL if p.encode() in archive]


def test_the_firehose_transformation_gives_canonical_lines_that_decode_to_the_same_events():
    events = ordinary_events(10, seed=2)
    mixed = mixed_records(events, seed=9)
    request = [{"recordId": str(i), "data": base64.b64encode(r).decode()} for i, r in enumerate(mixed)]
    stats = ArchiveStats()
    response = firehose_response(request, Decoder(), stats)
    assert [r["recordId"] for r in response["records"]] == [str(i) for i in range(len(mixed))]
    assert {r["result"] for r in response["records"]} == {"Ok"} and stats.events == len(events)
    lines = b"".join(base64.b64decode(r["data"]) for r in response["records"]).splitlines(keepends=True)
    decoder = Decoder()
    decoded = [decoder.decode(line) for line in lines]
    assert [canonical_line(ev) for ev in decoded] == lines  # canonical lines are a fixed point of the decoder
    assert [(e.user_key, e.ts_ms) for e in decoded] == [(e["user_id"], int(e["timestamp"] * 1000)) for e in events]
    dropped = firehose_response([{"recordId": "x", "data": base64.b64encode(b"not json").decode()}], decoder, stats)
    assert dropped["records"][0]["result"] == "Dropped" and stats.rejected["not_json"] == 1


def test_a_response_stays_under_lambda_s_6_mb_however_much_its_records_inflate():
    """A record's lines were admitted before they were measured: two gzip records of 546 KB in all made a 7.0 MB
    response (a reviewer's measure), Lambda refused it, and Firehose failed the whole batch to its error prefix."""
    import gzip
    import json as json_

    def record(i: int) -> bytes:
        lines = (json_.dumps({"user_id": f"u{i}-{n % 50}", "event_type": "view", "timestamp": 1763700000000 + n})
                 for n in range(40_000))  # fmt: skip
        return gzip.compress(("\n".join(lines) + "\n").encode(), 9)

    bodies = [record(i) for i in range(3)]
    request = [{"recordId": str(i), "data": base64.b64encode(b).decode()} for i, b in enumerate(bodies)]
    small = {"recordId": "s", "data": base64.b64encode(b'{"user_id":"x","event_type":"v","timestamp":1}').decode()}
    stats = ArchiveStats()
    response = firehose_response([*request, small], Decoder(), stats)
    size = len(json_.dumps(response).encode())
    results = [r["result"] for r in response["records"]]
    assert size < 6 * 1024 * 1024, size
    assert results[0] == "Ok" and "ProcessingFailed" in results and stats.failed == results.count("ProcessingFailed")
    failed = [r for r in response["records"] if r["result"] == "ProcessingFailed"]
    assert all(r["data"] == request[int(r["recordId"])]["data"] for r in failed)  # handed back as they came
    ok_lines = sum(base64.b64decode(r["data"]).count(b"\n") for r in response["records"] if r["result"] == "Ok")
    assert stats.events == ok_lines  # what was archived, not what was decoded
