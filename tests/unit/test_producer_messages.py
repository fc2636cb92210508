"""Segment and RudderStack messages, built by the producers' own Python clients (``send=False`` returns the message
they would post), decode to events; identify and other non-actions are rejected with their own reason."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from clickguard.consumer.batch import Deps, process_batch
from clickguard.events import parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.training.dataset import EventColumns
from tests.consumer_support import FakeFlags, FakeModel, FakeRejected, FakeSessions, config, make_model, to_records


def _client(name: str):
    if name == "segment":
        from segment.analytics import Client

        return Client(write_key="test", send=False)
    from rudderstack.analytics import Client

    return Client(write_key="test", host="http://127.0.0.1:9", send=False)


def _bytes(msg: dict) -> bytes:
    return json.dumps(msg, default=str).encode()


PERSONAL = {"ip": "10.9.8.7", "userAgent": "Mozilla/5.0 (X11)", "device": {"id": "imei-356938035643809"}}


@pytest.fixture(params=["segment", "rudderstack"])
def client(request):
    return _client(request.param)


def test_track_page_and_screen_become_events(client):
    _, track = client.track(
        user_id="u1", event="Order Completed", properties={"revenue": 9}, context={**PERSONAL, "sessionId": 42}
    )
    event = parse_record(_bytes(track))
    assert (event.user_key, event.token, event.session_id, event.event_id) == (
        "u1",
        "Order Completed",
        "42",
        track["messageId"],
    )
    sent = datetime.fromisoformat(json.loads(_bytes(track))["timestamp"])
    assert event.ts_ms == int(sent.timestamp() * 1000)
    _, page = client.page(user_id="u1", name="Checkout", properties={"url": "https://x/y"})
    assert parse_record(_bytes(page)).token == "Checkout"
    _, unnamed = client.page(anonymous_id="anon-7")
    assert (parse_record(_bytes(unnamed)).user_key, parse_record(_bytes(unnamed)).token) == ("anon-7", "page")
    # analytics.js's default page() names none: the page is its path, read as a URL is (query and ids out)
    _, by_path = client.page(
        anonymous_id="anon-7", properties={"path": "/order/123", "url": "https://x/order/123?e=a@b.c"}
    )
    assert parse_record(_bytes(by_path)).token == "/order/*"
    _, by_context = client.page(anonymous_id="anon-7", context={"page": {"path": "/u/a@b.c/cart", "url": "https://x"}})
    assert parse_record(_bytes(by_context)).token == "/u/*/cart"
    _, screen = client.screen(user_id="u2", name="Settings")
    assert parse_record(_bytes(screen)).token == "Settings"
    kept = repr([parse_record(_bytes(m)) for m in (track, page, unnamed, screen)])
    assert "10.9.8.7" not in kept and "Mozilla" not in kept and "356938035643809" not in kept


def test_identify_is_counted_as_no_action(client):
    _, msg = client.identify(user_id="u1", traits={"email": "a@b.c"})
    with pytest.raises(RejectedRecord) as exc:
        parse_record(_bytes(msg))
    assert exc.value.reason is Reason.IGNORED_MESSAGE_TYPE and "a@b.c" not in str(exc.value)


def test_a_re_sent_message_is_dropped_by_its_message_id(client):
    msgs = [client.track(user_id="u1", event=f"step {k}")[1] for k in range(6)]
    payloads = [_bytes(m) for m in [*msgs, msgs[2]]]  # the producer retried one message
    recs = [r._replace(arrival_ms=parse_record(r.data).ts_ms + 500) for r in to_records(payloads)]
    deps = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()))
    out = process_batch(recs, deps, config())
    assert out.failures == [] and out.duplicate_ids == 1 and out.applied == 6


def test_the_trainer_reads_the_same_messages():
    client = _client("segment")
    msgs = [client.track(user_id=f"u{k % 3}", event="view")[1] for k in range(9)]
    msgs.append(client.identify(user_id="u1")[1])
    cols = EventColumns()
    cols.add_lines(_bytes(m) for m in msgs)
    assert len(cols) == 9 and cols.rejected == {"ignored_message_type": 1}
    assert set(cols.users) == {"u0", "u1", "u2"} and set(cols.tokens) == {"view"}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"userId": "u", "type": {}}, Reason.BAD_TYPE),
        ({"userId": "u", "type": ["track"]}, Reason.BAD_TYPE),
        ({"userId": "u", "type": "track", "timestamp": "2025-11-21T00:00:00Z"}, Reason.MISSING_EVENT_TYPE),
        (
            {"userId": {"ip": "10.9.8.7"}, "type": "track", "event": "x", "timestamp": "2025-11-21T00:00:00Z"},
            Reason.BAD_TYPE,
        ),
        ({"anonymousId": "a", "type": "track", "event": "x"}, Reason.MISSING_TIMESTAMP),
    ],
)
def test_malformed_messages_are_rejected_with_their_reason(message, reason):
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps(message).encode())
    assert exc.value.reason is reason and "10.9.8.7" not in str(exc.value)


def test_a_batch_as_the_http_api_takes_it_is_each_of_its_messages(client):
    """The clients post ``{"batch": [...], "sentAt": ...}``; a proxy that forwards the request body whole puts that
    on the stream: each message is its own event, an identify among them counted alone."""
    from clickguard.decoding import Decoder

    msgs = [client.track(user_id="u1", event=f"step {k}", context=PERSONAL)[1] for k in range(3)]
    msgs.insert(1, client.identify(user_id="u1", traits={"email": "a@b.c"})[1])
    body = _bytes({"batch": msgs, "sentAt": msgs[-1]["timestamp"]})
    items = Decoder().items(body)
    got = [i.result.token if not isinstance(i.result, RejectedRecord) else i.result.reason for i in items]
    assert got == ["step 0", Reason.IGNORED_MESSAGE_TYPE, "step 1", "step 2"]
    assert "10.9.8.7" not in repr([i.result for i in items])
    with pytest.raises(RejectedRecord) as exc:  # a "batch" that holds no messages is no batch
        Decoder().decode(_bytes({"batch": "none", "sentAt": 1}))
    assert exc.value.reason is Reason.MISSING_USER_KEY
