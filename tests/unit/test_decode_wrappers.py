"""Records as some producers frame their JSON: a record or file that wraps a list of events (an HTTP API's upload
forwarded whole: each event its own; an event holding a list of objects of its own is one event,
``decoding.wrappers``), and text that starts with a UTF-8 byte-order mark."""

from __future__ import annotations

import json
from itertools import chain

import pytest

from clickguard.decoding import Decoder
from clickguard.decoding.wrappers import wrapped_events
from clickguard.rejections import Reason, RejectedRecord

# Amplitude's HTTP V2 API request body, as its documentation gives it: an API key and the events.
AMPLITUDE_UPLOAD = {
    "api_key": "a-secret-api-key",
    "events": [
        {"user_id": "203201202", "device_id": "C8F9E604-F01A-4BD9", "event_type": "watch_tutorial",
         "time": 1396381378123, "insert_id": "5f0adeff-6668-4427", "ip": "203.0.113.9"},
        {"user_id": "203201202", "event_type": "start_lesson", "time": 1396381379123,
         "insert_id": "5f0adeff-6668-4428"},
    ],
    "options": {"min_id_length": 5},
}  # fmt: skip


def _results(value: object) -> list[object]:
    items = Decoder().items(json.dumps(value).encode())
    return [i.result.reason if isinstance(i.result, RejectedRecord) else i.result for i in items]


def test_an_amplitude_upload_is_each_of_its_events_and_its_key_is_never_read():
    got = _results(AMPLITUDE_UPLOAD)
    assert [(e.user_key, e.token, e.ts_ms, e.event_id) for e in got] == [
        ("203201202", "watch_tutorial", 1396381378123, "5f0adeff-6668-4427"),
        ("203201202", "start_lesson", 1396381379123, "5f0adeff-6668-4428"),
    ]
    assert "a-secret-api-key" not in repr(got) and "203.0.113.9" not in repr(got)


def test_an_api_page_of_events_is_its_events_and_a_bad_one_is_rejected_alone():
    # a page number and a time of its own, but no user: a wrapper
    page = {"data": [{"userId": "u1", "event": "view", "ts": 1546387276}, {"userId": "u2", "event": "view"}],
            "page": 2, "time": "2019-01-02T00:01:16Z"}  # fmt: skip
    got = _results(page)
    assert got[0].user_key == "u1" and got[1] is Reason.MISSING_TIMESTAMP


@pytest.mark.parametrize(
    "value",
    [
        {"user_id": "u1", "event_type": "purchase", "items": [{"sku": 1}]},  # an event (no time): never unwrapped
        {"events": [{"a": 1}], "errors": [{"b": 2}]},  # two lists: which one holds the events is a guess
        {"events": [1, 2]},  # not objects
        {"events": []},
        [{"a": 1}],  # an array is not a wrapper (the decoder reads arrays itself)
    ],
)
def test_what_is_not_a_wrapper(value):
    assert wrapped_events(value) is None


def test_a_record_that_is_no_wrapper_keeps_its_verdict_as_one_event():
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(json.dumps({"events": [{"a": 1}], "errors": [{"b": 2}]}).encode())
    assert exc.value.reason is Reason.MISSING_USER_KEY
    with pytest.raises(RejectedRecord) as exc:  # an order without its time: its own verdict, not its items'
        Decoder().decode(json.dumps({"user_id": "u1", "event_type": "purchase", "items": [{"sku": 1}]}).encode())
    assert exc.value.reason is Reason.MISSING_TIMESTAMP


def test_a_record_that_starts_with_a_utf8_byte_order_mark_is_read_as_without_it():
    """.NET's and PowerShell's UTF-8 writers put one ahead of the text: in a record, in a compressed payload."""
    import gzip

    bom, event = b"\xef\xbb\xbf", b'{"user_id":"u1","event_type":"view","timestamp":1546387276}'
    plain = Decoder().decode(event)
    assert Decoder().decode(bom + event) == plain
    assert Decoder().decode_many([bom + event, event]) == [plain, plain]
    assert [i.result for i in Decoder().items(gzip.compress(bom + event + b"\n" + event))] == [plain, plain]
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(bom)
    assert exc.value.reason is Reason.NOT_JSON


# An EventBridge event as its documentation shows one (the envelope's fields), with an application's event as detail.
ENVELOPE = {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "OrderPlaced",
            "source": "com.example.orders", "account": "111122223333", "time": "2017-12-22T18:43:48Z",
            "region": "us-west-1", "resources": []}  # fmt: skip


