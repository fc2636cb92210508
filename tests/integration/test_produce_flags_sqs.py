"""``clickguard flags`` against a moto SQS queue: table, JSON lines, delete."""

from __future__ import annotations

import io
import json
import sys

import boto3
import pytest

from clickguard.cli.main import build_parser, main


def test_flags_table_json_and_delete(aws, capsys):
    """A read without ``--delete`` leaves the flags queued and visible (a reviewer's look is not handling them)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="flags")["QueueUrl"]
    body = {
        "user_key": "42",
        "reasons": ["mean_bits"],
        "mean_bits": 4.2,
        "total_bits": 40.0,
        "transitions": 9,
        "flagged_at": "2019-01-02T03:00:00.000Z",
        "top_transitions": [{"from": "login", "to": "add_payout_method", "bits": 9.1, "position": 3}],
    }
    for i in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**body, "user_key": str(i)}))
    sqs.send_message(QueueUrl=url, MessageBody="oops")
    assert main(["flags", "--queue-url", url, "--max", "3", "--wait", "0", "--region", "us-east-1"]) == 0
    out = capsys.readouterr().out
    assert "login -> add_payout_method (9.1 b)" in out and out.count("\n") == 4
    assert main(["flags", "--queue-url", url, "--max", "20", "--wait", "0", "--json", "--delete"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(x) for x in captured.out.splitlines()]
    # the three read first, without --delete, were released at once, not hidden for the visibility timeout
    assert len(lines) == 13 and "deleted 13 of 13 flags" in captured.err


class _ReaderLeft(io.StringIO):
    def flush(self):
        raise BrokenPipeError


def test_a_reader_that_leaves_deletes_nothing_and_hides_nothing(aws, monkeypatch):
    """``flags --json | head -1`` ended before the release: the flags it read stayed hidden for the visibility
    timeout (a FIFO queue holds each hidden user's later flags behind them); with --delete, buffered lines would
    have been deleted unseen."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="flags")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"user_key": str(i), "reasons": []}))
    monkeypatch.setattr(sys, "stdout", _ReaderLeft())
    for extra in ([], ["--delete"]):
        args = build_parser().parse_args(["flags", "--queue-url", url, "--wait", "0", "--json", *extra])
        with pytest.raises(BrokenPipeError):
            args.func(args)
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("3", "0")


def test_the_table_lines_up_under_wide_characters():
    from clickguard.cli.flags_cmd import cells, table

    rows = [
        ["2019-01-02", "ユーザー", "1.00", "", "", "", "", "", ""],
        ["2019-01-02", "u1", "2.00", "", "", "", "", "", ""],
    ]
    lines = table(rows).splitlines()
    assert cells("ユーザー") == 8 and cells("e\u0301") == 1
    assert lines[1].index("1.00") - lines[2].index("2.00") == len("ユーザー") - cells("ユーザー")  # columns line up
