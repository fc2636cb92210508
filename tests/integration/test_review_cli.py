"""``clickguard review`` driven as a reviewer drives it (answers on stdin), against moto's SQS and S3."""

from __future__ import annotations

import io
import json
import sys

import boto3
import pytest

from clickguard.cli.main import main
from clickguard.review.decision import Verdict, parse_decision
from clickguard.store.decisions import S3DecisionLog
from tests.review_support import T0_MS, decision, flag, flag_v2

BUCKET = "clickguard-models"


@pytest.fixture
def queues(aws, monkeypatch):
    sqs = boto3.client("sqs", region_name="us-east-1")
    fifo = {"FifoQueue": "true"}
    flags = sqs.create_queue(QueueName="flags.fifo", Attributes={**fifo, "VisibilityTimeout": "900"})["QueueUrl"]
    decisions = sqs.create_queue(QueueName="decisions.fifo", Attributes={**fifo, "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    bodies = [flag(user="u1", flag_id="f1"), flag_v2(user="u2", flag_id="f2"), flag(user="u3", flag_id="f3")]
    for body in bodies:
        sqs.send_message(
            QueueUrl=flags,
            MessageBody=json.dumps(body),
            MessageGroupId=body["user_key"],
            MessageDeduplicationId=body["flag_id"],
        )
    monkeypatch.setenv("USER", "carol")
    return sqs, flags, decisions


def review(queues, *args, stdin=""):
    """The real CLI entry point, with ``stdin`` as what the reviewer types."""
    _, flags, decisions = queues
    argv = ["review", "--queue-url", flags, "--decision-queue-url", decisions, "--wait", "0", *args]
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(argv)
    finally:
        sys.stdin = old


def sent(queues):
    sqs, _, decisions = queues
    got = sqs.receive_message(QueueUrl=decisions, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    return [(parse_decision(m["Body"]), m["Attributes"]["MessageGroupId"]) for m in got]


def open_flags(queues):
    """The flags a next reviewer would get now (looked at without hiding them)."""
    sqs, flags, _ = queues
    got = sqs.receive_message(QueueUrl=flags, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return sorted(json.loads(m["Body"])["flag_id"] for m in got)


def test_a_reviewer_blocks_skips_and_allows_with_reasons(queues, capsys):
    answers = "x\nb\n\ncredential stuffing from one device\ns\na\na power user, seen before\n"
    assert review(queues, "--reviewer", "alice", stdin=answers) == 0
    out, err = capsys.readouterr()
    assert "reasons: mean_bits  strength 1.25" in out and "signals:" in out and "fail_share: 0.8" in out
    assert "'x': answer b, a, s or q" in out and "a reason is required" in out
    assert "recorded: block u1 (flag f1) by alice" in out and "recorded: allow u3 (flag f3) by alice" in out
    assert "decided 2 (1 block, 1 allow), skipped 1" in err
    got = {d.flag_id: (d, group) for d, group in sent(queues)}
    block, group = got["f1"]
    assert (block.decision, block.user_key, block.reviewer, block.model_version, group) == (
        Verdict.BLOCK,
        "u1",
        "alice",
        "m-1",
        "u1",
    )
    assert block.reason == "credential stuffing from one device"
    allow = got["f3"][0]
    assert allow.decision is Verdict.ALLOW and allow.flag_reasons == ("mean_bits",) and allow.flag_strength == 1.25
    assert open_flags(queues) == ["f2"]  # decided flags deleted; the skipped one visible again at once


def test_the_end_of_input_quits_and_leaves_the_rest_open(queues, capsys):
    assert review(queues, stdin="b\n") == 0  # a block, then the terminal closes before the reason
    assert sent(queues) == []
    assert open_flags(queues) == ["f1", "f2", "f3"]
    assert "0 not reached" not in capsys.readouterr().err


def test_quit_keeps_what_was_decided_and_releases_the_rest(queues):
    assert review(queues, stdin="a\nfine\nq\n") == 0
    ((d, _),) = sent(queues)
    assert d.flag_id == "f1" and d.reviewer == "carol"  # $USER when --reviewer is not given
    assert open_flags(queues) == ["f2", "f3"]


def test_decide_finds_the_flag_records_and_releases_the_others(queues, capsys):
    assert review(queues, "decide", "--flag-id", "f2", "--decision", "allow", "--reason", "known tester") == 0
    ((d, _),) = sent(queues)
    assert (d.flag_id, d.user_key, d.decision, d.model_version) == ("f2", "u2", Verdict.ALLOW, "m-2")
    assert d.flag_reasons == ("fail_share",) and d.flag_strength == 1.5
    assert open_flags(queues) == ["f1", "f3"]
    assert "recorded: allow u2 (flag f2) by carol" in capsys.readouterr().out


def test_decide_on_a_flag_that_is_not_open_exits_2_and_releases_everything(queues, capsys):
    with pytest.raises(SystemExit) as done:
        review(queues, "decide", "--flag-id", "nope", "--decision", "block", "--reason", "r")
    assert done.value.code == 2 and "flag nope is not among the next" in capsys.readouterr().err
    assert open_flags(queues) == ["f1", "f2", "f3"] and sent(queues) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "--flag-id", "f1", "--decision", "block"], "review decide needs --reason"),
        (["--reason", "x"], "go with 'review decide'"),
        (["decide", "--flag-id", "a/b", "--decision", "block", "--reason", "r"], "flag_id must be"),
        (["decide", "--flag-id", "f1", "--decision", "block", "--reason", " "], "reason is empty"),
        (["list", "--since", "2025-01-01"], "--since"),
        (["stats", "--since", "yesterday"], "--since"),
        (["--wait", "700"], "--wait 700"),
    ],
)
def test_bad_arguments_say_what_was_wrong_and_exit_2(queues, capsys, args, message):
    with pytest.raises(SystemExit) as done:
        review(queues, *args)
    assert done.value.code == 2 and message in capsys.readouterr().err
    assert open_flags(queues) == ["f1", "f2", "f3"]  # nothing was read


def test_no_reviewer_is_an_error(queues, capsys, monkeypatch):
    monkeypatch.delenv("USER")
    with pytest.raises(SystemExit) as done:
        review(queues)
    assert done.value.code == 2 and "no reviewer" in capsys.readouterr().err


def test_list_explains_and_releases(queues, capsys):
    assert review(queues, "list") == 0
    out = capsys.readouterr().out
    assert "[1/3] user u1" in out and "score 36.00 (threshold 24.00)" in out
    assert open_flags(queues) == ["f1", "f2", "f3"]
    assert review(queues, "list", "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(json.loads(x)["flag_id"] for x in lines) == ["f1", "f2", "f3"]


def test_stats_reads_the_decision_log(aws, capsys):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    log = S3DecisionLog(s3, BUCKET)
    for i, verdict in enumerate((Verdict.BLOCK, Verdict.BLOCK, Verdict.BLOCK, Verdict.ALLOW)):
        log.record(decision(flag_id=f"f{i}", verdict=verdict, at_ms=T0_MS))
    assert main(["review", "stats", "--model-bucket", BUCKET]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["2025-11-24", "4", "3", "1", "0.750"] and out[2].split()[0] == "all"
    assert main(["review", "stats", "--model-bucket", BUCKET, "--json", "--since", "2025-11-25"]) == 0
    assert capsys.readouterr().out == ""
