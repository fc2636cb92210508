"""An event that names no user but a session is that session's visitor's (``events.visitor_of_session``), on every
decoding path; one that names neither is still ``missing_user_key``."""

from __future__ import annotations

import json

import pytest

from clickguard.decoding import DecodeConfig, Decoder, jsonfast
from clickguard.events import NO_SESSION, VISITOR_PREFIX, Event, parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.training.dataset import EventColumns
from tests.factories import file_columns

# eventsim's (and Sparkify's) logged-out page view: an empty userId, a numeric sessionId.
GUEST = {"ts": 1538352117000, "userId": "", "sessionId": 29, "page": "Home", "auth": "Logged Out", "status": 200}
SIGNED_IN = {**GUEST, "userId": "29", "auth": "Logged In"}


def verdict(data: bytes) -> Event | str:
    try:
        return parse_record(data)
    except RejectedRecord as exc:
        return exc.reason.value


def test_a_guest_s_event_is_its_session_s_visitor_apart_from_the_user_of_the_same_number():
    guest, user = parse_record(json.dumps(GUEST)), parse_record(json.dumps(SIGNED_IN))
    assert (guest.user_key, guest.session_id, guest.token) == (VISITOR_PREFIX + "29", "29", "Home")
    assert user.user_key == "29"


@pytest.mark.parametrize(
    "record",
    [
        {k: v for k, v in GUEST.items() if k != "sessionId"},  # no session either
        {**GUEST, "sessionId": NO_SESSION},  # Amplitude's "no session"
        {**GUEST, "sessionId": "NA"},
        {**GUEST, "sessionId": "  "},
        {k: v for k, v in GUEST.items() if k != "page"},  # no action: not an event, maybe a wrapper of events
        {k: v for k, v in GUEST.items() if k != "ts"},
    ],
)
def test_no_session_or_not_an_event_is_still_missing_user_key(record):
    assert verdict(json.dumps(record).encode()) == Reason.MISSING_USER_KEY.value


def test_a_canonical_record_with_an_empty_user_id_is_its_session_s_visitor():
    record = {"user_id": "", "event_type": "view", "timestamp": 1_546_387_276_000, "session_id": "s-9"}
    assert parse_record(json.dumps(record)).user_key == "session:s-9"


def test_every_decoding_path_gives_the_visitor():
    lines = [json.dumps(GUEST).encode(), json.dumps(SIGNED_IN).encode()]
    expected = [parse_record(line) for line in lines]
    assert [jsonfast.parse_json(line) for line in lines] == expected
    assert [e or jsonfast.parse_json(d) for e, d in zip(jsonfast.parse_many(lines), lines, strict=True)] == expected
    assert [Decoder(DecodeConfig()).decode(line) for line in lines] == expected  # the consumer's
    archive = EventColumns()
    archive.add_object(b"\n".join(lines) + b"\n")  # the trainer's
    assert archive.users == ["session:29", "29"] and not archive.rejected


def test_a_csv_of_sessions_without_users_is_one_visitor_per_session(tmp_path):
    """A click log that names sessions and no users (YooChoose's, with a header row): each session its visitor."""
    cols = file_columns(
        tmp_path / "clicks.csv",
        "session_id,timestamp,event_type,category\n"
        "1,2014-04-07T10:51:09.277Z,item-214536502,0\n1,2014-04-07T10:54:09.868Z,item-214536500,0\n"
        "2,2014-04-07T13:56:37.614Z,item-214662742,0\n",
    )
    assert cols.users == ["session:1", "session:1", "session:2"] and not cols.rejected


def test_a_session_document_that_names_no_user_is_its_visitor_s_events(tmp_path):
    """OTTO's sessions (``{"session": ..., "events": [{"aid", "ts", "type"}]}``): each event its session's visitor's,
    on the stream and in a file."""
    doc = {"session": 577, "events": [{"aid": 59625, "ts": 1538352001422, "type": "clicks"},
                                      {"aid": 59784, "ts": 1538352166379, "type": "carts"}]}  # fmt: skip
    items = Decoder(DecodeConfig()).items(json.dumps(doc).encode())
    events = [item.result for item in items]
    assert [(e.user_key, e.token, e.ts_ms, e.session_id) for e in events] == [
        ("session:577", "clicks", 1538352001422, "577"),
        ("session:577", "carts", 1538352166379, "577"),
    ]
    cols = file_columns(tmp_path / "train.jsonl", json.dumps(doc) + "\n")
    assert cols.users == ["session:577"] * 2 and cols.tokens == ["clicks", "carts"]
    # a wrapper that names neither (an HTTP API's batch) is still each of its events'
    batch = Decoder(DecodeConfig()).items(json.dumps({"batch": doc["events"], "sentAt": "x"}).encode())
    assert [item.result.reason.value for item in batch] == ["missing_user_key"] * 2


def test_a_field_mapping_s_session_keys_an_event_that_names_no_user():
    from clickguard.decoding.mapping import FieldMapping

    mapping = FieldMapping.parse(json.dumps({"user_key": "who", "event_type": "what", "time": "when",
                                             "session_id": "visit.id"}))  # fmt: skip
    decoder = Decoder(DecodeConfig(mapping=mapping))
    guest = {"who": "NA", "what": "view", "when": 1538352117000, "visit": {"id": "v9"}}
    assert decoder.decode(json.dumps(guest).encode()).user_key == "session:v9"
    assert decoder.decode(json.dumps({**guest, "who": "u7"}).encode()).user_key == "u7"
    nobody = {k: v for k, v in guest.items() if k != "visit"}
    with pytest.raises(RejectedRecord) as exc:
        decoder.decode(json.dumps(nobody).encode())
    assert exc.value.reason is Reason.MISSING_USER_KEY
