"""Event files read line by line as the decoder takes them (``files.event_lines``): JSON documents holding a string
the encoder refuses, CSV rows after a stray quote, old Mac line ends, headers in other scripts, a column named twice."""

from __future__ import annotations

import io
import json

import pytest

from clickguard import files
from clickguard.files import event_lines, header_delimiter
from clickguard.rejections import Reason
from tests.factories import file_results

EVENT = {"user_id": "u1", "event_type": "view", "timestamp": 1763700000}
HEADER = "user_id,event_type,timestamp,outcome\n"


def _rows(n: int) -> list[str]:
    return [f"u{i % 7},view,{1763700000 + i},success\n" for i in range(n)]


# 1. A lone surrogate escape in a JSON document: that event rejected, as its NDJSON line is, the rest read


FORMS = {
    "array.json": lambda events: json.dumps(events, indent=2),
    "jq.json": lambda events: "".join(json.dumps(e, indent=2) + "\n" for e in events),
    "wrapped.json": lambda events: json.dumps({"events": events}),
}


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize(("field", "value"), [("note", "\ud800"), ("user_id", "\udc00"), ("page", "x\ud83d")])
def test_a_lone_surrogate_in_a_json_document_rejects_its_event_as_its_ndjson_line_does(name, field, value):
    events = [EVENT, {**EVENT, field: value}, EVENT]
    got = file_results(FORMS[name](events).encode(), name)
    assert len(got) == 3 and not isinstance(got[0], Reason) and not isinstance(got[2], Reason)
    assert got == file_results("\n".join(map(json.dumps, events)).encode(), "same.ndjson")
    assert (got[1] == Reason.BAD_UNICODE) == (field == "user_id")


# 2. A stray quote: its row named, the lines it swallowed rejected, every other row read


def _read(body: str, name: str = "e.csv") -> tuple[list[object], list[str]]:
    notes: list[str] = []
    got = []
    from clickguard.decoding import Decoder
    from clickguard.rejections import RejectedRecord

    for line in event_lines(io.BytesIO(body.encode()), name, notes=notes):
        [item] = Decoder().items(line)
        got.append(item.result.reason if isinstance(item.result, RejectedRecord) else item.result)
    return got, notes


def test_a_quote_left_open_to_the_end_rejects_its_row_and_the_lines_after_it_and_says_where():
    rows = _rows(20)
    rows[14] = 'u3,"view,1763700014,success\n'  # the file's line 16
    got, notes = _read(HEADER + "".join(rows))
    assert len(got) == 20  # each line counted: none lost
    assert got[14:] == [Reason.NOT_JSON] * 6 and not any(isinstance(r, Reason) for r in got[:14])
    assert len(notes) == 1 and "line 16" in notes[0] and "6 lines" in notes[0]


def test_a_quote_closed_by_another_stray_one_rows_later_rejects_the_rows_between_and_reads_the_rest():
    rows = _rows(20)
    rows[4] = 'u3,"view,1763700004,success\n'  # line 6
    rows[9] = 'u3,view",1763700009,success\n'  # line 11 closes it
    got, notes = _read(HEADER + "".join(rows))
    assert len(got) == 20
    assert got[4:10] == [Reason.NOT_JSON] * 6 and not any(isinstance(r, Reason) for r in got[:4] + got[10:])
    assert len(notes) == 1 and "line 6" in notes[0]


def test_a_stray_quote_past_the_csv_cell_limit_rejects_the_lines_it_took_and_reads_on():
    rows = _rows(6000)
    rows[400] = 'u3,"view,1763700400,success\n'  # line 402
    got, notes = _read(HEADER + "".join(rows))
    bad = [i for i, r in enumerate(got) if isinstance(r, Reason)]
    assert len(got) == 6000 and bad[0] == 400 and bad == list(range(400, 400 + len(bad)))
    assert 400 + len(bad) < 6000  # the rows after the limit are read
    assert len(notes) == 1 and "line 402" in notes[0]


def test_a_quoted_cell_over_two_lines_is_still_one_row():
    header = HEADER.replace("\n", ",note\n")
    got, notes = _read(header + 'u9,view,1763700000,success,"two\nlines"\n' + "".join(_rows(3)))
    assert len(got) == 4 and not any(isinstance(r, Reason) for r in got) and not notes
    assert got[0].user_key == "u9"


# 3. Line ends: LF, CRLF and an old Mac's lone CR read alike


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("name", ["e.csv", "e.txt"])
def test_a_csv_file_reads_alike_whatever_its_line_ends(end, name):
    body = (HEADER + "".join(_rows(5))).replace("\n", end)
    got = file_results(body.encode(), name)
    assert len(got) == 5 and not any(isinstance(r, Reason) for r in got)


# 4. A header of names in other scripts is a header


@pytest.mark.parametrize("first", ["ユーザーID,イベント,時刻\n", "Üser ID,Event Type,Timestamp\n"])
def test_a_header_of_names_in_other_scripts_is_a_header(first):
    assert header_delimiter(first.encode()) == ","


def test_a_row_of_data_is_still_no_header():
    assert header_delimiter("josé,view,2019-01-01T00:00:00Z\n".encode()) is None


# 8. A column named twice


def test_a_header_naming_a_column_twice_is_refused_naming_it():
    body = b"user_id,user_id,event_type,timestamp\nA,B,view,1763700000\n"
    with pytest.raises(files.BadHeader, match="'user_id'"):
        list(event_lines(io.BytesIO(body), "e.csv"))
