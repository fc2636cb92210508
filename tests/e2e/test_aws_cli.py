"""`clickguard local up` in its own process, fed with the real AWS CLI (the pinned ``awscli`` package, offline, dummy
credentials): ``aws kinesis put-record`` (the command ``local up`` prints, canonical JSON, events as coreutils'
``base64`` writes them, a gzip NDJSON record, a KPL aggregate from ``aws_kinesis_agg``, a Snowplow compressed record,
and a web server's access log lines as text), ``aws kinesis put-records`` (canonical JSON), an aggregate put with
boto3; the flags read back with ``aws sqs receive-message``.

The CLI is v1 (``awscli==1.46.3``): a blob given on the command line or in ``--records`` JSON is sent as the text's
UTF-8 bytes, so binary records (gzip, KPL, zstd) go through ``put-record --data fileb://FILE``.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.consumer.flags import MESSAGE_FIELDS, SCHEMA_VERSION
from clickguard.local.stack import LOCAL_CONTEXT
from clickguard.model import artifact
from clickguard.store.blobs import S3Store
from infra import config as c
from tests.consumer_support import make_model
from tests.e2e.local_up import local_up
from tests.snowplow_support import zstd_record
from tests.unit.test_decode_formats import snowplow_line

pytestmark = pytest.mark.e2e

AWS = [sys.executable, "-m", "awscli"]  # the pinned package's own entry point (`aws`)
REGION = "us-east-1"
T0 = datetime.now(UTC) - timedelta(minutes=30)
# Five failed logins in a row fire a flag under tests.consumer_support.make_model; ordinary browsing never does.
FAILS = [("login", "fail")] * 5
BROWSING = [("view_item", None), ("search", None), ("chat", None), ("purchase", None), ("view_item", None)]


@dataclass
class Local:
    workdir: Path
    endpoint: str
    outputs: dict[str, str]
    hint: str  # the `try:` command `local up` prints

    def aws(self, *args: str) -> dict:
        """One AWS CLI call against the emulator, offline, with dummy credentials; its JSON output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLICKGUARD_"))}
        env.update(
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        cmd = [*AWS, "--endpoint-url", self.endpoint, "--region", REGION, "--output", "json", *args]
        done = subprocess.run(cmd, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, (args[:2], done.stderr[-2000:])
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="local",
            aws_secret_access_key="local",
        )  # fmt: skip


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("aws-cli")
    with local_up(workdir, 300) as banner:
        outputs = json.loads((workdir / ".clickguard-local.json").read_text())["outputs"]
        yield Local(workdir, banner.endpoint, outputs, banner.hint)


def event(user: str, k: int, etype: str, outcome: str | None) -> dict:
    doc = {"user_id": user, "event_type": etype, "timestamp": (T0 + timedelta(seconds=5 * k)).isoformat()}
    if outcome:
        doc["outcome"] = outcome
    return doc


def session(user: str, steps: list[tuple[str, str | None]]) -> list[dict]:
    return [event(user, k, etype, outcome) for k, (etype, outcome) in enumerate(steps)]


def enriched_line(ev: dict) -> bytes:
    """The event as an enriched line in Snowplow's column order (a failure in its name, as ``produce`` writes it)."""
    when = datetime.fromisoformat(ev["timestamp"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    name = ev["event_type"] + ("#fail" if ev.get("outcome") == "fail" else "")
    event_id = f"{ev['user_id']}-{ev['timestamp']}"  # each its own: copies of one id would be dropped as duplicates
    return snowplow_line(user_id=ev["user_id"], event_name=name, collector_tstamp=when, event_id=event_id)


def compact(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))


def aggregate(events: list[dict]) -> bytes:
    agg = RecordAggregator()
    for ev in events:
        assert agg.add_user_record(ev["user_id"], compact(ev).encode()) is None
    return agg.clear_and_get().get_contents()[2]


def publish_model(local: Local) -> str:
    model = make_model(version="cli-e2e")
    artifact.publish(S3Store(local.client("s3"), local.outputs[c.OUTPUT_MODEL_BUCKET]), model)
    # The consumer re-checks models/latest.json on an invocation at most every model_refresh_seconds: past that, the
    # next batch is scored with this model (an earlier one would run unscored, as a stack with no model does).
    time.sleep(LOCAL_CONTEXT["model_refresh_seconds"] + 1)
    return model.version


def receive_flags(local: Local, users: set[str], timeout_s: float = 90) -> list[dict]:
    """Read the flag queue with `aws sqs receive-message` (deleting what was read) until every user in ``users``
    has a flag and the queue is quiet, or the time is up."""
    queue = local.outputs[c.OUTPUT_FLAG_QUEUE_URL]
    got: list[dict] = []
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        out = local.aws(
            "sqs", "receive-message", "--queue-url", queue, "--max-number-of-messages", "10",
            "--wait-time-seconds", "2", "--attribute-names", "MessageGroupId",
        )  # fmt: skip
        messages = out.get("Messages", [])
        for m in messages:
            body = json.loads(m["Body"])
            assert m["Attributes"]["MessageGroupId"] == body["user_key"]  # FIFO: one group per user
            got.append(body)
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            local.aws("sqs", "delete-message-batch", "--queue-url", queue, "--entries", json.dumps(entries))
        seen = {f["user_key"] for f in got}
        quiet = quiet + 1 if not messages and users <= seen else 0
    return got


def test_records_put_with_the_aws_cli_and_aggregates_are_scored_and_flags_read_with_the_aws_cli(local, tmp_path):
    version = publish_model(local)
    stream = local.outputs[c.OUTPUT_STREAM_NAME]
    put_record = ["kinesis", "put-record", "--stream-name", stream]

    # The command `local up` prints, as a person pastes it (one ordinary login).
    hint = shlex.split(local.hint, comments=True)
    assert hint[0] == "aws"
    local.aws(*hint[1:])

    # put-record: one canonical JSON event a call.
    for ev in session("cli-single", FAILS):
        local.aws(*put_record, "--partition-key", ev["user_id"], "--data", compact(ev))

    # put-record as guides for the CLI v2 write it: the event in base64, which v1 sends as that text.
    for ev in session("cli-base64", FAILS):
        text = subprocess.run(["base64"], input=compact(ev).encode(), capture_output=True, check=True).stdout
        local.aws(*put_record, "--partition-key", ev["user_id"], "--data", text.decode().rstrip("\n"))

    # put-records: canonical JSON, a flagged user and an ordinary one in one call.
    batch = session("cli-batch", FAILS) + session("cli-ordinary", BROWSING)
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"Data": compact(ev), "PartitionKey": ev["user_id"]} for ev in batch]))
    put = local.aws("kinesis", "put-records", "--stream-name", stream, "--records", f"file://{records}")
    assert put["FailedRecordCount"] == 0 and len(put["Records"]) == len(batch)

    # Binary records from files: a gzip NDJSON record and a KPL aggregate (aws_kinesis_agg, as the KPL builds it).
    parts = {  # the events of each record that holds several, in order
        "cli-gzip": session("cli-gzip", FAILS),
        "cli-kpl-2": session("cli-kpl", BROWSING[:2]) + session("cli-kpl-2", FAILS),
        "boto-kpl": session("boto-kpl", FAILS),
        "cli-snowplow": session("cli-snowplow", FAILS),
    }
    packed = tmp_path / "events.ndjson.gz"
    packed.write_bytes(gzip.compress(b"".join(compact(ev).encode() + b"\n" for ev in parts["cli-gzip"])))
    local.aws(*put_record, "--partition-key", "cli-gzip", "--data", f"fileb://{packed}")
    agg = tmp_path / "aggregate.bin"
    agg.write_bytes(aggregate(parts["cli-kpl-2"]))
    local.aws(*put_record, "--partition-key", "cli-kpl", "--data", f"fileb://{agg}")
    enriched = tmp_path / "enriched.zst"  # Snowplow Enrich's compressed record of enriched lines (zstd)
    enriched.write_bytes(zstd_record([enriched_line(ev) for ev in parts["cli-snowplow"]]))
    local.aws(*put_record, "--partition-key", "cli-snowplow", "--data", f"fileb://{enriched}")

    # A web server's access log lines as the Kinesis Agent ships them raw: text, several lines in one record.
    lines = [f'cli-log - - [{(T0 + timedelta(seconds=5 * k)):%d/%b/%Y:%H:%M:%S +0000}] "POST /{etype} HTTP/1.1" '
             f'{401 if outcome else 200} 12 "-" "curl/8.5"' for k, (etype, outcome) in enumerate(FAILS)]  # fmt: skip
    local.aws(*put_record, "--partition-key", "cli-log", "--data", "\n".join(lines))

    # An aggregate put with boto3, as an application using the KPL's format would.
    local.client("kinesis").put_record(StreamName=stream, PartitionKey="boto-kpl", Data=aggregate(parts["boto-kpl"]))

    flagged = {"cli-single", "cli-base64", "cli-batch", "cli-gzip", "cli-kpl-2", "boto-kpl", "cli-log", "cli-snowplow"}
    flags = receive_flags(local, flagged)
    assert {f["user_key"] for f in flags} == flagged  # the ordinary users (u1, cli-ordinary, cli-kpl) are not
    for f in flags:
        assert set(f) == set(MESSAGE_FIELDS) and f["schema_version"] == SCHEMA_VERSION == 2
        assert f["model_version"] == version and f["score"] > f["threshold"]
    by_user = {f["user_key"]: f for f in flags}
    for user in ("cli-single", "cli-base64", "cli-batch"):  # one event a record: the record's own place
        assert set(by_user[user]["source"]) == {"shard_id", "sequence_number"}
    for user, events in parts.items():  # an event inside a record of several: its part too
        sub = by_user[user]["source"]["sub_record"]
        assert sub > 0 and events[sub]["user_id"] == user and events[sub]["outcome"] == "fail"
    assert len({f["flag_id"] for f in flags}) == len(flags)
