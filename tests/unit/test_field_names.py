"""Where a flat event keeps its fields under names of its own (``clickguard.field_names``): the loose spellings of
the names, the names read by their words, and the rule that a record read before reads the same."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clickguard.decoding import DecodeConfig, Decoder
from clickguard.events import Event, parse_record
from clickguard.field_names import ALIASES, loose, named, words
from clickguard.files import event_lines
from clickguard.rejections import Reason, RejectedRecord
from clickguard.training.dataset import EventColumns

T = 1728554400000  # 2024-10-10T10:00:00Z
ISO = "2024-10-10T10:00:00Z"
EXPECTED = Event("u1", "view", T)


def parse(record: dict) -> Event:
    fast, reference = (Decoder(DecodeConfig(fast_json=f)).decode(json.dumps(record).encode()) for f in (True, False))
    assert fast == reference  # msgspec's path and the standard library's read every shape alike
    assert isinstance(fast, Event)
    return fast


@pytest.mark.parametrize(
    ("user", "action", "time"),
    [
        ("UserID", "EventType", "Timestamp"),  # .NET and Java's property names
        ("USER_ID", "EVENT_TYPE", "TIMESTAMP"),  # SQL exports
        ("User ID", "Event Type", "Timestamp"),  # spreadsheet headers
        ("user-id", "event-type", "time-stamp"),
        ("Customer ID", "Event Name", "Event Time"),
    ],
)
def test_the_names_in_another_spelling_are_the_names(user, action, time):
    assert parse({user: "u1", action: "view", time: ISO}) == EXPECTED


@pytest.mark.parametrize(
    "record",
    [
        {"userid": "u1", "eventtimestamp": T, "event_type": "view", "devicetype": "mobile"},
        {"userId": "u1", "eventName": "view", "clientTimestamp": T},
        {"customer": "u1", "action": "view", "clicked_at": ISO},
        {"playerId": "u1", "interaction_type": "view", "event_ts": T},
        {"visitor": "u1", "eventtype": "view", "viewtime": T},
        {"shopper_ref": "u1", "event_kind": "view", "when_time": ISO},
        {"user": {"id": "u1", "email": "jane@example.com"}, "event": "view", "ts": T},  # a nested user record
        {"user_id": "u1", "type": "view", "time": ISO},  # a bare type, when nothing else names the action
    ],
)
def test_names_whose_words_say_what_they_hold_are_read(record):
    got = parse(record)
    assert got == EXPECTED and "jane" not in repr(got)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"user_agent": "Mozilla/5.0", "event": "view", "time": ISO}, Reason.MISSING_USER_KEY),
        ({"user_email": "jane@example.com", "event": "view", "time": ISO}, Reason.MISSING_USER_KEY),
        ({"referrer_user_id": "u9", "event": "view", "time": ISO}, Reason.MISSING_USER_KEY),
        ({"is_user": 1, "event": "view", "time": ISO}, Reason.MISSING_USER_KEY),
        ({"user_id": "u1", "event_id": "e-1", "time": ISO}, Reason.MISSING_EVENT_TYPE),
        ({"user_id": "u1", "referrer_url": "/x", "time": ISO}, Reason.MISSING_EVENT_TYPE),
        ({"user_id": "u1", "event": "view", "session_start_time": ISO}, Reason.MISSING_TIMESTAMP),
        ({"user_id": "u1", "event": "view", "expires_at": ISO, "response_time": 1.5}, Reason.MISSING_TIMESTAMP),
        ({"user_id": "u1", "event": "view", "load_time": T}, Reason.MISSING_TIMESTAMP),
    ],
)
def test_names_whose_words_say_they_hold_something_else_are_not(record, reason):
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps(record))
    assert exc.value.reason is reason


def test_a_time_under_a_name_that_holds_no_time_is_passed_over_for_the_next():
    """A generator's ``time`` of "1" (a counter) beside ``_time`` in epoch milliseconds: the first that reads as a
    time is the time; when none does, the first one's verdict stands."""
    assert parse({"userid": 3, "time": "1", "_time": T, "request": "GET /view HTTP/1.1"}).ts_ms == T
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps({"userid": 3, "time": "1", "clicked_at": "soon", "event": "view"}))
    assert exc.value.reason is Reason.BAD_TIMESTAMP and "'1' is outside 1990-2100" in str(exc.value)  # the first's


def test_an_outcome_under_another_spelling_is_read_as_its_alias_is():
    assert parse({"User": "u1", "Action": "login", "Time": ISO, "STATUS": "failed"}).token == "login#fail"
    assert parse({"User": "u1", "Action": "login", "Time": ISO, "Status": "active"}).token == "login"
    assert parse({"User": "u1", "Action": "login", "Time": ISO, "Success": False}).token == "login#fail"


