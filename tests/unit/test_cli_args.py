"""Bad arguments print what was wrong and exit non-zero, before touching AWS."""

from __future__ import annotations

import argparse

import pytest

from clickguard.cli.main import main

OUT = "<a fresh --out path>"  # each run's own: a file of that name left in /tmp would fail the test for its reason


def _fails(argv, capsys, *needles):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code != 0
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["produce", "--stream", "s"], ["one of the arguments --input/-i --simulate is required"]),
        (["produce", "--input", "x", "--simulate", "--stream", "s"], ["not allowed with argument"]),
        (["produce", "--input", "/nonexistent.ndjson", "--stream", "s"], ["--input /nonexistent.ndjson: no such file"]),
        (["produce", "--simulate"], ["no stream: give --stream NAME"]),
        (["produce", "--simulate", "--stream", "s", "--rate", "0"], ["--rate 0.0: must be > 0"]),
        (["produce", "--simulate", "--stream", "s", "--users", "-5"], ["-5 must be in [10, 100,000]"]),
        (["produce", "--simulate", "--stack", "a", "--local"], ["either --stack NAME or --local"]),
        (["flags"], ["no flag queue: give --queue-url"]),
        (["flags", "--queue-url", "q", "--wait", "601"], ["--wait 601.0: must be between 0 and 600"]),
        (["flags", "--queue-url", "q", "--max", "zero"], ["'zero' is not an integer"]),
        (["simulate", "--out", OUT, "--days", "0"], ["0 must be >= 1"]),
        (["simulate", "--out", OUT, "--abnormal-share", "0.9"], ["abnormal_share=0.9"]),
        (["simulate", "--out", OUT, "--start-date", "2019-13-01"], ["expected YYYY-MM-DD"]),
        (["simulate"], ["the following arguments are required: --out/-o"]),
        (["report", "--day1", "a.ndjson"], ["give all of --day1, --day2 and --labels"]),
        (["report", "--mean-quantile", "1.5"], ["1.5 must be in [0.5, 0.999999]"]),
    ],
)
def test_bad_arguments(argv, needles, capsys, tmp_path):
    _fails([str(tmp_path / "out") if a == OUT else a for a in argv], capsys, *needles)


def test_simulate_writes_to_a_file_path_fails(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    _fails(["simulate", "--out", str(f)], capsys, "exists and is not a directory")


def test_produce_csv_without_an_event_names_its_columns(tmp_path, capsys):
    f = tmp_path / "e.csv"
    f.write_text("user,event\n1,view\n")  # no time under any name
    _fails(["produce", "--input", str(f), "--stream", "s"], capsys, "(rejected: {'missing_timestamp': 1};",
           "its first event's fields: user, event)")  # fmt: skip


def test_produce_strict_names_the_bad_line(tmp_path, capsys):
    f = tmp_path / "e.ndjson"
    f.write_text('{"user_id":"1","event_type":"a","timestamp":"2019-01-01T00:00:00Z"}\nnot json\n')
    _fails(["produce", "--input", str(f), "--stream", "s", "--strict"], capsys, ":2: not_json")


def test_local_without_a_running_stack_says_how_to_start_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no .clickguard-local.json here
    _fails(["flags", "--local"], capsys, "--local: no running local stack", "clickguard local up")
    (tmp_path / ".clickguard-local.json").write_text("{not json")
    _fails(["produce", "--local", "--simulate"], capsys, "is not a clickguard local state file")


def test_stack_without_outputs_names_them(aws, capsys):
    import boto3

    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="bare", TemplateBody='{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}'
    )
    _fails(
        ["flags", "--stack", "bare", "--region", "us-east-1"],
        capsys,
        "outputs StreamName, FlagQueueUrl, DataBucketName, ModelBucketName, TableName missing",
    )
    _fails(["flags", "--stack", "nope", "--region", "us-east-1"], capsys, "--stack nope:")


