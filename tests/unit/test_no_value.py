"""A text that says "no value" (``field_names.NO_VALUE``: NA, null, undefined, MySQL's \\N, ...) is no value, in every
field and on every path: the reference, the typed fast path one record and a batch at a time, the archive's objects,
a field mapping's fallbacks and a CSV export's cells. Read as a value, it made every user without an id one user (a
tester's Diginetica export: one "user" NA of 3,820 events, flagged first, every bot merged into it)."""

from __future__ import annotations

import json

import pytest

from clickguard.decoding import DecodeConfig, Decoder, jsonfast
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import Event, parse_record
from clickguard.field_names import NO_VALUE
from clickguard.rejections import RejectedRecord
from clickguard.training.dataset import EventColumns
from tests.factories import file_columns

BASE = {"user_id": "u1", "event_type": "view", "timestamp": 1_546_387_276_000, "session_id": "s1", "event_id": "e1"}
ALIAS = {
    "user_id": "userId",
    "event_type": "action",
    "timestamp": "time",
    "session_id": "sessionId",
    "event_id": "eventId",
}
ALIAS_VALUE = {
    "user_id": "u9",
    "event_type": "click",
    "timestamp": 1_546_387_300_000,
    "session_id": "s9",
    "event_id": "e9",
}
MARKERS = sorted(NO_VALUE)


def verdict(fn, data: bytes) -> Event | str:
    try:
        return fn(data)
    except RejectedRecord as exc:
        return exc.reason.value


def cases():
    for field in BASE:
        for marker in MARKERS:
            yield pytest.param({**BASE, field: marker}, id=f"{field}={marker!r}")
            yield pytest.param(
                {**BASE, field: marker, ALIAS[field]: ALIAS_VALUE[field]}, id=f"{field}={marker!r}+alias"
            )


@pytest.mark.parametrize("record", list(cases()))
def test_every_path_reads_a_no_value_text_as_the_reference_does(record):
    data = json.dumps(record).encode()
    expected = verdict(parse_record, data)
    assert verdict(jsonfast.parse_json, data) == expected
    batch = jsonfast.parse_many([data, json.dumps(BASE).encode()])
    assert batch[0] in (expected, None)  # None: decoded alone, as the reference
    archive = EventColumns()
    archive.add_object(data + b"\n" + json.dumps(BASE).encode() + b"\n")
    first = (archive.users[0], archive.tokens[0]) if len(archive) == 2 else None
    assert first == ((expected.user_key, expected.token) if isinstance(expected, Event) else None)


@pytest.mark.parametrize("marker", MARKERS)
def test_a_no_value_text_is_absent_and_the_field_s_other_names_are_read(marker):
    no_session = {k: v for k, v in BASE.items() if k != "session_id"}
    assert verdict(parse_record, json.dumps({**no_session, "user_id": marker}).encode()) == "missing_user_key"
    assert parse_record(json.dumps({**BASE, "user_id": marker}).encode()).user_key == "session:s1"  # its visitor
    assert verdict(parse_record, json.dumps({**BASE, "event_type": marker}).encode()) == "missing_event_type"
    ev = parse_record(json.dumps({**BASE, "user_id": marker, "userId": "u9", "session_id": marker}).encode())
    assert (ev.user_key, ev.session_id) == ("u9", None)
    assert parse_record(json.dumps({**BASE, "event_id": marker, "outcome": marker}).encode()).event_id is None


def test_a_mapping_s_fallback_path_is_taken_past_an_na():
    mapping = FieldMapping.parse(
        json.dumps({"user_key": ["userId", "sessionId"], "event_type": "itemId", "time": "eventdate"})
    )
    decoder = Decoder(DecodeConfig(mapping=mapping))
    row = {"sessionId": "1", "userId": "NA", "itemId": "81766", "eventdate": "2016-05-09 10:00:00"}
    [item] = decoder.items(json.dumps(row).encode())
    assert item.result.user_key == "1"


def test_a_csv_export_s_na_cells_are_no_users_but_their_sessions_visitors(tmp_path):
    cols = file_columns(
        tmp_path / "views.csv",
        "sessionId;userId;event;timestamp\n1;NA;view;2016-05-09 10:00:00\n2;\\N;view;2016-05-09 10:00:05\n"
        "3;7;view;2016-05-09 10:00:09\n",
    )
    assert cols.users == ["session:1", "session:2", "7"] and not cols.rejected  # each anonymous session its visitor
