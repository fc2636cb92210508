"""The reviewer's loop end to end on the local stack: a flag on the flag queue, ``clickguard review ... --local`` in
its own process (as a person runs it), the decisions queue played into the real decisions handler, the decision in
the S3 log, the trainer's label reader and the allow-list seeing it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from clickguard.review.allowlist import DAY_MS
from clickguard.review.rule import suppressed
from clickguard.review.strength import flag_strength
from clickguard.store.allowlist import S3AllowListStore
from clickguard.store.decisions import read_decisions
from clickguard.store.labels import S3Labels
from tests.review_support import flag, flag_v2

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from clickguard.local.runtime import LocalRuntime

    workdir = tmp_path_factory.mktemp("review-loop")
    cwd = os.getcwd()
    os.chdir(workdir)  # the state file `--local` reads is written to, and read from, the working directory
    try:
        with LocalRuntime(workdir / "stack") as rt:
            rt.write_state_file()
            yield rt, workdir
    finally:
        os.chdir(cwd)


def put_flags(rt, *bodies):
    sqs = rt.client("sqs")
    for body in bodies:  # as the consumer sends them: group = user key, deduplication id = flag id
        sqs.send_message(
            QueueUrl=rt.handles.flag_queue_url,
            MessageBody=json.dumps(body),
            MessageGroupId=body["user_key"],
            MessageDeduplicationId=body["flag_id"],
        )


def clickguard(workdir, *args, stdin=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLICKGUARD_"))}
    env["USER"] = "e2e-reviewer"
    return subprocess.run(
        [sys.executable, "-m", "clickguard.cli.main", *args],
        cwd=workdir,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def now_flag(body):
    """The flag as if fired now (allow-list entries expire from the decision's time)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {**body, "flagged_at": stamp, "last_event_time": stamp}


def test_a_decision_from_the_cli_is_recorded_labelled_and_allow_listed(stack):
    rt, workdir = stack
    put_flags(rt, now_flag(flag_v2(user="e2e-allowed", flag_id="e2e-f1")), flag(user="e2e-other", flag_id="e2e-f2"))
    done = clickguard(
        workdir, "review", "decide", "--local", "--flag-id", "e2e-f1", "--decision", "allow", "--reason", "a tester"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recorded: allow e2e-allowed (flag e2e-f1) by e2e-reviewer" in done.stdout
    rt.record_decisions()  # the local SQS event source mapping delivers to the real decisions handler

    s3, bucket = rt.client("s3"), rt.handles.model_bucket
    (logged,) = [d for d in read_decisions(s3, bucket) if d.flag_id == "e2e-f1"]
    assert (logged.reviewer, logged.decision.value, logged.model_version) == ("e2e-reviewer", "allow", "m-2")
    assert "e2e-allowed" in S3Labels(s3, bucket).reviewed_users()
    allow, _ = S3AllowListStore(s3, bucket).read()
    entry = allow.entry("e2e-allowed")
    assert entry is not None and entry.reasons == {"fail_share"}
    # what the consumer will ask: the same flag again is silenced, a stronger one or a new reason is not
    later = logged.decided_at_ms + DAY_MS
    strength = flag_strength(flag_v2())
    assert strength is not None
    assert suppressed(entry, ["fail_share"], strength, later)
    assert not suppressed(entry, ["fail_share"], strength * 1.3, later)
    assert not suppressed(entry, ["fail_share", "peak_per_minute"], strength, later)
    # the other flag was read while searching and released: it is still open for the next reviewer
    listed = clickguard(workdir, "review", "list", "--local", "--json", "--wait", "1")
    assert "e2e-f2" in listed.stdout and "e2e-f1" not in listed.stdout


def test_an_interactive_session_on_stdin_blocks_a_user_the_trainer_then_leaves_out(stack):
    rt, workdir = stack
    empty_flag_queue(rt)
    put_flags(rt, flag(user="e2e-bot", flag_id="e2e-f3"), flag(user="e2e-maybe", flag_id="e2e-f4"))
    # the reviewer blocks the first flag shown, skips the second; which one comes first is the queue's business
    done = clickguard(workdir, "review", "--local", "--reviewer", "bob", "--wait", "1", stdin="b\nscripted logins\ns\n")
    assert done.returncode == 0, done.stderr[-2000:]
    (blocked,) = re.findall(r"recorded: block (\S+) ", done.stdout)  # after the prompts input() printed
    assert "decided 1 (1 block, 0 allow), skipped 1" in done.stderr
    rt.record_decisions()
    labels = S3Labels(rt.client("s3"), rt.handles.model_bucket)
    assert blocked in labels.blocked_users()  # the trainer's block list: left out, a supervised positive
    stats = clickguard(workdir, "review", "stats", "--local", "--json")
    rows = [json.loads(x) for x in stats.stdout.splitlines()]
    assert rows[-1]["day"] == "all" and rows[-1]["block"] >= 1


def empty_flag_queue(rt):
    from clickguard.store import flag_reader

    sqs, url = rt.client("sqs"), rt.handles.flag_queue_url
    while got := flag_reader.receive(sqs, url, 10, wait_s=0):
        flag_reader.delete(sqs, url, got)


def test_a_malformed_decision_is_kept_aside_and_the_queue_keeps_flowing(stack):
    rt, _ = stack
    sqs, s3 = rt.client("sqs"), rt.client("s3")
    sqs.send_message(QueueUrl=rt.handles.decision_queue_url, MessageBody="{not json", MessageGroupId="x")
    rt.record_decisions()
    kept = s3.list_objects_v2(Bucket=rt.handles.model_bucket, Prefix="review/rejected/").get("Contents", [])
    assert len(kept) == 1
    assert rt.decisions_esm is not None and rt.decisions_esm.stats.function_errors == 0
