"""POST /score bodies: every refusal has its own reason, checked in order; what is accepted is the consumer's event."""

from __future__ import annotations

import base64
import json

import pytest

from clickguard.api.errors import ApiError, Reason
from clickguard.api.request import MAX_BODY_BYTES, MAX_EVENTS, ScoreRequest, body_bytes, parse_request
from clickguard.events import UserKeySource, parse_object

EVENT = {"user_id": "u1", "event_type": "login", "outcome": "fail", "timestamp": "2026-11-20T10:00:00Z"}


def refused(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_request(raw)
    assert info.value.status == 400
    return info.value


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_a_user_key_alone_is_a_request_without_events():
    assert parse_request(body(user_key="u1")) == ScoreRequest("u1", ())
    assert parse_request(body(user_key="u1", events=None)) == ScoreRequest("u1", ())
    assert parse_request(body(user_key="u1", events=[])) == ScoreRequest("u1", ())


def test_events_are_the_consumers_events_in_the_order_sent():
    second = {**EVENT, "event_type": "view_item", "outcome": "success", "event_id": "e-2"}
    got = parse_request(body(user_key="u1", events=[EVENT, second]))
    assert got.events == (parse_object(EVENT), parse_object(second))
    assert [e.token for e in got.events] == ["login#fail", "view_item"]


def test_the_user_key_follows_the_event_schemas_rule():
    """Trimmed as the decoder trims an event's key, so the request's key and its events' keys compare equal."""
    assert parse_request(body(user_key=" u1 ", events=[{**EVENT, "user_id": "u1 "}])).user_key == "u1"


def test_the_nested_envelope_is_accepted_with_the_configured_key_source():
    envelope = {
        "timestamp": "2026-11-20T10:00:00Z",
        "data": {
            "session": {"user_id": 24997128, "session_id": "s1"},
            "event": {"event_type": "1", "event_name": "1", "event_created": "2026-11-20T10:00:00Z"},
            "device": {"access_token_id": "tok-9", "imei": "356938035643809"},
        },
    }
    assert parse_request(body(user_key="24997128", events=[envelope])).events[0].user_key == "24997128"
    by_token = parse_request(body(user_key="tok-9", events=[envelope]), UserKeySource.DEVICE_TOKEN)
    assert by_token.events[0].session_id == "s1"


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (b"", Reason.EMPTY_BODY, "empty"),
        (b"  \n", Reason.EMPTY_BODY, "empty"),
        (b"\xff\xfe{}", Reason.NOT_UTF8, "byte 0"),
        (b"{nope", Reason.BAD_JSON, "not_json"),
        (b'{"user_key": NaN}', Reason.BAD_JSON, "bad_number"),
        (b"[" * 100 + b"]" * 100, Reason.BAD_JSON, "too_deep"),
        (b'["u1"]', Reason.NOT_OBJECT, "list"),
        (b'"u1"', Reason.NOT_OBJECT, "str"),
        (b'{"user_key": "u1", "user_id": "u1"}', Reason.UNKNOWN_FIELD, "'user_id'"),
        (b'{"events": []}', Reason.MISSING_USER_KEY, "required"),
        (b'{"user_key": null}', Reason.MISSING_USER_KEY, "required"),
        (b'{"user_key": 42}', Reason.BAD_USER_KEY, "int"),
        (b'{"user_key": ["u1"]}', Reason.BAD_USER_KEY, "list"),
        (b'{"user_key": "  "}', Reason.BAD_USER_KEY, "empty_user_key"),
        (json.dumps({"user_key": "u" * 257}).encode(), Reason.BAD_USER_KEY, "user_key_too_long"),
        (b'{"user_key": "\\ud800"}', Reason.BAD_USER_KEY, "bad_unicode"),
        (b'{"user_key": "u1", "events": {"user_id": "u1"}}', Reason.BAD_EVENTS, "dict"),
        (b'{"user_key": "u1", "events": "login"}', Reason.BAD_EVENTS, "str"),
    ],
)
def test_each_malformed_body_is_refused_with_its_reason(raw, reason, words):
    error = refused(raw)
    assert error.reason is reason
    assert words in error.message


@pytest.mark.parametrize(
    ("event", "decoder_reason"),
    [
        ({"user_id": "u1", "timestamp": "2026-11-20T10:00:00Z"}, "missing_event_type"),
        ({"user_id": "u1", "event_type": "login"}, "missing_timestamp"),
        ({**EVENT, "timestamp": "yesterday"}, "bad_timestamp"),
        ({**EVENT, "outcome": "maybe"}, "unknown_outcome"),
        ({**EVENT, "session_id": {"nested": 1}}, "bad_type"),
        ("login", "not_object"),
    ],
)
def test_an_event_the_consumer_would_reject_is_refused_with_the_decoders_reason_and_its_index(event, decoder_reason):
    error = refused(body(user_key="u1", events=[EVENT, event]))
    assert error.reason is Reason.BAD_EVENT
    assert error.message.startswith(f"events[1]: {decoder_reason}")


def test_an_event_of_another_user_is_refused():
    error = refused(body(user_key="u1", events=[EVENT, {**EVENT, "user_id": "u2"}]))
    assert error.reason is Reason.USER_KEY_MISMATCH and "events[1]" in error.message


def test_more_events_than_the_limit_are_refused_before_any_is_decoded():
    ok = parse_request(body(user_key="u1", events=[EVENT] * MAX_EVENTS))
    assert len(ok.events) == MAX_EVENTS
    error = refused(body(user_key="u1", events=[{"not": "an event"}] * (MAX_EVENTS + 1)))
    assert error.reason is Reason.TOO_MANY_EVENTS and str(MAX_EVENTS) in error.message


def test_a_body_past_the_size_limit_is_refused_by_its_size():
    big = json.dumps({"user_key": "u1", "events": [{**EVENT, "attributes": {"pad": "x" * MAX_BODY_BYTES}}]})
    for text, is_base64 in ((big, False), (base64.b64encode(big.encode()).decode(), True)):
        with pytest.raises(ApiError) as info:
            body_bytes(text, is_base64)
        assert info.value.reason is Reason.BODY_TOO_LARGE
    with pytest.raises(ApiError) as info:
        parse_request(big.encode())
    assert info.value.reason is Reason.BODY_TOO_LARGE


def test_a_body_at_the_size_limit_passes_the_size_check():
    raw = body(user_key="u1", events=[])
    padded = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    assert body_bytes(padded.decode(), False) == padded
    assert body_bytes(base64.b64encode(padded).decode(), True) == padded
    assert parse_request(padded).user_key == "u1"


def test_a_base64_body_is_decoded_and_a_broken_one_refused():
    raw = body(user_key="u1")
    assert body_bytes(base64.b64encode(raw).decode(), True) == raw
    with pytest.raises(ApiError) as info:
        body_bytes("not base64!", True)
    assert info.value.reason is Reason.BAD_BASE64
    assert body_bytes(None, False) == b""
