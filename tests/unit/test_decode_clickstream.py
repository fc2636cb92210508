"""Clickstream Analytics on AWS records, built from the published format: the ingestion server's Vector
configuration (``src/ingestion-server/server/images/vector/config/vector.toml``: the request's headers and query
parameters renamed to ``ip``, ``ua``, ``uri``, ``rid``, ``method``, ``date``, the body kept as ``data``,
``ingest_time`` and ``server_ingest_time`` added; the Kinesis sink's JSON codec), the body as the HTTP API documents
it (a JSON array of events; ``compression=gzip``: the SDK's gzip, base64) and the events as the SDK manuals show
them (``unique_id``, ``device_id``, ``user._user_id``, ``attributes._session_id``...)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from clickguard.decoding import DecodeConfig, Decoder, Format
from clickguard.decoding.archive import canonical_line
from clickguard.events import Event
from clickguard.rejections import Reason, RejectedRecord

T = 1_763_700_000_000
PERSONAL = ("198.51.100.23", "Mozilla/5.0 (Linux; Android 6.0; Nexus 5)", "f24bec657ea8eff7", "Lleida", "carl")


def sdk_event(k: int, unique_id: str = "c84ad28d", etype: str = "add_to_cart", **extra) -> dict:
    """An event as the Web SDK sends it (its manual's sample structure)."""
    return {
        "unique_id": unique_id,
        "event_type": etype,
        "event_id": f"460daa08-{k:04d}",
        "timestamp": T + 1000 * k,
        "device_id": PERSONAL[2],
        "platform": "Web",
        "make": "Google Inc.",
        "locale": "zh_CN",
        "app_id": "shop",
        "user": {"_user_id": {"value": "312121", "set_timestamp": T}, "_user_name": {"value": PERSONAL[4]}},
        "attributes": {"_session_id": "dc7a7a18-20221108-031926703", "_page_url": "https://example.com/index.html"},
        "geo": {"city": PERSONAL[3]},
        **extra,
    }


def server_record(events: list[dict], compress: bool = False) -> bytes:
    """What the ingestion server's Vector puts on Kinesis for one SDK request."""
    body = json.dumps(events)
    data = base64.b64encode(gzip.compress(body.encode())).decode() if compress else body
    query = "appId=shop&platform=Web" + ("&compression=gzip" if compress else "")
    record = {
        "date": "2023-11-08T03:19:26Z", "uri": f"/collect?{query}", "ua": PERSONAL[1], "ip": PERSONAL[0],
        "rid": "bd7ce1d1fbd0b8a1e0f1f0aa2d6e1b4c", "method": "POST", "data": data, "platform": "Web", "appId": "shop",
        "compression": "gzip" if compress else None, "ingest_time": T + 5000, "server_ingest_time": T + 5000,
        "path": "/collect", "source_type": "http_server", "timestamp": "2023-11-08T03:19:26.123Z",
    }  # fmt: skip
    return json.dumps(record).encode()


def events_of(data: bytes, decoder: Decoder | None = None) -> list[Event | RejectedRecord]:
    return [item.result for item in (decoder or Decoder()).items(data)]


EXPECTED = [Event("c84ad28d", "add_to_cart", T + 1000 * k, "dc7a7a18-20221108-031926703", f"460daa08-{k:04d}")
            for k in range(3)]  # fmt: skip


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("fast_json", [True, False])
def test_a_request_of_events_reads_as_its_events_plain_or_gzip_base64(compress, fast_json):
    decoder = Decoder(DecodeConfig(fast_json=fast_json))
    assert events_of(server_record([sdk_event(k) for k in range(3)], compress), decoder) == EXPECTED


def test_the_user_key_is_the_pseudo_id_else_the_apps_user_id_and_an_outcome_attribute_is_read():
    anonymous = sdk_event(0, unique_id="")
    failed = sdk_event(1, etype="login", attributes={"outcome": "fail"})
    got = events_of(server_record([anonymous, failed]))
    assert [(e.user_key, e.token) for e in got] == [("312121", "add_to_cart"), ("c84ad28d", "login#fail")]


def test_one_bad_event_is_rejected_alone():
    events = [sdk_event(0), {"unique_id": "u", "timestamp": T}, sdk_event(2), "not an object"]
    got = events_of(server_record(events))
    assert got[0] == EXPECTED[0] and got[2] == EXPECTED[2]
    assert [r.reason for r in (got[1], got[3])] == [Reason.MISSING_EVENT_TYPE, Reason.NOT_OBJECT]


def test_one_event_not_in_an_array_is_read_too():
    assert events_of(server_record(sdk_event(0))) == EXPECTED[:1]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("%%% not base64 %%%", Reason.BAD_COMPRESSION),
        (base64.b64encode(b"plain text").decode(), Reason.BAD_COMPRESSION),
        (base64.b64encode(gzip.compress(b"[1,", mtime=0)).decode(), Reason.NOT_JSON),
        (
            base64.b64encode(gzip.compress(b"[" + b" " * 300_000 + b"]", mtime=0)).decode(),
            Reason.DECOMPRESSED_TOO_LARGE,
        ),
        ("[]", Reason.NOT_OBJECT),
    ],
)
def test_a_body_that_does_not_hold_events_is_one_rejection_with_its_reason(data, reason):
    record = json.loads(server_record([]))
    record["data"] = data
    decoder = Decoder(DecodeConfig(max_decompressed_bytes=256 * 1024))
    with pytest.raises(RejectedRecord) as exc:
        decoder.decode(json.dumps(record).encode())
    assert exc.value.reason is reason


def test_an_object_that_only_names_the_marker_keeps_its_own_verdict():
    for doc in ({"server_ingest_time": 1, "data": {"x": 1}}, {"note": "server_ingest_time", "event_type": "x"}):
        with pytest.raises(RejectedRecord) as exc:
            Decoder().decode(json.dumps(doc).encode())
        assert exc.value.reason is Reason.MISSING_USER_KEY


def test_a_request_larger_than_one_event_may_be_is_read_within_the_inflate_cap():
    events = [sdk_event(k % 3) for k in range(400)]
    data = server_record(events)
    assert len(data) > 64 * 1024
    assert events_of(data) == [EXPECTED[k % 3] for k in range(400)]
    with pytest.raises(RejectedRecord) as exc:
        Decoder(DecodeConfig(max_decompressed_bytes=64 * 1024)).decode(data)
    assert exc.value.reason is Reason.RECORD_TOO_LARGE


def test_records_inside_a_kpl_aggregate_are_read_and_json_switched_off_refuses_them():
    agg = RecordAggregator()
    agg.add_user_record("a", server_record([sdk_event(0), sdk_event(1)]))
    agg.add_user_record("b", server_record([sdk_event(2)], compress=True))
    assert events_of(agg.clear_and_get().get_contents()[2]) == EXPECTED
    with pytest.raises(RejectedRecord) as exc:
        Decoder(DecodeConfig(formats=frozenset({Format.KPL}))).decode(server_record([sdk_event(0)]))
    assert exc.value.reason is Reason.FORMAT_DISABLED


def test_no_personal_data_of_the_request_or_its_events_reaches_the_canonical_lines():
    lines = b"".join(canonical_line(e) for e in events_of(server_record([sdk_event(k) for k in range(3)], True)))
    assert len(lines.splitlines()) == 3
    assert not [p for p in PERSONAL if p.encode() in lines]
