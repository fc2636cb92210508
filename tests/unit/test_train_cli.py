"""`clickguard train` and `clickguard models`: bootstrap from a file, list, roll back, and bad arguments."""

from __future__ import annotations

import json

import pytest

from clickguard.cli.main import main
from tests.factories import ndjson, ordinary_events


@pytest.fixture
def events_file(tmp_path):
    path = tmp_path / "export.ndjson"
    path.write_bytes(ndjson(ordinary_events(120, seed=9)) + b"garbage line\n")
    return path


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_train_from_file_then_list_show_and_rollback(tmp_path, events_file, capsys):
    out_dir = tmp_path / "artifacts"
    code, io = run(
        capsys, "train", "-i", str(events_file), "-o", str(out_dir), "--min-sessions", "10", "--min-token-count", "1"
    )
    assert code == 0
    first = json.loads(io.out)
    assert first["rejected"] == {"not_json": 1} and first["sessions"] >= 120
    assert first["latest"] == first["version"] and first["user_cap"]["transitions"]["cap"] is None
    code, io = run(
        capsys,
        "train",
        "-i",
        str(events_file),
        "-o",
        str(out_dir),
        "--min-sessions",
        "10",
        "--min-token-count",
        "1",
        "--mean-quantile",
        "0.9",
    )
    second = json.loads(io.out)
    assert code == 0 and second["version"] != first["version"]
    # the same window: the second model is written, but latest.json only moves to a later window
    assert second["latest"] == first["version"] and "stays on" in second["latest_note"]
    _, io = run(capsys, "models", "list", "--store", str(out_dir))
    assert f"* {first['version']}" in io.out and f"  {second['version']}" in io.out
    _, io = run(capsys, "models", "rollback", "--store", str(out_dir), "--to", second["version"])
    assert f"now points at {second['version']}" in io.out  # an operator may choose either, on purpose
    _, io = run(capsys, "models", "show", "--store", str(out_dir))
    assert json.loads(io.out)["version"] == second["version"]
    _, io = run(capsys, "models", "rollback", "--store", str(out_dir), "--to", first["version"])
    assert f"now points at {first['version']} (was {second['version']})" in io.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "-i", "/nope.ndjson", "-o", "x"], "--input /nope.ndjson: no such file"),
        (["train", "-i", "EVENTS", "-o", "x", "--mean-quantile", "1.5"], "must be in [0.5, 0.999999]"),
        (["train", "-i", "EVENTS", "-o", "x", "--min-sessions", "zero"], "'zero' is not an integer"),
        (["train", "-i", "EVENTS", "-o", "x", "--smoothing", "0"], "smoothing=0.0 (need 1e-09 <= smoothing <= 1000)"),
        (["train", "-i", "EVENTS", "-o", "x", "--max-user-share", "0"], "0.0 must be in [1e-06, 1]"),
        (["train", "-i", "EVENTS", "-o", "x", "--min-sessions", "100000"], "fewer than the minimum of 100000"),
        (["train", "-i", "EVENTS", "-o", "s3://"], "give s3://BUCKET"),
        (["models", "rollback", "--store", "OUT"], "rollback needs --to VERSION"),
        (["models", "rollback", "--store", "OUT", "--to", "v0"], "no model version 'v0'"),
        (["models", "show", "--store", "OUT"], "no model published"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_say_what_is_wrong_and_exit_non_zero(argv, message, events_file, tmp_path, capsys):
    argv = [str(events_file) if a == "EVENTS" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_train_reads_gzip_exports(tmp_path, capsys):
    import gzip

    path = tmp_path / "export.ndjson.gz"
    path.write_bytes(gzip.compress(ndjson(ordinary_events(60, seed=2))))
    code, io = run(
        capsys, "train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5", "--min-token-count", "1"
    )
    assert code == 0 and json.loads(io.out)["events"] == len(ordinary_events(60, seed=2))