def test_an_eventbridge_event_is_its_detail_with_the_envelope_filling_what_it_lacks():
    from clickguard.decoding import DecodeConfig

    lean = {**ENVELOPE, "detail": {"userId": "u1", "orderTotal": 12.5, "ip": "203.0.113.9"}}
    full = {**ENVELOPE, "detail": {"user_id": "u2", "event_type": "checkout", "timestamp": "2017-12-22T18:43:50Z",
                                   "event_id": "e-9"}}  # fmt: skip
    for value, expected in (
        (lean, ("u1", "OrderPlaced", 1513968228000, ENVELOPE["id"])),  # action, time and id from the envelope
        (full, ("u2", "checkout", 1513968230000, "e-9")),  # the detail's own win
    ):
        body = json.dumps(value).encode()
        got = Decoder().decode(body)
        assert (got.user_key, got.token, got.ts_ms, got.event_id) == expected
        assert Decoder(DecodeConfig(fast_json=False)).decode(body) == got  # the reference agrees
    assert "203.0.113.9" not in repr(Decoder().decode(json.dumps(lean).encode()))


def test_an_eventbridge_event_without_a_user_keeps_its_verdict():
    service_event = {**ENVELOPE, "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
                     "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}}  # fmt: skip
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(json.dumps(service_event).encode())
    assert exc.value.reason is Reason.MISSING_USER_KEY


def test_json_objects_one_after_another_in_a_record_are_each_an_event():
    """Some producers batch records by concatenating them, as Firehose does; the trainer's archive and the consumer
    read them with the same decoder."""
    first, second = (json.dumps({"user_id": u, "event_type": "view", "timestamp": 1546387276}) for u in ("a", "b"))
    for body in (first + second, first + " " + second):
        assert [i.result.user_key for i in Decoder().items(body.encode())] == ["a", "b"]
    for hostile in (first + '{"x": NaN}', first + "junk", '{"a": 1}}', first + "[" * 5000):
        [item] = Decoder().items(hostile.encode())
        assert isinstance(item.result, RejectedRecord) and item.result.reason in (Reason.NOT_JSON, Reason.TOO_DEEP)


# A change record as Kinesis Data Streams for DynamoDB puts it on a stream (the fields Powertools' parser models).
_NEW_IMAGE = {"pk": {"S": "u1#1"}, "userId": {"S": "u1"}, "action": {"S": "view_item"},
              "cart": {"M": {"items": {"L": [{"N": "2"}]}}}, "ip": {"S": "203.0.113.9"}}  # fmt: skip
CHANGE = {"awsRegion": "us-east-1", "eventID": "4b25bd0da9a181a155114127e4837252", "eventName": "INSERT",
          "userIdentity": None, "recordFormat": "application/json", "tableName": "clicks",
          "eventSource": "aws:dynamodb",
          "dynamodb": {"ApproximateCreationDateTime": 1693997155000, "Keys": {"pk": {"S": "u1#1"}}, "SizeBytes": 90,
                       "NewImage": _NEW_IMAGE}}  # fmt: skip


def test_a_dynamodb_insert_is_its_new_item_with_the_record_giving_time_and_id():
    from clickguard.decoding import DecodeConfig

    body = json.dumps(CHANGE).encode()
    got = Decoder().decode(body)
    assert (got.user_key, got.token, got.ts_ms, got.event_id) == ("u1", "view_item", 1693997155000, CHANGE["eventID"])
    assert Decoder(DecodeConfig(fast_json=False)).decode(body) == got
    assert "203.0.113.9" not in repr(got)
    own = json.loads(body)  # an item with its own time and id: they win over the record's
    own["dynamodb"]["NewImage"] |= {"ts": {"N": "1693997160"}, "insert_id": {"S": "e-1"}}
    item = Decoder().decode(json.dumps(own).encode())
    assert (item.ts_ms, item.event_id) == (1693997160000, "e-1")


def test_a_dynamodb_change_that_adds_no_item_is_no_user_action():
    for name in ("MODIFY", "REMOVE"):
        with pytest.raises(RejectedRecord) as exc:
            Decoder().decode(json.dumps({**CHANGE, "eventName": name}).encode())
        assert exc.value.reason is Reason.IGNORED_MESSAGE_TYPE


def _dms(operation: str, row: dict | None, record_type: str = "data") -> dict:
    """A record as AWS DMS puts one on a Kinesis target (its user guide's published layout)."""
    meta = {"timestamp": "2023-09-06T10:45:55.123456Z", "record-type": record_type, "operation": operation,
            "partition-key-type": "schema-table", "schema-name": "shop", "table-name": "clicks",
            "transaction-id": 87978110091475}  # fmt: skip
    return {"metadata": meta} if row is None else {"data": row, "metadata": meta}


@pytest.mark.parametrize("fast_json", [True, False])
def test_a_dms_row_loaded_or_inserted_is_its_event_and_the_change_gives_its_time_where_it_has_none(fast_json):
    """A row whose ``event`` column is a string is that row (the app envelope's ``data.event`` is an object)."""
    from clickguard.decoding import DecodeConfig

    decoder = Decoder(DecodeConfig(fast_json=fast_json))
    row = {"id": 7, "user_id": "u1", "event": "view_item", "created_at": "2023-09-06T10:45:54Z", "ip": "203.0.113.9"}
    inserted = decoder.decode(json.dumps(_dms("insert", row)).encode())
    assert (inserted.user_key, inserted.token, inserted.ts_ms) == ("u1", "view_item", 1693997154000)
    assert "203.0.113.9" not in repr(inserted)
    row = {"user_id": "u1", "event_type": "login", "outcome": "fail"}  # no time: the change's
    loaded = decoder.decode(json.dumps(_dms("load", row)).encode())
    assert (loaded.token, loaded.ts_ms) == ("login#fail", 1693997155123)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_dms("update", {"user_id": "u1", "event": "view_item"}), Reason.IGNORED_MESSAGE_TYPE),
        (_dms("delete", {"id": 7}), Reason.IGNORED_MESSAGE_TYPE),
        (_dms("create-table", None, record_type="control"), Reason.CONTROL_MESSAGE),
        (_dms("insert", "not a row"), Reason.NOT_OBJECT),  # type: ignore[arg-type]
    ],
)
def test_a_dms_record_that_adds_no_row_is_no_user_action(record, reason):
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(json.dumps(record).encode())
    assert exc.value.reason is reason


