"""End to end: the synthesized stack on the embedded emulator, simulated traffic, flags read back from SQS."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import boto3
import pytest

from clickguard.cli import local_cmd
from clickguard.cli.main import main
from clickguard.consumer.flags import MESSAGE_FIELDS
from clickguard.local.demo import DemoOptions, run_demo
from clickguard.sim.catalog import is_abnormal
from tests.e2e.local_up import local_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    # Seed 8: its 500 users give the reviewers a false positive to allow (the allow-list test needs one); seed 7's
    # gave none once the blend kept its largest better weight (precision 1.0, recall 0.91).
    result = run_demo(DemoOptions(out_dir=out, users=500, seed=8, flags_out=out / "flags.ndjson"), log=lambda m: None)
    return out, result


def test_bots_and_attackers_are_flagged_and_ordinary_users_mostly_not(demo):
    _, result = demo
    per_type = result.per_type
    abusers = [per_type[k] for k in ("scraper", "credential_stuffer", "account_takeover", "spammer")]
    for kind in ("scraper", "credential_stuffer", "account_takeover", "spammer"):
        row = per_type[kind]
        assert row["total"] > 0
        # this small run has 2 to 7 of each kind: one miss is a third of the smallest
        assert row["flagged"] / row["total"] >= 0.5, (kind, row)
    assert sum(r["flagged"] for r in abusers) / sum(r["total"] for r in abusers) >= 0.8
    ordinary = [per_type[k] for k in ("buyer", "seller")]
    # With labels the trainer's cut aims at precision 0.8 on held-out folds (else a 2% budget); the next day,
    # scored by the consumer, sits near it.
    assert sum(r["flagged"] for r in ordinary) / sum(r["total"] for r in ordinary) < 0.04
    assert result.recall >= 0.85 and result.precision >= 0.6


def test_the_users_reviewers_allowed_come_back_and_their_flags_stay_silent(demo):
    """Day 3 replays the allowed users' day-2 events a day later: the same behaviour, so the allow-list silences
    their flags (the replay is in the past whatever the hour the demo runs, or its times would be clamped and every
    flag would carry a new reason). A flag with a reason the allowed one lacked still goes out, by design."""
    _, result = demo
    review = result.review
    assert review["allowed users"] >= 1
    assert review["flags suppressed"] >= review["allowed users"], review
    assert review["flags sent again"] < review["flags suppressed"], review


def test_the_marketplace_s_outlier_purchases_are_flagged_by_seed_003_s_rule(demo):
    _, result = demo
    net = result.network
    assert net["purchases"] > 100 and net["friendships"] > 100
    assert net["outliers flagged"] == net["outliers injected"] == 5  # each 20x its buyer's level
    assert all(f["kind"] == "network_purchase" and float(f["amount"]) > float(f["mean"]) for f in result.purchase_flags)
    assert not {f["flag_id"] for f in result.purchase_flags} & {f["flag_id"] for f in result.flags}


def test_the_score_api_answers_over_http_as_the_consumer_decided(demo):
    _, result = demo
    answers = result.score_answers
    kinds = [is_abnormal(a["user_type"]) for a in answers]
    assert len(answers) == 4 and kinds.count(True) == 2  # two abusers, two ordinary users of day 2
    for a in answers:
        assert a["model_version"] == result.model_version and a["started_from"]["stored"]
        fires = a["score"] is not None and a["score"] > a["threshold"]
        assert a["decision"]["fires"] == fires  # the stored session as the consumer left it
    flagged = {f["user_key"] for f in result.flags}
    for a in answers:  # and the stream's own decision beside it: a user flagged this morning may browse quietly now
        assert (a["decision"]["last_flag"] is not None) == (a["user_key"] in flagged)


def test_flags_carry_the_documented_message(demo):
    out, result = demo
    lines = (out / "flags.ndjson").read_text().splitlines()
    assert len(lines) == len(result.flags) > 0
    flag = json.loads(lines[0])
    assert set(flag) == set(MESSAGE_FIELDS)
    assert flag["model_version"] == result.model_version
    assert len({json.loads(x)["flag_id"] for x in lines}) == len(lines)  # no flag sent twice


def test_the_trainer_and_consumer_ran_from_the_template(demo):
    _, result = demo
    assert result.training["status"] == "published" and result.training["events"] == result.day1_records
    stats = result.consumer_stats
    assert stats["records_delivered"] >= result.day1_records + result.day2_records
    assert stats["function_errors"] == 0 and stats["batches_given_up"] == 0
    out, _ = demo
    logs = [json.loads(x) for x in (out / "stack" / "lambda-output.ndjson").read_text().splitlines() if x[:1] == "{"]
    services = {x.get("service") for x in logs if "ConsumerFunction" in x.get("function_name", "")}
    assert services == {"clickguard-consumer-local"}, services  # each function logs under its own name


def test_report_is_self_contained_and_has_its_figures(demo):
    out, result = demo
    html = (out / "report.html").read_text()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in html
    for text in (
        result.model_version,
        "Quality against the ground truth",
        "credential_stuffer",
        "Transition matrix",
        "Top flagged users",
        f"{result.precision:,.3f}",
        "id='user-scores'",
        "Precision and recall of the score (average precision ",
    ):
        assert text in html, text


def test_local_up_serves_the_cli_with_local(tmp_path, monkeypatch):
    """`clickguard local up` in its own process; `produce --local` from this one."""
    with local_up(tmp_path, 120) as banner:
        events = tmp_path / "events.ndjson"
        events.write_text(
            "".join(
                json.dumps({"user_id": "u1", "event_type": "login", "timestamp": f"2026-11-20T10:00:{i:02d}Z"}) + "\n"
                for i in range(5)
            )
        )
        monkeypatch.chdir(tmp_path)  # --local finds the stack through the state file in the current directory
        assert main(["produce", "--local", "--input", str(events)]) == 0
        state = json.loads((tmp_path / ".clickguard-local.json").read_text())
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=banner.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        item = {}
        for _ in range(100):  # the `local up` process's event source mapping delivers within a poll or two
            item = ddb.get_item(TableName=state["outputs"]["TableName"], Key={"user_key": {"S": "u1"}}).get("Item", {})
            if item:
                break
            time.sleep(0.2)
        assert item, "the consumer in `clickguard local up` never wrote the user's session state"


def test_a_demo_on_files_without_events_ends_with_one_line_and_status_2(tmp_path):
    day1, day2 = tmp_path / "day1.ndjson", tmp_path / "day2.ndjson"
    day1.write_bytes(b'not json\n{"user_id": []}\n\xff\xfe\n')
    day2.write_text("")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "clickguard.cli.main",
            "demo",
            "--out",
            str(tmp_path / "out"),
            "--events-day1",
            str(day1),
            "--events-day2",
            str(day2),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("clickguard demo: error: training did not publish a model: ")
    assert "Traceback" not in proc.stderr


def test_the_demo_leaves_the_process_environment_as_it_found_it(demo):
    import os

    # The in-process handlers were configured through the environment; a later client here must not be sent to
    # the stopped emulator (a test ordering once did exactly that).
    assert os.environ.get("AWS_ENDPOINT_URL") is None
    assert [name for name in os.environ if name.startswith("CLICKGUARD_")] == []


def test_local_up_is_one_per_directory_trains_right_after_produce_and_stops_with_down(tmp_path, monkeypatch, capsys):
    """A second `local up` in the directory is refused (it would orphan the first); `train --local` right after
    `produce --local` trains on what was produced (the stack archives its stream on request, not only every
    minute); `local down` stops the stack and its state file goes with it."""
    with local_up(tmp_path, 600):
        monkeypatch.chdir(tmp_path)
        with pytest.raises(SystemExit) as exc:
            main(["local", "up"])
        assert exc.value.code == 2 and f"a local stack already runs from {tmp_path} (process" in capsys.readouterr().err
        assert main(["produce", "--local", "--simulate", "--day", "1", "--users", "200"]) == 0
        capsys.readouterr()
        assert main(["train", "--local"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["status"] == "published" and report["events"] > 0, report
        assert main(["local", "stats"]) == 0  # where every record went, the batch just run included
        counted = json.loads(capsys.readouterr().out)
        consumer = counted["consumer"]
        assert consumer["RecordsIn"] >= report["events"] and consumer["RecordsRejected"] == sum(
            counted["rejected_by_reason"].values()
        )
        gone = sum(consumer[n] for n in ("RecordsRejected", "RecordsReplayed", "DuplicateEventIds", "LateRecords"))
        assert consumer["EventsApplied"] > 0 and consumer["EventsApplied"] + gone == consumer["EventsIn"], consumer
        pid = json.loads((tmp_path / ".clickguard-local.json").read_text())["pid"]
        assert main(["local", "down"]) == 0
        assert "stopped the local stack" in capsys.readouterr().err
        assert not (tmp_path / ".clickguard-local.json").exists()
        assert local_cmd._exited(pid)  # down returns once the process has ended, not when its state file went
