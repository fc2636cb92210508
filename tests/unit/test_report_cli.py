"""`clickguard report` on a user's own files: day 1 trains (its labels, when given, are the block list), day 2 is
scored against its labels, and the report is written."""

from __future__ import annotations

import csv
import json

import pytest

from clickguard.cli.main import main
from clickguard.sim.catalog import is_abnormal


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--days", "2", "--users", "600", "--seed", "4", "--out", str(out)]) == 0
    return out


def _report(sim, tmp_path, capsys, *extra):
    argv = ["report", "--day1", str(sim / "day-01.events.ndjson"), "--day2", str(sim / "day-02.events.ndjson"),
            "--labels", str(sim / "day-02.labels.csv"), "--out", str(tmp_path / "r.html"), *extra]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_report_on_files_blocks_day_1_s_labelled_abusers_when_given(sim, tmp_path, capsys):
    plain = _report(sim, tmp_path, capsys)
    assert "blocked_on_day1" not in plain and (tmp_path / "r.html").stat().st_size > 0
    day1 = list(csv.DictReader((sim / "day-01.labels.csv").open()))
    with_labels = _report(sim, tmp_path, capsys, "--labels-day1", str(sim / "day-01.labels.csv"))
    assert with_labels["blocked_on_day1"] == sum(is_abnormal(r["user_type"]) for r in day1) > 0
    assert with_labels["labels_read_as"] == plain["labels_read_as"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--labels-day1", "DAY1_ALL_ABUSERS"], "every user of the events reads as an abuser (column 'label'"),
        (["--labels", "DAY2_OTHER_IDS"], "none of its 1 users is in the events (its 'user_id' column names 'nobody'"),
    ],
)
def test_report_refuses_labels_that_can_tell_nothing(sim, tmp_path, capsys, argv, needle):
    users = {r["user_id"] for r in csv.DictReader((sim / "day-01.labels.csv").open())}
    (tmp_path / "all.csv").write_text("user_id,label\n" + "".join(f"{u},bot\n" for u in sorted(users)))
    (tmp_path / "other.csv").write_text("user_id,label\nnobody,bot\n")
    subst = {"DAY1_ALL_ABUSERS": str(tmp_path / "all.csv"), "DAY2_OTHER_IDS": str(tmp_path / "other.csv")}
    files = {"--day1": sim / "day-01.events.ndjson", "--day2": sim / "day-02.events.ndjson",
             "--labels": sim / "day-02.labels.csv"}  # fmt: skip
    args = {k: str(v) for k, v in files.items()} | {argv[0]: subst[argv[1]]}
    with pytest.raises(SystemExit) as exc:
        main(["report", *[x for kv in args.items() for x in kv], "--out", str(tmp_path / "r.html")])
    assert exc.value.code == 2 and needle in capsys.readouterr().err