# A GA4 Measurement Protocol request body as Google's guide documents it (web stream: client_id; app: app_instance_id),
# with the fields where it keeps the user's place, device and properties.
MEASUREMENT = {
    "client_id": "123456.7654321", "user_id": "u-9", "timestamp_micros": "1763700000000000",
    "user_properties": {"email": {"value": "jane@example.com"}}, "user_location": {"city": "Lleida"},
    "device": {"category": "mobile", "browser": "Chrome"}, "ip_override": "203.0.113.9",
    "events": [
        {"name": "login", "params": {"method": "Google", "session_id": "123", "engagement_time_msec": 100}},
        {"name": "view_item", "params": {"session_id": "123", "items": [{"item_id": "SKU_1"}]}},
    ],
}  # fmt: skip


def test_a_measurement_protocol_body_is_its_events_sharing_its_user_and_time():
    from clickguard.decoding import DecodeConfig

    body = json.dumps(MEASUREMENT).encode()
    for decoder in (Decoder(), Decoder(DecodeConfig(fast_json=False))):
        got = [item.result for item in decoder.items(body)]
        assert [(e.user_key, e.token, e.ts_ms, e.session_id) for e in got] == [
            ("u-9", "login", 1763700000000, "123"), ("u-9", "view_item", 1763700000000, "123")
        ]  # fmt: skip
        assert not [p for p in ("jane", "Lleida", "Chrome", "203.0.113.9", "SKU_1") if p in repr(got)]
    app = {k: v for k, v in MEASUREMENT.items() if k not in ("client_id", "user_id")} | {"app_instance_id": "a-1"}
    assert {item.result.user_key for item in Decoder().items(json.dumps(app).encode())} == {"a-1"}


def test_a_measurement_protocol_body_without_a_time_is_read_at_its_arrival():
    untimed = json.dumps({k: v for k, v in MEASUREMENT.items() if k != "timestamp_micros"}).encode()
    assert {item.result.ts_ms for item in Decoder().items(untimed, arrival_ms=1763700000123)} == {1763700000123}


def test_a_body_with_events_that_is_no_measurement_protocol_keeps_its_verdict():
    for other in ({"user_id": "u1", "events": [{"name": "x"}]},  # no client id: not the protocol's
                  {**MEASUREMENT, "events": [{"params": {}}]}):  # an event without its name  # fmt: skip
        assert _results(other) == [Reason.MISSING_EVENT_TYPE]  # a bare name is no action outside the protocol


