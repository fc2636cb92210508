"""The msgspec fast path gives exactly the reference (standard-library) verdicts: the same Event, or the same
reason and detail, on the decoder's own fuzz corpus (every strategy of test_events_fuzz) and on the archive path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.decoding import jsonfast
from clickguard.events import MAX_DEPTH, Event, UserKeySource, parse_record
from clickguard.rejections import RejectedRecord
from clickguard.training import dataset
from clickguard.training.dataset import EventColumns
from tests.unit.test_events_fuzz import (
    PROFILE,
    anything,
    canonical_records,
    envelopes,
    render,
    segment_messages,
    strings,
)


def verdict(fn, data: bytes, source=UserKeySource.SESSION_USER_ID) -> Event | tuple[str, str]:
    try:
        return fn(data, source)
    except RejectedRecord as exc:
        return exc.reason.value, exc.detail


def same(data: bytes | str, source=UserKeySource.SESSION_USER_ID) -> None:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    assert verdict(jsonfast.parse_json, raw, source) == verdict(parse_record, raw, source)


@settings(PROFILE, max_examples=400)
@given(st.binary(max_size=300))
def test_any_bytes(data):
    same(data)


@settings(PROFILE, max_examples=300)
@given(strings(max_size=300))
def test_any_text(text):
    same(text)


@settings(PROFILE, max_examples=400)
@given(anything, st.integers(0, 2))
def test_any_json_value(value, how):
    same(render(value, how))


@settings(PROFILE, max_examples=600)
@given(canonical_records(), st.integers(0, 2))
def test_canonical_records(record_and_bad, how):
    same(render(record_and_bad[0], how))


@settings(PROFILE, max_examples=300)
@given(envelopes(), st.integers(0, 2), st.sampled_from(list(UserKeySource)))
def test_envelopes(env, how, source):
    same(render(env, how), source)


@settings(PROFILE, max_examples=300)
@given(segment_messages(), st.integers(0, 2))
def test_segment_messages(msg, how):
    same(render(msg, how))


NETWORK = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.one_of(
            st.integers(-5, 10**400),
            st.floats(allow_nan=False),
            st.sampled_from(["12.50", " 3 ", "1e3", "-1", ".5", "5.", "", "NaN", "12 EUR", "\u0661\u0662"]),
            anything,
        ),
        "friend_id": st.one_of(st.sampled_from(["f1", " f2 ", 42, 1.5, True, "", "x" * 300]), anything),
        "page": anything,
    },
)


@settings(PROFILE, max_examples=400)
@given(NETWORK, st.integers(0, 2))
def test_network_attributes(attrs, how):
    record = {"user_id": "u1", "event_type": "purchase", "timestamp": 1546387276, "attributes": attrs}
    same(render(record, how))


@pytest.mark.parametrize(
    "text",
    [
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"n":' + "7" * 5000 + "}",
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"n":' + "7" * 5000 + ".5}",
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"a":' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"a":' + "[" * 40 + "]" * 40 + "}",
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"a":"\\ud800"}',
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"a":1e400}',
        '{"user_id":"u","event_type":"x","timestamp":1e400}',
        '{"user_id":"u","user_id":{"ip":"1.2.3.4"},"event_type":"x","timestamp":1546387276}',
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"data":{"event":{"event_type":"y"}}}',
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"attributes":[1]}',
        '{"user_id":"u","event_type":"x","timestamp":1546387276,"attributes":{"amount":1e400}}',
        '{"user_id":"\u00e9","event_type":"x","timestamp":"2019-01-02 00:01:16"}',
        ' {"user_id":"u","event_type":"x","timestamp":1546387276}\n',
    ],
)
def test_edge_cases(text):
    same(text)


@settings(PROFILE, max_examples=150)
@given(st.lists(st.tuples(canonical_records(), st.sampled_from([0, 2])), min_size=1, max_size=8))
def test_archive_objects_decode_as_the_reference_decodes_each_line(records):
    lines = [render(record, how) for (record, _bad), how in records]
    body = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n"
    fast = EventColumns()
    fast.add_object(body)
    expected = EventColumns()
    for line in body.splitlines():
        expected.lines += 1
        try:
            ev = parse_record(line)
        except RejectedRecord as exc:
            expected.rejected[exc.reason.value] += 1
        else:
            expected.users.append(ev.user_key)
            expected.tokens.append(ev.token)
    assert (fast.users, fast.tokens, dict(fast.rejected), fast.lines) == (
        expected.users,
        expected.tokens,
        dict(expected.rejected),
        expected.lines,
    )


def test_a_canonical_archive_object_takes_the_typed_path(monkeypatch):
    calls = []
    real = jsonfast.struct_event
    monkeypatch.setattr(dataset, "struct_event", lambda c: calls.append(c) or real(c))
    lines = [json.dumps({"user_id": f"u{i}", "event_type": "x", "timestamp": 1546387276 + i}) for i in range(5)]
    cols = EventColumns()
    cols.add_object("\n".join(lines).encode())
    assert len(cols) == 5 and len(calls) == 5
