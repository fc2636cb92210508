"""Personal data is dropped whatever the producer format: records carrying a distinctive IP address, user agent,
device id and location go through the real consumer handler on moto (a model published, so flags fire) and through
the archive (the Firehose transformation handler, and the local archiver writing the archive objects); then
everything the system wrote is searched for those values: the DynamoDB items, every S3 object (the rejected-records
sink, the archive), the flag messages, the transformation's output and every log line and metric printed.

Records are built with the producers' own libraries where one exists (the Segment and RudderStack clients, the
``aws_kinesis_agg`` aggregator, ``snowplow_analytics_sdk``'s column names), otherwise from the published formats.
Each format also carries a rejected record (or a rejected part of a record) with the same personal data.
"""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import re
import sys
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import messages_pb2  # its import sets up the protobuf modules' path

from clickguard import settings
from clickguard.consumer.kinesis_event import lambda_event
from clickguard.local.archiver import Archiver
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from clickguard.store.retry import Backoff
from clickguard.store.sessions import create_table
from tests.consumer_support import T0, make_model
from tests.snowplow_support import unzstd, zstd_record

STREAM, TABLE, BUCKET = "events", "sessions", "clickguard-data"
IP, UA, DEVICE, CITY, LATITUDE = (
    "203.0.113.77",
    "Mozilla/5.0 (X11; PII-Agent 7.7)",
    "356938035643809",
    "Lleida",
    "41.6176",
)
PERSONAL = (IP, UA, DEVICE, CITY, LATITUDE)
MAPPING = {"user_key": "actor.id", "event_type": "verb", "time": "at", "outcome": "status", "failure_values": ["no"]}


def plan() -> list[dict[str, Any]]:
    """A user failing five logins in a row (flagged), a browsing user, and one event without an event type."""
    events = []
    for k in range(6):
        events.append({"user": "pii-attacker", "type": "login", "fail": True, "ms": T0 + 5_000 * k})
    for k, etype in enumerate(["view_item", "search", "chat", "purchase", "view_item"]):
        events.append({"user": "pii-buyer", "type": etype, "fail": False, "ms": T0 + 7_000 * k})
    events.append({"user": "pii-broken", "type": None, "fail": False, "ms": T0})
    return sorted(events, key=lambda e: e["ms"])


# --- each format, with the personal data where that producer puts it -------------------------------------------


def canonical(e: dict) -> dict:
    doc: dict[str, Any] = {"user_id": e["user"], "timestamp": e["ms"], "ip": IP, "user_agent": UA}
    doc |= {"device_id": DEVICE, "location": {"city": CITY, "lat": float(LATITUDE)}}
    if e["type"]:
        doc["event_type"] = e["type"]
    if e["fail"]:
        doc["outcome"] = "fail"
    return doc


def envelope(e: dict) -> dict:
    event: dict[str, Any] = {"event_created": e["ms"], "outcome": "fail" if e["fail"] else "success"}
    if e["type"]:
        event["event_type"] = e["type"]
    return {
        "timestamp": e["ms"],
        "source": "app",
        "data": {
            "session": {"user_id": e["user"], "session_id": "s-1"},
            "event": event,
            "device": {"imei": DEVICE, "user_agent": UA},
            "request": {"ip": IP},
            "location": {"city": CITY, "latitude": LATITUDE},
        },
    }


def _client(name: str):
    if name == "segment":
        from segment.analytics import Client

        return Client(write_key="test", send=False)
    from rudderstack.analytics import Client

    return Client(write_key="test", host="http://127.0.0.1:9", send=False)


def message(name: str) -> Callable[[dict], bytes]:
    def build(e: dict) -> bytes:
        client = _client(name)
        context = {
            "ip": IP,
            "userAgent": UA,
            "device": {"id": DEVICE},
            "location": {"city": CITY, "latitude": float(LATITUDE)},
        }
        sent = datetime.fromtimestamp(e["ms"] / 1000, tz=UTC)
        if e["type"] is None:  # identify: traits, no action (rejected as ignored_message_type)
            _, msg = client.identify(user_id=e["user"], traits={"ip": IP, "city": CITY}, context=context)
        else:
            token = e["type"] + ("#fail" if e["fail"] else "")
            _, msg = client.track(user_id=e["user"], event=token, timestamp=sent, context=context)
        return json.dumps(msg, default=str).encode()

    return build