def test_a_session_document_is_its_events_each_taking_the_user_session_and_time_it_lacks():
    doc = {"userId": "u1", "sessionId": "s9", "device": {"ip": "203.0.113.9"},
           "events": [{"type": "view", "ts": 1763700000}, {"type": "cart", "ts": 1763700005, "sessionId": "s10"},
                      {"event": "buy"}]}  # fmt: skip
    got = [item.result for item in Decoder().items(json.dumps(doc).encode(), arrival_ms=1763700009000)]
    assert [(e.user_key, e.token, e.ts_ms, e.session_id) for e in got] == [
        ("u1", "view", 1763700000000, "s9"), ("u1", "cart", 1763700005000, "s10"), ("u1", "buy", 1763700009000, "s9")
    ]  # fmt: skip
    assert "203.0.113.9" not in repr(got)


@pytest.mark.parametrize("fast_json", [True, False])
def test_a_session_s_events_read_under_any_list_name_and_past_one_event_s_size(fast_json):
    """GA360 rows keep their hits in ``hits``, Matomo's visits in ``actionDetails``; and the session that grows past
    an event's 64 KiB is the long one, a bot's, which must not be the one rejected."""
    from clickguard.decoding import DecodeConfig

    decoder = Decoder(DecodeConfig(fast_json=fast_json))
    hits = {"fullVisitorId": "v1", "visitId": "s1", "hits": [{"type": "view", "ts": 1763700000 + i} for i in range(3)]}
    got = [item.result for item in decoder.decode(json.dumps(hits).encode())]
    assert [(e.user_key, e.session_id) for e in got] == [("v1", "s1")] * 3
    bot = {"user_id": "bot", "actions": [{"action": "/p", "ts": 1763700000 + i} for i in range(3000)]}
    body = json.dumps(bot).encode()
    assert len(body) > 64 * 1024
    got = [item.result for item in decoder.decode(body)]
    assert len(got) == 3000 and {e.user_key for e in got} == {"bot"}


def test_beside_a_session_s_events_an_empty_list_or_a_list_of_other_records_does_not_hide_them():
    """Matomo's visit holds ``pluginsIcons`` beside ``actionDetails``, GA360's session ``customDimensions`` (often
    empty) beside ``hits``: every such visit was refused (missing_event_type; a bot's long one record_too_large)."""
    actions = [{"type": "action", "url": "/a", "timestamp": 1763700000 + i} for i in range(3)]
    icons = [{"pluginIcon": "p.png", "pluginName": "flash"}]
    visit = {"visitorId": "v1", "idVisit": "9", "pluginsIcons": icons, "actionDetails": actions}
    got = [item.result for item in Decoder().items(json.dumps(visit).encode())]
    assert [(e.user_key, e.token) for e in got] == [("v1", "/a")] * 3
    event = {
        "type": "event",
        "url": "/a",
        "eventCategory": "shop",
        "eventAction": "add-to-cart",
        "timestamp": 1763700009,
    }
    visit["actionDetails"] = [*actions, event]  # a Matomo event is its action, not the page it happened on
    assert [item.result.token for item in Decoder().items(json.dumps(visit).encode())][-1] == "add-to-cart"
    row = {"fullVisitorId": "v2", "visitId": "s1", "customDimensions": [],
           "hits": [{"type": "view", "ts": 1763700000 + i} for i in range(2)]}  # fmt: skip
    assert [item.result.user_key for item in Decoder().items(json.dumps(row).encode())] == ["v2", "v2"]
    two = {"userId": "u", "a": [{"event": "x", "ts": 1763700000}], "b": [{"event": "y", "ts": 1763700000}]}
    assert Decoder().items(json.dumps(two).encode())[0].result.reason.value == "missing_event_type"  # which? neither


def test_an_event_with_an_action_of_its_own_and_a_list_stays_one_event():
    order = {"user_id": "u1", "event": "purchase", "ts": 1763700000, "items": [{"sku": "A"}, {"sku": "B"}]}
    assert [item.result.token for item in Decoder().items(json.dumps(order).encode())] == ["purchase"]


