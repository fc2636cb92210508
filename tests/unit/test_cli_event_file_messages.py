"""What the CLI says of an event file it cannot read as events: a header of names no alias knows, UTF-16 without its
byte-order mark, an empty JSON document, a column named twice, the rows a stray quote swallowed."""

from __future__ import annotations

import json

import pytest

from clickguard.cli.main import main
from tests.cli_support import cli_fails
from tests.factories import ordinary_events

ROWS = "u1,view,2019-01-01T00:00:00Z\nu1,search,2019-01-01T00:00:01Z\n"


@pytest.mark.parametrize("header", ["ユーザーID,イベント,時刻", "Üser ID,Event Type,Timestamp"])
def test_a_header_of_names_no_alias_knows_is_listed_not_called_a_row_of_data(tmp_path, capsys, header):
    path = tmp_path / "e.csv"
    path.write_text(header + "\n" + ROWS, encoding="utf-8")
    names = ", ".join(header.split(","))
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], "--field-mapping", names, absent=["row of data"])


def test_utf16_without_its_byte_order_mark_is_said_to_be(tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_bytes(("user_id,event_type,timestamp\n" + ROWS).encode("utf-16-le"))
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], "UTF-16", absent=["row of data"])


@pytest.mark.parametrize("body", ["[]", " [] \n", "[][]", "[\n]\n"])
def test_an_empty_json_array_is_called_one_not_a_header_row(tmp_path, capsys, body):
    path = tmp_path / "e.json"
    path.write_text(body)
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], "an empty array", absent=["header"])


def test_a_header_row_alone_is_still_called_one(tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text("user_id,event_type,timestamp\n")
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], "only a header row")


def test_a_column_named_twice_is_an_error_naming_it(tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text("user_id,user_id,event_type,timestamp\nA,B,view,2019-01-01T00:00:00Z\n")
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], "'user_id' twice", absent=["not CSV"])


def test_a_stray_quote_is_named_by_its_line_and_its_lines_counted_rejected(tmp_path, capsys):
    events = ordinary_events(60, seed=5)
    rows = [f"{e['user_id']},{e['event_type']},{e['timestamp']}\n" for e in events]
    rows[len(rows) - 10] = rows[len(rows) - 10].replace(",", ',"', 1)  # line len(rows) - 8, counting the header
    path = tmp_path / "e.csv"
    path.write_text("user_id,event_type,timestamp\n" + "".join(rows))
    models = tmp_path / "m"
    assert main(["train", "-i", str(path), "-o", str(models), "--min-sessions", "5", "--min-token-count", "1"]) == 0
    out = capsys.readouterr()
    assert f"line {len(rows) - 8}: a quoted cell runs over whole rows" in out.err
    summary = json.loads(out.out)
    assert summary["events"] == len(rows) - 10 and summary["rejected"] == {"not_json": 10}  # none lost unsaid
    assert summary["rejected_first"]["not_json"].startswith(f"line {len(rows) - 8}: ")