def test_simulate_writes_days_and_manifest(tmp_path, capsys):
    assert main(["simulate", "--days", "2", "--users", "60", "--seed", "1", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "day-01.events.ndjson",
        "day-01.labels.csv",
        "day-02.events.ndjson",
        "day-02.labels.csv",
        "manifest.json",
    ]


@pytest.mark.parametrize(("name", "body"), [("e.ndjson.gz", b"not gzip"), ("e.ndjson.zst", b"(\xb5/\xfd\x00")])
def test_produce_names_a_compressed_file_it_cannot_read(tmp_path, capsys, name, body):
    f = tmp_path / name
    f.write_bytes(body)
    _fails(["produce", "--input", str(f), "--stream", "s"], capsys, f"--input {f}: cannot read it (")


@pytest.mark.parametrize(("command", "spelling"), [("train", "--events"), ("score", "--input")])
def test_train_and_score_take_the_event_file_under_either_name(command, spelling, tmp_path, capsys):
    f = tmp_path / "foreign.csv"
    f.write_text("shopper,when,kind\n1,1433221332117,view\n")  # names no alias covers
    rest = ["--out", str(tmp_path / "m")] if command == "train" else ["--model", str(tmp_path), "--out", "-"]
    fields = "its first event's fields: shopper, when, kind)"  # the header, to write a mapping from
    _fails([command, spelling, str(f), *rest], capsys, "no valid event in 1 line (", "or --field-mapping", fields)


def test_no_valid_event_names_the_first_event_s_fields_never_a_value(tmp_path, capsys):
    f = tmp_path / "foreign.ndjson"
    f.write_text('{"ip": "203.0.113.7", "userid": 23, "jane@example.com": 1, "request": "GET / HTTP/1.1"}\n')
    err = _fails(["train", "--input", str(f), "--out", str(tmp_path / "m")], capsys, "fields: ip, userid, request)")
    assert "203.0.113.7" not in err and "jane@example.com" not in err


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--labels-day2", "BAD"], ["--labels-day2", "expected a header naming the user", "'foo', 'bar', 'baz'"]),
        (["--labels-day1", "/nonexistent/labels.csv"], ["--labels-day1 /nonexistent/labels.csv: no such file"]),
    ],
)
def test_demo_checks_its_labels_files_before_it_starts_the_emulator(tmp_path, capsys, extra, needles):
    events, bad = tmp_path / "day.ndjson", tmp_path / "bad.csv"
    events.write_text('{"user_id": "u", "event_type": "view", "timestamp": "2025-11-20T00:00:00Z"}\n')
    bad.write_text("foo,bar,baz\n1,2,3\n")
    argv = ["demo", "--out", str(tmp_path / "out"), "--events-day1", str(events), "--events-day2", str(events)]
    _fails(argv + [str(bad) if a == "BAD" else a for a in extra], capsys, *needles)
    assert not (tmp_path / "out").exists()  # refused before the demo began


def test_demo_names_an_event_file_that_is_a_workbook_or_columnar_before_it_starts(tmp_path, capsys):
    events, parquet = tmp_path / "day.ndjson", tmp_path / "day2.parquet"
    events.write_text('{"user_id": "u", "event_type": "view", "timestamp": "2025-11-20T00:00:00Z"}\n')
    parquet.write_bytes(b"PAR1\x15\x04" + bytes(32))
    argv = ["demo", "--out", str(tmp_path / "out"), "--events-day1", str(events), "--events-day2", str(parquet)]
    _fails(argv, capsys, f"--events-day2 {parquet}: cannot read it", "a Parquet file: write it as NDJSON or CSV")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "body", "needle"),
    [
        ("--labels-day2", "visitor,is_bot\nV-u,1\n", "none of its 1 users is in the events (its 'visitor' column"),
        ("--labels-day2", "visitor,type\nu,guest\n", "every labelled user reads as an abuser (column 'type'"),
        ("--labels-day1", "visitor,is_bot\nu,yes\n", "every user of the events reads as an abuser (column 'is_bot'"),
    ],
)
def test_demo_refuses_labels_that_can_tell_nothing_about_its_events_before_the_emulator(
    tmp_path, capsys, option, body, needle
):
    events, labels = tmp_path / "day.ndjson", tmp_path / "labels.csv"
    events.write_text('{"user_id": "u", "event_type": "view", "timestamp": "2025-11-20T00:00:00Z"}\n')
    labels.write_text(body)
    argv = ["demo", "--out", str(tmp_path / "out"), "--events-day1", str(events), "--events-day2", str(events)]
    _fails([*argv, option, str(labels)], capsys, f"{labels}: {needle}")
    assert not (tmp_path / "out" / "stack").exists()  # the emulator never started


def test_no_valid_event_names_a_spreadsheet_s_spaced_column_names(tmp_path, capsys):
    f = tmp_path / "e-shop.csv"
    f.write_text("year;month;day;order;session ID;page 1 (main category)\n2008;4;1;1;1;1\n")
    _fails(["train", "--input", str(f), "--out", str(tmp_path / "m")], capsys,
           "fields: year, month, day, order, session ID, page 1 (main category))")  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "usage", "needle"),
    [
        (["flags", "--local", "--mxa", "5"], "usage: clickguard flags ", "unrecognized arguments: --mxa 5"),
        (["score", "--events", "F", "--modle", "m1", "--out", "x.csv"], "usage: clickguard score ", "--modle m1"),
        (["review", "lst", "--bogus"], "usage: clickguard review ", "invalid choice: 'lst'"),
        (["models", "list", "--store", "d", "--bogus"], "usage: clickguard models ", "unrecognized arguments: --bogus"),
    ],
)
def test_an_unknown_option_is_named_by_the_subcommand_with_its_usage_before_a_missing_one(argv, usage, needle, capsys):
    err = _fails(argv, capsys, usage, needle)
    assert "usage: clickguard [-h] COMMAND" not in err and "is required" not in err, err


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["score", "--event", "e.ndjson", "--model", "m", "--out", "-"], "--event e.ndjson"),
        (["produce", "--simul", "--stream", "s"], "--simul"),
        (["local", "stats", "--work", "w"], "--work w"),
    ],
)
def test_an_option_is_never_taken_by_a_prefix_of_its_name(argv, unknown, capsys):
    _fails(argv, capsys, f"unrecognized arguments: {unknown}")


def test_every_subcommand_refuses_abbreviations():
    from clickguard.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {name: p.allow_abbrev for name, p in sub.choices.items()} == dict.fromkeys(sub.choices, False)