# Kafka Connect's JsonConverter with schemas on (its documented envelope), and Debezium's change event inside it.
KAFKA_CONNECT = {"schema": {"type": "struct", "optional": False, "name": "click",
                            "fields": [{"type": "string", "optional": False, "field": "user_id"}]},
                 "payload": {"user_id": "u1", "event_type": "view", "timestamp": 1763700000000}}  # fmt: skip
DEBEZIUM = {"schema": {"type": "struct", "name": "shop.clicks.Envelope"},
            "payload": {"before": None, "op": "c", "ts_ms": 1763700000000, "source": {"db": "shop", "table": "clicks"},
                        "after": {"user_id": "u2", "action": "buy", "ip": "203.0.113.9"}}}  # fmt: skip


def test_the_one_nested_record_that_names_a_user_is_the_event():
    from clickguard.decoding import DecodeConfig

    for value, expected in (
        (KAFKA_CONNECT, ("u1", "view", 1763700000000)),
        (DEBEZIUM, ("u2", "buy", 1763700000000)),  # two levels down, the time from the change record
        ({"data": {"userId": "u3", "event": "click"}, "sent_at": 1763700000}, ("u3", "click", 1763700000000)),
    ):
        body = json.dumps(value).encode()
        got = Decoder().decode(body)
        assert (got.user_key, got.token, got.ts_ms) == expected
        assert Decoder(DecodeConfig(fast_json=False)).decode(body) == got
    assert "203.0.113.9" not in repr(Decoder().decode(json.dumps(DEBEZIUM).encode()))


def test_two_nested_records_naming_users_are_no_event():
    two = {"a": {"user": "x", "event": "e", "ts": 1763700000}, "b": {"user": "y", "event": "e", "ts": 1763700000}}
    with pytest.raises(RejectedRecord) as exc:
        Decoder().decode(json.dumps(two).encode())
    assert exc.value.reason is Reason.MISSING_USER_KEY


def _ga360_row(visitor: str, start_s: int, hits: list[dict]) -> dict:
    """A row of Google's public ``google_analytics_sample.ga_sessions_YYYYMMDD`` layout (fields trimmed)."""
    return {
        "visitorId": None, "visitNumber": "1", "visitId": str(start_s), "visitStartTime": start_s, "date": "20170801",
        "totals": {"visits": "1", "hits": str(len(hits)), "pageviews": "2"},
        "trafficSource": {"source": "google", "medium": "organic", "keyword": "someone@example.com"},
        "device": {"browser": "Chrome", "operatingSystem": "Windows", "isMobile": False},
        "geoNetwork": {"country": "France", "city": "Lyon", "networkDomain": "example.fr"},
        "customDimensions": [{"index": "4", "value": "EMEA"}], "fullVisitorId": visitor, "userId": None,
        "channelGrouping": "Organic Search", "socialEngagementType": "Not Socially Engaged", "hits": hits,
    }  # fmt: skip


def test_a_ga360_session_row_is_its_hits_timed_from_the_session_s_start():
    """Every hit of a Universal Analytics export was ``bad_timestamp`` (its ``time`` counts from the session's start)
    and would have been named by its kind (PAGE) rather than its page."""
    hits = [
        {"hitNumber": "1", "time": 0, "type": "PAGE", "page": {"pagePath": "/home", "hostname": "shop.example"}},
        {"hitNumber": "2", "time": 15250, "type": "EVENT", "page": {"pagePath": "/home"},
         "eventInfo": {"eventCategory": "Enhanced Ecommerce", "eventAction": "Add to Cart"}},
        {"hitNumber": "3", "time": 31000, "type": "PAGE", "page": {"pagePath": "/basket.html?id=7"}},
        {"hitNumber": "4", "time": 40000, "type": "TRANSACTION"},
    ]  # fmt: skip
    body = json.dumps(_ga360_row("9674781571160116268", 1501583974, hits)).encode()
    got = [item.result for item in Decoder().items(body)]
    assert [(e.user_key, e.token, e.ts_ms, e.session_id, e.event_id) for e in got] == [
        ("9674781571160116268", "/home", 1501583974000, "1501583974", "1501583974.1"),
        ("9674781571160116268", "Add to Cart", 1501583989250, "1501583974", "1501583974.2"),
        ("9674781571160116268", "/basket.html", 1501584005000, "1501583974", "1501583974.3"),
        ("9674781571160116268", "transaction", 1501584014000, "1501583974", "1501583974.4"),
    ]
    assert not {"France", "Lyon", "Chrome", "someone@example.com", "shop.example"} & set(map(str, chain(*got)))
