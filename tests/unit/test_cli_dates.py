"""A file's dates written with slashes (``cli.common.read_events``): a date of two numbers up to 12 (``5/11/2026``)
reads in the order the file's other dates tell (``21/11/2026``: day first), as a person reading the file would; a
file whose dates tell both orders keeps those refused as ambiguous."""

from __future__ import annotations

import contextlib
import os
import threading

import pytest

from clickguard.cli.common import CliError, read_events
from clickguard.cli.main import main
from clickguard.events import UserKeySource
from clickguard.timestamps import DateOrder, format_ms, parse_timestamp


def write(tmp_path, days, month="11"):
    rows = ["user_id,event_type,timestamp"]
    for i, day in enumerate(days):
        rows += [f"u{i},view,{day}/{month}/2026 03:1{k}:07" for k in range(3)]
    path = tmp_path / "events.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_ambiguous_dates_of_a_file_read_in_the_order_its_other_dates_tell(tmp_path, capsys):
    cols = read_events("--input", [write(tmp_path, ["21", "05", "12"])], UserKeySource.SESSION_USER_ID)
    assert not cols.rejected and len(cols) == 9
    assert min(cols.ts_ms) == parse_timestamp("2026-11-05T03:10:07Z")
    assert "its dates are read day first, as 3 of them tell" in capsys.readouterr().err


def test_month_first_is_told_as_well(tmp_path):
    rows = "user_id,event_type,timestamp\nu1,view,11/21/2026 3:10 PM\nu1,view,11/05/2026 3:11 PM\n"
    (path := tmp_path / "us.csv").write_text(rows)
    cols = read_events("--input", [path], UserKeySource.SESSION_USER_ID)
    assert sorted(cols.ts_ms) == [parse_timestamp("2026-11-05T15:11:00Z"), parse_timestamp("2026-11-21T15:10:00Z")]


@pytest.mark.parametrize("days", [["05", "12"], ["21"]])
def test_with_no_order_told_or_none_needed_nothing_is_read_twice(tmp_path, capsys, days):
    path = write(tmp_path, days)
    if days == ["21"]:
        assert len(read_events("--input", [path], UserKeySource.SESSION_USER_ID)) == 3
        assert "dates are read" not in capsys.readouterr().err
    else:
        with pytest.raises(CliError, match="ambiguous date '05/11/2026 03:10:07'"):
            read_events("--input", [path], UserKeySource.SESSION_USER_ID)


def test_a_file_of_both_orders_keeps_its_ambiguous_dates_refused(tmp_path):
    rows = "user_id,event_type,timestamp\nu1,view,21/11/2026\nu1,view,11/22/2026\nu1,view,05/06/2026\n"
    (path := tmp_path / "both.csv").write_text(rows)
    cols = read_events("--input", [path], UserKeySource.SESSION_USER_ID)
    assert len(cols) == 2 and cols.rejected["bad_timestamp"] == 1


def test_a_file_that_tells_no_order_reads_in_the_one_the_other_files_tell(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    told, untold = write(tmp_path / "a", ["21", "22"]), write(tmp_path, ["05", "06"])
    cols = read_events("--events", [told, untold], UserKeySource.SESSION_USER_ID)
    assert not cols.rejected and len(cols) == 12
    assert "its dates are read day first, as the other files' dates tell" in capsys.readouterr().err


@pytest.mark.parametrize(("order", "iso"), [("day_first", "2026-11-05"), ("month_first", "2026-05-11")])
def test_the_date_order_option_reads_a_file_no_date_of_which_tells(tmp_path, capsys, order, iso):
    path = write(tmp_path, ["05", "06"])
    cols = read_events("--input", [path], UserKeySource.SESSION_USER_ID, order=DateOrder(order))
    assert format_ms(min(cols.ts_ms))[:10] == iso and not cols.rejected
    with pytest.raises(SystemExit):
        main(["train", "-i", str(path), "-o", str(tmp_path / "m"), "--date-order", "sideways"])
    assert "--date-order" in capsys.readouterr().err


def test_a_pipe_is_read_once_and_told_how_to_read_its_ambiguous_dates(tmp_path, capsys):
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    body = "user_id,event_type,timestamp\nu1,view,21/11/2026 03:10:07\nu1,view,05/11/2026 03:10:07\n"
    writer = threading.Thread(target=fifo.write_text, args=(body,))
    writer.start()
    unblock = threading.Timer(3.0, _end_of_file, args=(fifo,))  # a second read would wait for a writer forever
    unblock.start()
    cols = read_events("--input", [fifo], UserKeySource.SESSION_USER_ID)
    unblock.cancel()
    writer.join()
    assert len(cols) == 1 and cols.rejected["bad_timestamp"] == 1  # not the file's every event lost to a re-read
    assert "--date-order day_first reads them" in capsys.readouterr().err


def _end_of_file(fifo):
    with contextlib.suppress(OSError):  # nobody reading: nothing to end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a reader waiting on the pipe reads its end
