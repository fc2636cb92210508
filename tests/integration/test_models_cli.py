"""``clickguard models`` on S3 and on the local stack: what it cannot reach is a CLI error naming the store, not
botocore's traceback; ``--local`` and ``--stack`` name the store as the other commands do."""

from __future__ import annotations

import boto3
import pytest

from clickguard.cli.main import main


def _fails(capsys, argv, *needles):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_a_bucket_that_does_not_exist_is_named(aws, capsys):
    _fails(capsys, ["models", "list", "--store", "s3://no-such-bucket", "--region", "us-east-1"],
           "s3://no-such-bucket", "NoSuchBucket")  # fmt: skip


def test_an_endpoint_that_does_not_answer_is_named(aws, capsys):
    argv = ["models", "show", "--store", "s3://b", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"]
    _fails(capsys, argv, "s3://b", "EndpointConnectionError")


def test_an_empty_bucket_lists_nothing(aws, capsys):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="empty")
    assert main(["models", "list", "--store", "s3://empty", "--region", "us-east-1"]) == 0
    assert capsys.readouterr().out == ""


def test_local_and_stack_name_the_store(aws, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fails(capsys, ["models", "list", "--local"], "--local: no running local stack")
    _fails(capsys, ["models", "list", "--stack", "nope", "--region", "us-east-1"], "--stack nope")
    _fails(capsys, ["models", "list", "--local", "--store", "d"], "not allowed with argument")


def test_score_names_a_bucket_that_does_not_exist(aws, tmp_path, capsys):
    events = tmp_path / "e.ndjson"
    events.write_text('{"user_id": "u", "event_type": "view", "timestamp": 1763700000}\n')
    argv = ["score", "--events", str(events), "--model", "s3://no-such-bucket", "--out", str(tmp_path / "s.csv")]
    _fails(capsys, [*argv, "--region", "us-east-1"], "s3://no-such-bucket", "NoSuchBucket")