def snowplow(e: dict) -> bytes:
    from snowplow_analytics_sdk.event_transformer import ENRICHED_EVENT_FIELD_TYPES

    names = [n for n, _ in ENRICHED_EVENT_FIELD_TYPES]
    row = dict.fromkeys(names, "")
    token = (e["type"] + ("#fail" if e["fail"] else "")) if e["type"] else ""
    row.update(
        app_id="shop", platform="web", event="unstruct" if token else "", event_name=token, user_id=e["user"],
        collector_tstamp=datetime.fromtimestamp(e["ms"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        user_ipaddress=IP, useragent=UA, user_fingerprint=DEVICE, geo_city=CITY, geo_latitude=LATITUDE,
    )  # fmt: skip
    return "\t".join(row[n] for n in names).encode()


def pinpoint(e: dict) -> bytes:
    """An Amazon Pinpoint app event (the developer guide's fields), its device and endpoint holding the values."""
    doc: dict[str, Any] = {
        "event_timestamp": e["ms"], "arrival_timestamp": e["ms"], "client": {"client_id": e["user"]},
        "device": {"make": UA, "model": DEVICE, "platform": {"name": "android"}},
        "endpoint": {"Address": IP, "Location": {"City": CITY, "Latitude": LATITUDE}, "Demographic": {"Model": DEVICE}},
        "attributes": {"ip": IP},
    }  # fmt: skip
    if e["type"]:
        doc["event_type"] = e["type"] + ("#fail" if e["fail"] else "")
    return json.dumps(doc).encode()


def access_log(e: dict) -> bytes:
    """A combined log line as Apache and nginx write it (mod_log_config's published format): the client by its host
    name (``HostnameLookups``), the personal data in the query string, the referer and the user agent. The event
    without an action is a line whose status is not three digits (``bad_access_log``)."""
    when = datetime.fromtimestamp(e["ms"] / 1000, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    query = f"?ip={IP}&device={DEVICE}&city={CITY}&lat={LATITUDE}"
    status = ("401" if e["fail"] else "200") if e["type"] else "2x0"
    request = f"GET /{e['type'] or 'x'}{query} HTTP/1.1"
    referer = f"https://shop.example/?ip={IP}"
    return f'{e["user"]} - - [{when}] "{request}" {status} 512 "{referer}" "{UA}"'.encode()


def mixpanel(e: dict) -> bytes:
    """A Mixpanel event (its import API's shape), the values among its properties as its SDKs add them."""
    props: dict[str, Any] = {"time": e["ms"], "distinct_id": e["user"], "ip": IP, "$city": CITY, "$device_id": DEVICE,
                             "$browser": UA, "$latitude": LATITUDE}  # fmt: skip
    doc: dict[str, Any] = {"properties": props}
    if e["type"]:
        doc["event"] = e["type"] + ("#fail" if e["fail"] else "")
    return json.dumps(doc).encode()


def agent_json(e: dict) -> bytes:
    """The same line as the Kinesis Agent's LOGTOJSON option sends it (COMBINEDAPACHELOG's part names)."""
    when = datetime.fromtimestamp(e["ms"] / 1000, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    status = ("401" if e["fail"] else "200") if e["type"] else "2x0"
    request = f"GET /{e['type'] or 'x'}?ip={IP}&device={DEVICE}&city={CITY}&lat={LATITUDE} HTTP/1.1"
    doc = {"host": e["user"], "ident": None, "authuser": None, "datetime": when, "request": request,
           "response": status, "bytes": "512", "referrer": f"https://shop.example/?ip={IP}", "agent": UA}  # fmt: skip
    return json.dumps(doc).encode()


def clickstream(chunk: list[dict]) -> bytes:
    """Clickstream Analytics on AWS: the ingestion server's record of one SDK request (gzip, base64)."""
    events = []
    for e in chunk:
        doc: dict[str, Any] = {"unique_id": e["user"], "timestamp": e["ms"], "device_id": DEVICE, "platform": "Web"}
        doc["attributes"] = {"outcome": "fail" if e["fail"] else "success", "_city": CITY, "_latitude": LATITUDE}
        if e["type"]:
            doc["event_type"] = e["type"]
        events.append(doc)
    data = base64.b64encode(gzip.compress(json.dumps(events).encode())).decode()
    record = {"ip": IP, "ua": UA, "uri": "/collect?appId=shop&compression=gzip", "rid": "r1", "method": "POST"}
    return json.dumps({**record, "compression": "gzip", "server_ingest_time": T0, "data": data}).encode()


def mapped(e: dict) -> dict:
    doc: dict[str, Any] = {"actor": {"id": e["user"], "ip": IP, "agent": UA, "device": DEVICE}, "at": e["ms"]}
    doc |= {"status": "no" if e["fail"] else "ok", "where": {"city": CITY, "lat": LATITUDE}}
    if e["type"]:
        doc["verb"] = e["type"]
    return doc


def _json(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def aggregate(chunk: list[dict]) -> bytes:
    agg = RecordAggregator()
    for e in chunk:
        assert agg.add_user_record(e["user"], _json(canonical(e))) is None
    return agg.clear_and_get().get_contents()[2]


def log_batch(chunk: list[dict]) -> bytes:
    log_events = [
        {"id": str(i), "timestamp": e["ms"], "message": json.dumps(canonical(e))} for i, e in enumerate(chunk)
    ]
    doc = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/app", "logStream": "web"}
    return gzip.compress(_json({**doc, "subscriptionFilters": ["clickguard"], "logEvents": log_events}))


def logged_json(e: dict) -> bytes:
    """An application's JSON log line as Docker's json-file driver and Fluent Bit's tail input ship it: the line, its
    newline kept, as the string ``log`` beside the shipper's own fields."""
    return _json({"log": json.dumps(canonical(e)) + "\n", "stream": "stdout", "time": "2025-11-21T04:40:00.123Z"})


def amplitude_upload(chunk: list[dict]) -> bytes:
    """Amplitude's HTTP V2 API request body forwarded whole (``decoding.wrappers``): its documented event fields,
    the device's and the location's among them."""
    events = []
    for e in chunk:
        event = {"user_id": e["user"], "time": e["ms"], "insert_id": f"{e['user']}-{e['ms']}", "ip": IP}
        event |= {"device_id": DEVICE, "city": CITY, "location_lat": float(LATITUDE), "user_properties": {"ua": UA}}
        if e["type"]:
            event["event_type"] = e["type"] + ("#fail" if e["fail"] else "")
        events.append(event)
    return _json({"api_key": "a-secret-api-key", "events": events})


def filebeat(e: dict) -> bytes:
    """The line as Filebeat ships it: the string ``message`` beside Beats' own fields, the host's address among them."""
    doc = {"@timestamp": "2025-11-21T04:40:00.123Z", "message": json.dumps(canonical(e)), "input": {"type": "log"}}
    doc |= {"log": {"offset": 0, "file": {"path": "/var/log/app.log"}}, "host": {"name": "web-1", "ip": [IP]}}
    return _json(doc)


def eventbridge(e: dict) -> bytes:
    """An EventBridge event a rule puts on the stream, the application's event (with the values) as its detail."""
    detail = canonical(e)  # the one without an action has an empty detail-type: rejected
    kind = "AppEvent" if e["type"] else ""
    envelope = {"version": "0", "id": f"eb-{e['user']}-{e['ms']}", "detail-type": kind, "source": "com.app"}
    envelope |= {"account": "111122223333", "time": "2025-11-21T04:40:00Z", "region": "us-east-1", "resources": []}
    return _json({**envelope, "detail": detail})


def dynamodb_change(e: dict) -> bytes:
    """A DynamoDB INSERT as Kinesis Data Streams for DynamoDB puts it on the stream, the item holding the values."""
    item = {k: {"S": v} if isinstance(v, str) else {"N": str(v)} for k, v in canonical(e).items() if k != "location"}
    item["location"] = {"M": {"city": {"S": CITY}, "lat": {"N": LATITUDE}}}
    change = {"ApproximateCreationDateTime": e["ms"], "Keys": {"user_id": {"S": e["user"]}}, "NewImage": item}
    return _json({"eventID": f"ddb-{e['user']}-{e['ms']}", "eventName": "INSERT", "eventSource": "aws:dynamodb",
                  "awsRegion": "us-east-1", "recordFormat": "application/json", "tableName": "clicks",
                  "dynamodb": change})  # fmt: skip


def dms_row(e: dict) -> bytes:
    """A row AWS DMS puts on a Kinesis target (an insert), the row holding the values."""
    meta = {"timestamp": "2025-11-21T10:00:00.000000Z", "record-type": "data", "operation": "insert",
            "partition-key-type": "schema-table", "schema-name": "shop", "table-name": "clicks"}  # fmt: skip
    return _json({"data": canonical(e), "metadata": meta})


def measurement_protocol(e: dict) -> bytes:
    """A GA4 Measurement Protocol request body of one event (its documented fields), the values where the protocol
    keeps the client's address, place and device."""
    event: dict[str, Any] = {"params": {"session_id": "s-1", "engagement_time_msec": 100, "page_location": CITY}}
    if e["type"]:
        event["name"] = e["type"] + ("#fail" if e["fail"] else "")
    return _json({"client_id": e["user"], "timestamp_micros": e["ms"] * 1000, "ip_override": IP,
                  "user_location": {"city": CITY}, "device": {"category": "mobile", "browser": UA},
                  "user_properties": {"device_id": {"value": DEVICE}, "lat": {"value": LATITUDE}},
                  "events": [event]})  # fmt: skip


def ndjson(chunk: list[dict]) -> bytes:
    return b"".join(_json(canonical(e)) + b"\n" for e in chunk)


ONE_A_RECORD: dict[str, Callable[[dict], bytes]] = {
    "canonical": lambda e: _json(canonical(e)),
    "envelope": lambda e: _json(envelope(e)),
    "segment": message("segment"),
    "rudderstack": message("rudderstack"),
    "snowplow": snowplow,
    "mapping": lambda e: _json(mapped(e)),
    "access_log": access_log,
    "pinpoint": pinpoint,
    "agent_json": agent_json,
    "mixpanel": mixpanel,
    "logged_json": logged_json,
    "filebeat": filebeat,
    "eventbridge": eventbridge,
    "dynamodb": dynamodb_change,
    "dms": dms_row,
    "measurement_protocol": measurement_protocol,
    "base64": lambda e: base64.encodebytes(_json(canonical(e))),  # what the AWS CLI v1 sends for `--data "$(base64)"`
}
PACKED: dict[str, Callable[[list[dict]], bytes]] = {
    "kpl": aggregate,
    "gzip": lambda c: gzip.compress(ndjson(c)),
    "zlib": lambda c: zlib.compress(ndjson(c)),
    "cloudwatch": log_batch,
    "clickstream": clickstream,
    "snowplow_zstd": lambda c: zstd_record([snowplow(e) for e in c]),
    "amplitude_upload": amplitude_upload,
}


def records_of(fmt: str) -> list[bytes]:
    events = plan()
    if fmt in ONE_A_RECORD:
        return [ONE_A_RECORD[fmt](e) for e in events]
    return [PACKED[fmt](events[i : i + 4]) for i in range(0, len(events), 4)]


def opened(data: bytes) -> bytes:
    """A record's content as plain text, opened with the standard library and aws_kinesis_agg (not the product):
    what the test must not find again in anything the system wrote."""
    if data[:4] == b"\xf3\x89\x9a\xc2":
        agg = messages_pb2.AggregatedRecord()
        agg.ParseFromString(data[4:-16])
        return b"\n".join(r.data for r in agg.records)
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return unzstd(data)
    if data[:1] == b"\x78":
        return zlib.decompress(data)
    if b'"server_ingest_time"' in data:
        doc = json.loads(data)
        return data + gzip.decompress(base64.b64decode(doc["data"]))
    if re.fullmatch(rb"[A-Za-z0-9+/=\n]+", data):
        return base64.b64decode(data)
    return data


# --- the system on moto -----------------------------------------------------------------------------------------


@pytest.fixture
def world(aws, monkeypatch):
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(ddb, TABLE)
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="flags.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    artifact.publish(S3Store(s3, BUCKET), make_model())
    env = {
        settings.ENV_TABLE_NAME: TABLE,
        settings.ENV_FLAG_QUEUE_URL: queue,
        settings.ENV_DATA_BUCKET: BUCKET,
        settings.ENV_MODEL_REFRESH_SECONDS: "0",
        settings.ENV_FIELD_MAPPING: json.dumps(MAPPING),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {"kinesis": kinesis, "ddb": ddb, "sqs": sqs, "s3": s3, "queue": queue}


def load(module: str):
    sys.modules.pop(module, None)
    return importlib.import_module(module)


class Ctx:
    function_name = "fn"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def stream_records(world) -> tuple[list[dict], str, str]:
    k = world["kinesis"]
    desc = k.describe_stream(StreamName=STREAM)["StreamDescription"]
    shard = desc["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return k.get_records(ShardIterator=it, Limit=10_000)["Records"], shard, desc["StreamARN"]


def written(world) -> dict[str, bytes]:
    """Everything the system stored: items, objects (opened as the records are), flag messages."""
    items = world["ddb"].scan(TableName=TABLE)["Items"]  # binary attributes (event id digests) searched as bytes
    out = {"dynamodb": json.dumps(items, default=lambda b: b.decode("latin-1")).encode("latin-1")}
    s3 = world["s3"]
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        out[f"s3://{obj['Key']}"] = opened(body)  # archive objects are gzip; a kept payload may be any format
    flags = []
    while msgs := world["sqs"].receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10).get("Messages", []):
        flags += [m["Body"] for m in msgs]
        for m in msgs:
            world["sqs"].delete_message(QueueUrl=world["queue"], ReceiptHandle=m["ReceiptHandle"])
    out["flags"] = "\n".join(flags).encode()
    return out


@pytest.mark.parametrize("fmt", [*ONE_A_RECORD, *PACKED])
def test_no_personal_data_is_written_anywhere_whatever_the_format(fmt, world, capsys, caplog):
    records = records_of(fmt)
    assert all(p.encode() in b"".join(map(opened, records)) for p in PERSONAL)  # what there is to leak
    world["kinesis"].put_records(StreamName=STREAM, Records=[{"Data": r, "PartitionKey": "p"} for r in records])
    got, shard, arn = stream_records(world)

    consumer = load("lambdas.consumer.handler")
    consumer.SESSIONS.backoff = consumer.FLAGS.backoff = Backoff(sleep=lambda _s: None)
    try:
        assert consumer.lambda_handler(lambda_event(got, shard, arn), Ctx()) == {"batchItemFailures": []}
    finally:
        consumer.POOL.shutdown()
    transform = load("lambdas.archive_transform.handler")
    request = {"records": [{"recordId": str(i), "data": base64.b64encode(r["Data"]).decode()} for i, r in
                           enumerate(got)]}  # fmt: skip
    response = transform.lambda_handler(request, Ctx())
    archived = Archiver(world["kinesis"], world["s3"], STREAM, BUCKET, decoder=transform.DECODER).flush_stream()

    out = written(world)
    out["transformation"] = b"".join(base64.b64decode(r["data"]) for r in response["records"])
    printed = capsys.readouterr()
    out["logs"] = (printed.out + printed.err + caplog.text).encode()
    # The system did write what it should: states, a flag, the archive, the sink, the logs.
    assert b"pii-attacker" in out["dynamodb"] and b"pii-buyer" in out["dynamodb"]
    assert b'"user_key":"pii-attacker"' in out["flags"]
    assert archived.records == 11 and out["transformation"].count(b"\n") == 11
    assert any(k.startswith(f"s3://{settings.REJECTED_PREFIX}") for k in out)
    assert b"record rejected" in out["logs"]
    leaks = {(where, p) for where, body in out.items() for p in PERSONAL if p.encode() in body}
    assert not leaks
