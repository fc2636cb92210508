"""The local stack's archive (the Firehose transformation played by the local archiver) decodes with the stack's
own decoding settings, as the deployed transformation Lambda does: the formats switched on and the field mapping
given in the CDK context."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from clickguard import settings
from clickguard.decoding import Format
from clickguard.local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e

MAPPING = {"user_key": "actor.id", "event_type": "verb", "time": "at", "outcome": "result", "failure_values": ["no"]}


def test_the_local_archive_reads_only_the_formats_switched_on_with_the_stacks_field_mapping(tmp_path):
    context = {"input_formats": "json", "field_mapping": json.dumps(MAPPING)}
    with LocalRuntime(tmp_path / "stack", context=context) as rt:
        assert rt.archiver is not None and rt.archiver.decoder.config.formats == frozenset({Format.JSON})
        h, now_ms = rt.handles, int(time.time() * 1000) - 60_000
        mapped = {"actor": {"id": "mapped-user"}, "verb": "login", "at": now_ms, "result": "no", "ip": "203.0.113.9"}
        canonical = {"user_id": "gz-user", "event_type": "search", "timestamp": now_ms}
        rt.client("kinesis").put_records(
            StreamName=h.stream_name,
            Records=[
                {"Data": json.dumps(mapped).encode(), "PartitionKey": "a"},
                {"Data": gzip.compress(json.dumps(canonical).encode()), "PartitionKey": "b"},  # gzip: switched off
            ],
        )
        assert rt.archive() == 1
        s3 = rt.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=h.data_bucket, Prefix=settings.ARCHIVE_PREFIX)["Contents"]]
        lines = b"".join(gzip.decompress(s3.get_object(Bucket=h.data_bucket, Key=k)["Body"].read()) for k in keys)
        assert [json.loads(line) for line in lines.splitlines()] == [
            {"user_id": "mapped-user", "event_type": "login", "outcome": "fail", "timestamp": now_ms}
        ]
        assert dict(rt.archiver.transform.rejected) == {"format_disabled": 1}
