"""Times and ids a tester's public corpora (the Big List of Naughty Strings, ISO 8601 and mail-date test vectors)
found misread: date(1)'s time with a zone word the mail parser ignores, ISO 8601's decimal hour and minute, and
control characters in a user key or an action."""

from __future__ import annotations

import json

import pytest

from clickguard.events import parse_object
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import format_ms, parse_timestamp
from tests.factories import file_results


@pytest.mark.parametrize(
    ("text", "instant"),
    [("Thu Oct 10 20:55:36 UTC 2024", "2024-10-10T20:55:36.000Z"),
     ("Thu Oct 10 20:55:36 PDT 2024", "2024-10-11T03:55:36.000Z"),
     ("Thu Oct 10 20:55:36 2024", "2024-10-10T20:55:36.000Z"),  # asctime: no zone, UTC
     ("Thursday, 10-Oct-24 20:55:36 GMT", "2024-10-10T20:55:36.000Z"),
     ("Thu, 10 Oct 2024 20:55:36 +0200", "2024-10-10T18:55:36.000Z"),
     ("2024-10-10T12:30:00.5Z", "2024-10-10T12:30:00.500Z"),
     ("2024-10-10T12:00:00,25+02:00", "2024-10-10T10:00:00.250Z"),
     ("2024-10-10 00:00:00.250", "2024-10-10T00:00:00.250Z")],
)  # fmt: skip
def test_times_read_to_their_instant(text, instant):
    assert format_ms(parse_timestamp(text)) == instant


@pytest.mark.parametrize(
    "text",
    ["Thu Oct 10 20:55:36 CEST 2024", "Thu Oct 10 20:55:36 HST 2024", "Oct 10 20:55:36 XYZ 2024",  # read as UTC
     "2024-10-10T12:30.5Z", "2024-10-10T12.5Z", "2024-10-10T12:30,25", "20241010T1230.5Z", "2024-10-10 12.5"],
)  # fmt: skip
def test_a_zone_word_the_parser_ignores_and_a_decimal_hour_or_minute_are_refused_not_misread(text):
    with pytest.raises(RejectedRecord) as exc:
        parse_timestamp(text)
    assert exc.value.reason == Reason.BAD_TIMESTAMP


@pytest.mark.parametrize("user", ["test\x00", "\x00", "a\x1b[2Jb", "del\x7f", "c1\x9bq", "bell\x07"])
def test_a_user_key_with_a_control_character_is_rejected_saying_which(user):
    with pytest.raises(RejectedRecord) as exc:
        parse_object({"user_id": user, "event_type": "view", "timestamp": 1763700000})
    assert (
        exc.value.reason == Reason.CONTROL_CHARACTER
        and f"U+{ord(next(c for c in user if not c.isprintable())):04X}" in exc.value.detail
    )


@pytest.mark.parametrize("kind", ["vi\x07ew", "tab\tbed", "nul\x00"])
def test_an_action_with_a_control_character_is_rejected(kind):
    with pytest.raises(RejectedRecord) as exc:
        parse_object({"user_id": "u1", "event_type": kind, "timestamp": 1763700000})
    assert exc.value.reason == Reason.CONTROL_CHARACTER and "event_type" in exc.value.detail


@pytest.mark.parametrize("user", ["emoji\u200d\U0001f600", "no\u00a0break", "caf\u00e9", "\u0627\u062d\u0645\u062f"])
def test_printable_ids_that_isprintable_calls_otherwise_are_kept(user):
    assert parse_object({"user_id": user, "event_type": "view", "timestamp": 1763700000}).user_key == user


def test_a_csv_row_and_a_session_s_visitor_with_a_control_character_are_rejected_too():
    body = b"user_id,event_type,timestamp\nok,view,1763700000\nb\x1bad,view,1763700001\n"
    assert [r if isinstance(r, Reason) else r.user_key for r in file_results(body, "e.csv")] == [
        "ok", Reason.CONTROL_CHARACTER]  # fmt: skip
    line = json.dumps({"session_id": "s\x07", "event_type": "view", "timestamp": 1763700000}).encode() + b"\n"
    assert file_results(line, "e.ndjson") == [Reason.CONTROL_CHARACTER]


@pytest.mark.parametrize(
    ("kind", "action"),
    [("jane.doe@example.com", "*"), ("login jane@example.com", "login *"), ("mailto:jane@example.com", "*"),
     ("search?q=jane@example.com", "search"), ("/account/jane@example.com/edit", "/account/*/edit"),
     ("add to cart", "add to cart")],
)  # fmt: skip
def test_an_e_mail_in_an_action_never_reaches_the_model_s_vocabulary(kind, action):
    event = parse_object({"user_id": "u1", "event_type": kind, "timestamp": 1763700000})
    assert event.token == action
