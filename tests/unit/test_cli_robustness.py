"""The CLI on hostile or awkward input and output: nesting past the decoder's stack, outputs that cannot be written,
a reader that leaves, labels that tell nothing, out-of-range arguments, an output that is an input, pipes and
directories, spreadsheet formulas in user ids, bytes that are not UTF-8. Each ends in a message and exit 2 (or a
quiet 1 for a closed pipe), never a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clickguard.cli.main import main
from clickguard.rejections import Reason
from clickguard.sim.population import Population, SimConfig
from tests.cli_support import cli_fails
from tests.factories import file_results, ndjson, ordinary_events

DEEP = b"[" * 100_000 + b"]" * 100_000  # past msgspec's recursion limit (the decoder's depth scan rejects it first)
TRAIN = ["--min-sessions", "10", "--min-token-count", "1"]
needs_proc = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="Linux's /proc refuses new files")


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "export.ndjson"
    path.write_bytes(ndjson(ordinary_events(120, seed=9)))
    return path


@pytest.fixture(scope="module")
def store(events, tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    assert main(["train", "-i", str(events), "-o", str(out), *TRAIN]) == 0
    return out


def _cli(*argv, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # the modules this test imports
    return subprocess.Popen([sys.executable, "-m", "clickguard.cli.main", *map(str, argv)], env=env, **kwargs)


# 1. Nesting past the C decoder's stack, wherever it stands in the file


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (DEEP + b"\n" + ndjson(ordinary_events(2)), "first.ndjson"),
        (ndjson(ordinary_events(2)) + DEEP + b"\n", "second.ndjson"),
    ],
)
def test_a_line_nested_too_deep_is_rejected_as_too_deep_first_or_later(body, name):
    results = file_results(body, name)
    assert [r for r in results if isinstance(r, Reason)] == [Reason.TOO_DEEP]
    assert len(results) == 1 + len(ordinary_events(2))


def test_a_json_document_nested_too_deep_is_rejected_not_raised():
    body = b'[\n  {"user_id": "u", "event_type": "view", "timestamp": 1763700000},\n  ' + DEEP + b"\n]\n"
    assert Reason.TOO_DEEP in file_results(body, "doc.json")


def test_train_on_a_file_of_only_a_line_nested_too_deep_says_too_deep(tmp_path, capsys):
    (tmp_path / "deep.ndjson").write_bytes(DEEP + b"\n")
    cli_fails(capsys, ["train", "-i", tmp_path / "deep.ndjson", "-o", tmp_path / "m"], "no valid event", "too_deep")


# 2. Outputs that cannot be written: said before the work where it can be, else when the write fails


@needs_proc
@pytest.mark.parametrize(
    "argv",
    [
        ["score", "--events", "EVENTS", "--model", "NO_MODEL", "--out", "/proc/x.csv"],
        ["train", "-i", "EVENTS", "-o", "/proc/m"],
        ["simulate", "--days", "1", "--users", "10", "--out", "/proc/simx"],
        ["report", "--users", "10", "--out", "/proc/r.html"],
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_the_work(events, tmp_path, capsys, argv):
    # NO_MODEL: an empty store, which would be the error were the output checked only after the work
    subst = {"EVENTS": str(events), "NO_MODEL": str(tmp_path)}
    out = argv[-1]
    cli_fails(capsys, [subst.get(a, a) for a in argv], f"--out {out}: cannot write in /proc")


def test_report_to_an_existing_directory_is_refused_before_the_work(tmp_path, capsys):
    cli_fails(capsys, ["report", "--users", "10", "--out", tmp_path], f"--out {tmp_path}: a directory")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_when_writing_is_an_error_naming_the_output(events, store, capsys):
    cli_fails(capsys, ["score", "--events", events, "--model", store, "--out", "/dev/full"],
           "--out /dev/full: cannot write it (No space left on device)")  # fmt: skip


# 3. Standard output's reader leaves (| head): a quiet end


def test_score_to_a_reader_that_left_ends_quietly_with_status_1(events, store):
    proc = _cli("score", "--events", events, "--model", store, "--out", "-", stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # before the CSV is written: its first write meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


# 4. Labels that tell nothing are refused; no NaN in JSON


def test_score_refuses_labels_of_a_header_only(events, store, tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("user_id,user_type\n")
    cli_fails(capsys, ["score", "--events", events, "--model", store, "--out", tmp_path / "o.csv", "--labels",
                    tmp_path / "labels.csv"], "no user in it (a header only)")  # fmt: skip
    assert not (tmp_path / "o.csv").exists()


def test_score_refuses_labels_of_no_abuser_among_the_events_users(events, store, tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("user_id,user_type\nuser-1,normal\nuser-2,human\n")
    cli_fails(capsys, ["score", "--events", events, "--model", store, "--out", tmp_path / "o.csv", "--labels",
                    tmp_path / "labels.csv"], "no labelled user of the events reads as an abuser")  # fmt: skip


def test_report_refuses_labels_of_no_abuser(events, tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("user_id,user_type\nuser-1,normal\n")
    cli_fails(capsys, ["report", "--day1", events, "--day2", events, "--labels", tmp_path / "labels.csv", "--out",
                    tmp_path / "r.html"], "no labelled user of the events reads as an abuser")  # fmt: skip


def test_the_report_summary_writes_a_measure_it_cannot_take_as_null():
    from clickguard.cli.report_cmd import finite

    text = json.dumps(finite({"average_precision": float("nan"), "per": [float("inf"), 1.5]}), allow_nan=False)
    assert json.loads(text) == {"average_precision": None, "per": [None, 1.5]}


# 5. A long simulation of a small population does not run out of ids


def test_a_small_population_makes_fresh_ids_past_its_pool():
    population = Population(SimConfig(users=10))
    fresh = population.new_ids(200)  # the pool holds 40, 10 of them the users'
    assert len(set(fresh)) == 200 and not set(fresh) & set(population.ids)
    assert all(len(i) == 8 for i in fresh[:30]) and all(len(i) == 9 for i in fresh[30:])


def test_simulate_300_days_of_10_users_writes_every_day_and_the_manifest(tmp_path, capsys):
    assert main(["simulate", "--days", "300", "--users", "10", "--out", str(tmp_path)]) == 0
    assert len(json.loads((tmp_path / "manifest.json").read_text())["days"]) == 300


# 6. Out-of-range arguments: argparse names the option and the range


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["report", "--users", "5"], "argument --users: 5 must be in [10, 100,000]"),
        (["report", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["simulate", "--out", "OUT", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["simulate", "--out", "OUT", "--users", "1000000000"], "--users: 1000000000 must be in [10, 100,000]"),
        (["produce", "--simulate", "--stream", "s", "--users", "5"], "argument --users: 5 must be in [10, 100,000]"),
        (["demo", "--seed", "-3"], "argument --seed: -3 must be >= 0"),
    ],
)
def test_an_argument_out_of_range_names_the_option_and_the_range(tmp_path, capsys, argv, needle):
    cli_fails(capsys, [tmp_path / "out" if a == "OUT" else a for a in argv], needle)


# 7. An output that is an input is refused, and the input kept


def test_score_refuses_to_write_over_its_events_file(events, store, tmp_path, capsys):
    copy = tmp_path / "same.ndjson"
    copy.write_bytes(events.read_bytes())
    cli_fails(capsys, ["score", "--events", copy, "--model", store, "--out", copy], "the same file as the input")
    assert copy.read_bytes() == events.read_bytes()


def test_the_same_events_file_given_twice_is_refused_not_counted_twice(events, store, tmp_path, capsys):
    """Without event ids nothing tells a repeated file's events from new ones: every user's events doubled (a
    tester's score went from 12.1 to 17.0, with a sub-second reason that was not there)."""
    link = tmp_path / "again.ndjson"
    link.symlink_to(events)
    cli_fails(capsys, ["score", "--events", events, "--events", link, "--model", store, "--out", tmp_path / "s.csv"],
           f"--events {link}: the same file as --events {events}")  # fmt: skip


def test_report_refuses_to_write_over_an_input(events, tmp_path, capsys):
    copy = tmp_path / "day1.ndjson"
    copy.write_bytes(events.read_bytes())
    (tmp_path / "labels.csv").write_text("user_id,user_type\nuser-1,bot\nuser-2,normal\n")
    cli_fails(capsys, ["report", "--day1", copy, "--day2", events, "--labels", tmp_path / "labels.csv", "--out", copy],
           f"--out {copy}: the same file as the input")  # fmt: skip
    assert copy.read_bytes() == events.read_bytes()


# 8. Directories and pipes: what they are, and a pipe read as it streams


@pytest.mark.parametrize("option", ["--events", "--labels"])
def test_a_directory_given_as_an_input_is_called_a_directory(events, store, tmp_path, capsys, option):
    files = {"--events": events, "--labels": None}
    argv = ["score", "--model", store, "--out", tmp_path / "o.csv"]
    argv += [x for opt, path in (files | {option: tmp_path}).items() if path for x in (opt, path)]
    cli_fails(capsys, argv, f"{option} {tmp_path}: a directory, not a file")


def _piped(body: bytes) -> str:
    """A pipe's read end as a path, as a shell's process substitution ``<(cat f)`` gives it; written meanwhile."""
    read, write = os.pipe()

    def feed() -> None:
        with os.fdopen(write, "wb") as fh:
            fh.write(body)

    threading.Thread(target=feed, daemon=True).start()
    return f"/dev/fd/{read}"


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_train_reads_events_from_a_pipe_as_from_their_file(events, tmp_path, capsys):
    piped = _piped(events.read_bytes())
    try:
        assert main(["train", "-i", piped, "-o", str(tmp_path / "piped"), *TRAIN]) == 0
        from_pipe = json.loads(capsys.readouterr().out)
    finally:
        os.close(int(piped.rsplit("/", 1)[1]))
    assert main(["train", "-i", str(events), "-o", str(tmp_path / "file"), *TRAIN]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert (from_pipe["events"], from_pipe["thresholds"]) == (from_file["events"], from_file["thresholds"])


def test_score_reads_events_from_standard_input_as_dash(events, store, tmp_path):
    with events.open("rb") as stdin:
        proc = _cli("score", "--events", "-", "--model", store, "--out", tmp_path / "o.csv", stdin=stdin,
                    stderr=subprocess.PIPE)  # fmt: skip
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert len(list(csv.DictReader((tmp_path / "o.csv").open()))) == 120


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_the_demo_which_reads_its_files_twice_refuses_a_pipe_by_name(events, capsys):
    piped = _piped(b"")
    try:
        cli_fails(capsys, ["demo", "--events-day1", piped, "--events-day2", events],
               f"--events-day1 {piped}: not a regular file (a pipe?)")  # fmt: skip
    finally:
        os.close(int(piped.rsplit("/", 1)[1]))


# 9. A user id that a spreadsheet would run as a formula


def test_a_user_id_that_starts_a_formula_is_written_after_a_quote_and_numbers_stay_numbers(store, tmp_path, capsys):
    hostile = ["=SUM(A1)", "+1+cmd", "-2+3", "@SUM(1)"]  # a leading tab or CR: stripped by the decoder
    base = ordinary_events(40, seed=3)
    names = {f"user-{i}": name for i, name in enumerate(hostile)}
    (tmp_path / "e.ndjson").write_bytes(ndjson([{**e, "user_id": names.get(e["user_id"], e["user_id"])} for e in base]))
    assert main(["score", "--events", str(tmp_path / "e.ndjson"), "--model", str(store), "--out",
                 str(tmp_path / "o.csv")]) == 0  # fmt: skip
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text(), newline="")))
    assert {r["user_key"] for r in rows} >= {"'" + name for name in hostile}
    assert all(not r["user_key"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows)
    numbers = [v for r in rows for k, v in r.items() if k not in ("user_key", "reasons", "judged", "flagged") and v]
    assert numbers and all(float(v) == float(v) for v in numbers)  # each a number still: none quoted


# 10. A CSV row that is not UTF-8 is not_utf8, as an NDJSON line is


def test_a_latin1_csv_row_is_not_utf8_as_a_latin1_json_line_is():
    csv_body = b"user_id,event_type,timestamp\ncaf\xe9,view,1763700000\nbob,view,1763700000\n"
    json_body = b'{"user_id": "caf\xe9", "event_type": "view", "timestamp": 1763700000}\n'
    assert file_results(csv_body, "e.csv")[0] == file_results(json_body, "e.ndjson")[0] == Reason.NOT_UTF8
    assert not isinstance(file_results(csv_body, "e.csv")[1], Reason)


def _csv_rows(events: Path, header: bool) -> str:
    rows = [json.loads(line) for line in events.read_text().splitlines()][:200]
    body = "".join(f"{r['user_id']},{r['event_type']},{r['timestamp']}\n" for r in rows)
    return ("user_id,event_type,timestamp\n" if header else "") + body


@pytest.mark.parametrize(
    "argv", [["train", "-o", "{tmp}/m"], ["produce", "--stream", "s", "--endpoint-url", "http://127.0.0.1:9"]]
)
def test_a_csv_without_its_header_row_is_told_so_not_its_values_as_names(events, tmp_path, capsys, argv):
    """A header-less export had its first row's values (a user id, an action) listed as "its first event's fields"."""
    path = tmp_path / "export.csv"
    path.write_text(_csv_rows(events, header=False))
    flag = "-i" if argv[0] == "train" else "--input"
    err = cli_fails(capsys, [*(a.format(tmp=tmp_path) for a in argv), flag, path], "first line is a row of data")
    assert "first event's fields" not in err
    path.write_text(_csv_rows(events, header=True))  # the same rows under a header read
    if argv[0] == "train":
        assert main([*(a.format(tmp=tmp_path) for a in argv), flag, str(path), *TRAIN]) == 0


def test_a_file_of_dates_without_times_of_day_is_said_to_be_one(tmp_path, capsys):
    """A Diginetica-like export timed by ``eventdate`` alone: every event at midnight, read as bursts, said nowhere."""
    path = tmp_path / "views.csv"
    rows = "".join(f"u{i % 40},view,2016-05-{1 + i % 9:02d}\n" for i in range(400))
    path.write_text("user_id,event_type,timestamp\n" + rows)
    with pytest.raises(SystemExit):  # and then too few sessions to calibrate on: said after the note
        main(["train", "-i", str(path), "-o", str(tmp_path / "m"), *TRAIN])
    assert "every event is timed at midnight" in capsys.readouterr().err


def test_a_line_of_delimited_values_is_told_it_needs_a_header():
    from clickguard.events import parse_record
    from clickguard.rejections import RejectedRecord

    with pytest.raises(RejectedRecord, match="a row of delimited values"):
        parse_record(b"1,2268318,2520377,pv,1511544070")


def test_a_model_parameter_given_to_a_stack_s_training_is_refused_not_ignored(capsys):
    """``train --local --alert-budget 0.1`` trained with the stack's 0.02, saying nothing."""
    cli_fails(capsys, ["train", "--local", "--alert-budget", "0.1", "--mean-quantile", "0.99"],
           "--mean-quantile, --alert-budget: the model's parameters for --input files",
           "mean_bits_quantile, alert_budget")  # fmt: skip