def test_the_canonical_names_value_is_taken_as_it_is():
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps({"user_id": {"id": "u1"}, "event": "view", "time": ISO}))
    assert exc.value.reason is Reason.BAD_TYPE


def test_a_generic_record_with_a_user_id_and_a_type_of_its_own_is_no_segment_message():
    assert parse({"userId": "u1", "type": "pageview", "url": "/view", "timestamp": T}).token == "/view"
    with pytest.raises(RejectedRecord) as exc:  # a Segment message's own types keep Segment's rules
        parse_record(json.dumps({"userId": "u1", "type": "track", "timestamp": T}))
    assert exc.value.reason is Reason.MISSING_EVENT_TYPE


def test_an_aws_event_s_account_is_no_user():
    """EventBridge's envelope carries the AWS ``account``: read as a user, every event would be the account's."""
    envelope = {"detail-type": "view", "account": "111122223333", "time": ISO, "id": "e-1", "detail": {"user": "u1"}}
    got = parse(envelope)
    assert (got.user_key, got.token) == ("u1", "view")


def test_a_csv_with_a_spreadsheet_s_header_trains_as_its_canonical_twin(tmp_path):
    rows = [("u1", "view", "2024-10-10T10:00:00Z"), ("u1", "buy", "2024-10-10T10:00:05Z"), ("u2", "view", ISO)]
    csv_text = "User ID,Event Type,Event Time\n" + "".join(",".join(r) + "\n" for r in rows)
    twin = "".join(json.dumps(dict(zip(("user_id", "event_type", "timestamp"), r, strict=True))) + "\n" for r in rows)
    got, want = EventColumns(), EventColumns()
    got.add_lines(event_lines(io.BytesIO(csv_text.encode()), tmp_path / "export.csv"))
    want.add_lines(twin.encode().splitlines())
    assert (got.users, got.tokens, got.ts_ms) == (want.users, want.tokens, want.ts_ms) and len(got) == 3


def test_words_split_every_convention_alike():
    assert {words(n) for n in ("eventTimestamp", "event_timestamp", "EVENT TIMESTAMP", "Event-Timestamp")} == {
        ("event", "timestamp")
    }
    assert words("userID") == ("user", "id") and words("HTTPStatus") == ("http", "status")
    assert loose("User ID") == loose("user_id") == loose("USER-ID") == "userid"


_NOISE = st.sampled_from(
    ["customer_ref", "playerId", "interaction_type", "page_title", "click_time", "eventTimestamp", "viewed_at",
     "User ID", "EVENT_TYPE", "Time Stamp", "type", "customer"]
)  # fmt: skip


@given(
    user=st.sampled_from(("user_id", *ALIASES["user_id"])),
    action=st.sampled_from(("event_type", *ALIASES["event_type"][:7])),
    time=st.sampled_from(("timestamp", *ALIASES["timestamp"])),
    noise=st.dictionaries(_NOISE, st.one_of(st.text(max_size=8), st.integers(), st.just(ISO)), max_size=4),
)
def test_a_record_whose_fields_are_named_as_before_reads_as_before(user, action, time, noise):
    """Rounds 2 and 3 read only what round 1 does not find: extra fields under other names, before or after the
    named ones, change nothing."""
    named_fields = {user: "u1", action: "view", time: T}
    if len({user, action, time}) < 3:
        return
    for record in ({**noise, **named_fields}, {**named_fields, **noise}):
        for field, key in (("user_id", user), ("event_type", action), ("timestamp", time)):
            assert named(record, field) == record[key]


@pytest.mark.parametrize(
    "record",
    [
        {"user": "u1", "event": "view", "date": "2024-10-10", "time": "10:00:00"},
        {"User": "u1", "Action": "view", "Event Date": "2024-10-10", "Event Time": "10:00"},
        {"user_id": "u1", "event_type": "view", "event_date": "10.10.2024", "event_time": "10:00:00.000"},
    ],
)
def test_a_date_and_a_time_of_day_in_two_fields_are_one_time(record):
    assert parse(record) == EXPECTED


def test_a_time_of_day_without_a_date_is_a_bad_timestamp():
    for record in ({"user": "u1", "event": "view", "time": "10:00:00"},
                   {"user": "u1", "event": "view", "time": "10:00:00", "birth_date": "1990-01-01"}):  # fmt: skip
        with pytest.raises(RejectedRecord) as exc:
            parse_record(json.dumps(record))
        assert exc.value.reason is Reason.BAD_TIMESTAMP
