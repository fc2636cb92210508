"""What the CLI prints of the stream's own text: user ids chosen by senders reach a terminal escaped (``flags``, as
``review`` does) and scores.csv reversibly guarded against spreadsheet formulas (``score``)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from clickguard.cli import flags_cmd, score_cmd
from clickguard.review.explain import clean
from clickguard.store.flag_reader import FlagMessage

HOSTILE = ["esc\x1b[2J\x1b[31mFAKE-ADMIN\x1b[0m", "bell\x07\x07", "cr\rOVERWRITE", "nl\nsecond line", "nul\x00x"]


def _flag(user: str) -> FlagMessage:
    body = {
        "flag_id": "f",
        "user_key": user,
        "score": 9.5,
        "threshold": 4.0,
        "reasons": ["mean_bits"],
        "flagged_at": "2026-01-01T00:00:00Z",
        "top_transitions": [{"from": "a\x1b[0m", "to": "b", "bits": 3}],
    }
    return FlagMessage("m", "r", body, "")


def test_flags_prints_user_ids_escaped_as_review_does(capsys):
    flags_cmd.show([_flag(u) for u in HOSTILE], as_json=False)
    out = capsys.readouterr().out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)  # no control character but the rows' own newlines
    assert len(out.splitlines()) == 1 + len(HOSTILE)  # one line a flag: a newline in an id breaks no row
    assert all(clean(u) in out for u in HOSTILE)


def _read_cell(cell: str) -> str:
    """scores.csv's rule undone, as a reader applies it (``score_cmd.inert``)."""
    if not cell.startswith("'"):
        return cell
    return re.sub(r"\\(.)", lambda m: "\0" if m[1] == "0" else m[1], cell[1:])


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("-1", "-1"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("-123", "-123"),
        ("'-1", "''-1"),
        ("'", "''"),
        ("=SUM(A1)", "'=SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("=a\\0b", "'=a\\\\0b"),
        ("nul\x00x", "'nul\\0x"),
        ("user-1", "user-1"),
        ("a\\b", "a\\b"),
    ],
)
def test_a_scores_csv_cell_is_guarded_only_where_a_spreadsheet_would_run_it_and_reads_back(value, written):
    assert score_cmd.inert(value) == written
    assert _read_cell(written) == value


def test_no_two_user_ids_share_a_cell():
    ids = ["-1", "'-1", "''-1", "=1", "'=1", "x\x00", "'x\\0", "x\\0"]
    cells = [score_cmd.inert(u) for u in ids]
    assert len(set(cells)) == len(ids)
    out = io.StringIO()
    csv.writer(out).writerows([[c] for c in cells])
    assert "\x00" not in out.getvalue()
    assert [_read_cell(row[0]) for row in csv.reader(io.StringIO(out.getvalue()))] == ids
