"""Events whose records carry no time at all (generators and SDK calls that send none), really put on a moto stream
and read back: the consumer reads them at their arrival on the stream, the archive gives them that same millisecond,
and under ``missing_time=reject`` they are rejected into the sink instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from clickguard import settings
from clickguard.consumer.kinesis_event import decode_event
from clickguard.decoding import MissingTime
from clickguard.local.archiver import Archiver
from clickguard.model import artifact
from clickguard.store.archive import S3Archive
from clickguard.store.blobs import S3Store
from clickguard.training.dataset import EventColumns
from clickguard.training.ports import ArchiveStats as ReadStats
from tests.consumer_support import make_model
from tests.integration.test_consumer_handler import (  # noqa: F401  (fixtures)
    BUCKET,
    STREAM,
    Ctx,
    handler,
    load_handler,
    put_and_read,
    table_states,
    world,
)

UNTIMED = [{"userid": f"u{k % 3}", "event": ("view", "cart", "buy")[k % 3], "devicetype": "mobile"} for k in range(9)]


def test_events_without_a_time_are_read_at_their_arrival_by_the_consumer_and_the_archive(world, handler, capsys):  # noqa: F811
    event = put_and_read(world, [json.dumps(e).encode() for e in UNTIMED])
    arrivals = {}
    for rec in decode_event(event):
        arrivals.setdefault(json.loads(rec.data)["userid"], []).append(rec.arrival_ms)
    assert handler.lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    states = table_states(world)
    assert sorted(states) == ["u0", "u1", "u2"]
    for user, state in states.items():
        assert state.session is not None
        assert (state.session.first_ts_ms, state.session.last_ts_ms) == (min(arrivals[user]), max(arrivals[user]))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "RecordsTimedByArrival" in line]
    assert [m["RecordsTimedByArrival"] for m in metrics] == [[9.0]]
    assert not world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected/").get("Contents")

    archive_bucket = "archive-untimed"
    world["s3"].create_bucket(Bucket=archive_bucket)
    Archiver(world["kinesis"], world["s3"], STREAM, archive_bucket).flush_stream()
    start = datetime.fromtimestamp(min(min(a) for a in arrivals.values()) / 1000, tz=UTC) - timedelta(hours=1)
    archive = S3Archive(world["s3"], archive_bucket, settings.ARCHIVE_PREFIX)
    cols = EventColumns()
    cols.add_objects(archive.bodies(start, start + timedelta(hours=3), ReadStats()))
    archived = {}
    for user, ts in zip(cols.users, cols.ts_ms, strict=True):
        archived.setdefault(user, []).append(int(ts))
    assert archived == arrivals  # the same millisecond for every event as the consumer read


def test_under_reject_such_events_go_to_the_sink_with_their_reason(world, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv(settings.ENV_MISSING_TIME, MissingTime.REJECT.value)
    artifact.publish(S3Store(world["s3"], BUCKET), make_model())
    mod = load_handler()
    try:
        event = put_and_read(world, [json.dumps(e).encode() for e in UNTIMED[:2]])
        assert mod.lambda_handler(event, Ctx()) == {"batchItemFailures": []}
    finally:
        mod.POOL.shutdown()
    keys = [o["Key"] for o in world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="rejected/").get("Contents", [])]
    assert len(keys) == 2 and table_states(world) == {}
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"reason"' in line]
    assert {d["reason"]: d["RecordsRejected"] for d in docs} == {"missing_timestamp": [2.0]}
