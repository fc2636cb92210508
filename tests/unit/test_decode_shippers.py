"""Records as log shippers and AWS services put them on a stream, built byte for byte as their sources write them:
each is read as the event (or access log line) it carries, on the msgspec path and the standard library's alike."""

from __future__ import annotations

import gzip
import json

import pytest

from clickguard.decoding import DecodeConfig, Decoder
from clickguard.events import Event
from clickguard.rejections import Reason, RejectedRecord

EVENT = {"user_id": "u1", "event_type": "login", "timestamp": "2019-01-02T00:20:48.505Z"}
AS_EVENT = ("u1", "login", 1546388448505)
LINE = '203.0.113.9 - - [02/Jan/2019:00:20:48 +0000] "GET /view_item/123 HTTP/1.1" 200 512 "-" "Mozilla/5.0"'
AS_LINE = ("203.0.113.9", "/view_item/*", 1546388448000)


def _escaped(text: str) -> bytes:
    """What Fluent Bit's ``log_key`` writes: the JSON string of the line without its outer quotes."""
    return json.dumps(text)[1:-1].encode() + b"\n"


def _lambda_text_log(message: str) -> bytes:
    """A CloudWatch Logs subscription's payload of one line in Lambda's default text format (time, request id,
    level, message)."""
    line = f"2019-01-02T00:20:48.505Z\tc0ffee00-1111-2222-3333-444455556666\tINFO\t{message}\n"
    payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/api",
               "logStream": "s", "subscriptionFilters": ["f"],
               "logEvents": [{"id": "1", "timestamp": 1546388448505, "message": line}]}  # fmt: skip
    return gzip.compress(json.dumps(payload).encode(), mtime=0)


# fluent-bit conf/parsers.conf [PARSER] nginx: remote, host, user, method, path, code, size, referer, agent
NGINX_PARSED = {"remote": "203.0.113.9", "host": "-", "user": "-", "method": "GET", "path": "/view_item/123",
                "code": "200", "size": "512", "referer": "-", "agent": "Mozilla/5.0",
                "time": "2019-01-02T00:20:48"}  # fmt: skip
# an EventBridge pipe from SQS with no input template: the message, its body a JSON string
SQS_MESSAGE = {"messageId": "m1", "body": json.dumps(EVENT), "eventSource": "aws:sqs", "awsRegion": "us-east-1",
               "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q"}  # fmt: skip


RECORDS = {
    # fluent-bit plugins/out_kinesis_streams with log_key (before fluent-bit PR #9049): every quote escaped
    "fluent_bit_log_key_json": (_escaped(json.dumps(EVENT)), AS_EVENT),
    "fluent_bit_log_key_line": (_escaped(LINE), AS_LINE),
    "fluent_bit_nginx_parser": (json.dumps(NGINX_PARSED).encode(), AS_LINE),
    # amazon-kinesis-agent AddMetadataConverter: {"metadata": {...}, "data": "<the line>"}
    "kinesis_agent_addmetadata": (json.dumps({"metadata": {"env": "prod"}, "data": LINE}).encode(), AS_LINE),
    "pipe_from_sqs": (json.dumps(SQS_MESSAGE).encode(), AS_EVENT),
    # an event encoded twice (an SDK's mistake; API Gateway's $input.json of a string)
    "double_encoded": (json.dumps(json.dumps(EVENT)).encode(), AS_EVENT),
    # a Lambda's logs in its default text format, subscribed to the stream
    "cloudwatch_lambda_text": (_lambda_text_log(json.dumps(EVENT)), AS_EVENT),
}


@pytest.mark.parametrize("fast_json", [True, False], ids=["msgspec", "stdlib"])
@pytest.mark.parametrize("name", list(RECORDS))
def test_a_shipper_s_record_is_the_event_it_carries(name, fast_json):
    record, expected = RECORDS[name]
    [item] = Decoder(DecodeConfig(fast_json=fast_json)).items(record)
    event = item.result
    assert isinstance(event, Event), event
    assert (event.user_key, event.token, event.ts_ms) == expected
    assert "Mozilla" not in repr(event) and "prod" not in repr(event) and "c0ffee00" not in repr(event)


def test_a_string_that_holds_no_object_keeps_its_verdict():
    for record in (b'"hello"', json.dumps(json.dumps([EVENT])).encode(), b'\\"not a line\\"'):
        [item] = Decoder().items(record)
        assert isinstance(item.result, RejectedRecord) and item.result.reason is Reason.NOT_OBJECT


def test_a_page_of_events_with_metadata_is_still_its_events():
    """``metadata`` and ``body`` mark the shapes above; an API's page that holds them beside its events is a page."""
    page = {"data": [EVENT, {**EVENT, "user_id": "u2"}], "metadata": {"page": 2}, "body": "next"}
    assert [item.result.user_key for item in Decoder().items(json.dumps(page).encode())] == ["u1", "u2"]


def _ga4_row(event_name: str, user_id: str | None = None) -> dict[str, object]:
    """A row of GA4's BigQuery export (its documented schema; INT64 written as strings, as ``bq extract`` does)."""
    params = [
        {
            "key": "page_location",
            "value": {"string_value": "https://shop.example/product/12?email=a@b.c", "int_value": None},
        },
        {"key": "ga_session_id", "value": {"string_value": None, "int_value": "1728518400"}},
        {"key": "engagement_time_msec", "value": {"int_value": "512"}},
    ]
    return {"event_date": "20241010", "event_timestamp": "1728518400123456", "event_name": event_name,
            "event_params": params, "user_pseudo_id": "123.456", "user_id": user_id,
            "device": {"category": "mobile"}, "geo": {"city": "Paris"}}  # fmt: skip


@pytest.mark.parametrize("fast_json", [True, False], ids=["msgspec", "stdlib"])
def test_a_ga4_export_row_is_its_page_view_s_page_in_its_ga_session(fast_json):
    """Read as ``page_view``, every page of a site was one state: a scraper's walk through the catalogue and a
    person's visit to three products looked alike."""
    decoder = Decoder(DecodeConfig(fast_json=fast_json))
    view = decoder.decode(json.dumps(_ga4_row("page_view")).encode())
    assert (view.user_key, view.token, view.ts_ms, view.session_id) == (
        "123.456", "/product/*", 1728518400123, "1728518400"
    )  # fmt: skip
    cart = decoder.decode(json.dumps(_ga4_row("add_to_cart", user_id="u9")).encode())
    assert (cart.user_key, cart.token, cart.session_id) == ("u9", "add_to_cart", "1728518400")
    assert "Paris" not in repr((view, cart)) and "a@b.c" not in repr((view, cart))
