"""The parser is total: for any input, an Event whose strings are valid UTF-8 within their caps, or a RejectedRecord.

Derandomized, so a run is repeatable and CI never meets a new example; about 3,000 examples in all.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clickguard import settings as cg_settings
from clickguard.events import FAIL_SUFFIX, MAX_DEPTH, Event, UserKeySource, nesting_depth, parse_object, parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import MAX_MS, MIN_MS

PROFILE = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Raw(str):
    """JSON text placed verbatim: numbers json.dumps cannot write (1e400, 5,000-digit integers), deep nesting."""

    def __repr__(self) -> str:
        return f"Raw({str.__repr__(self[:20])}..., {len(self)} chars)"


class Pairs(list):
    """A JSON object written from (key, value) pairs, so keys can repeat (the last one wins when decoded)."""


def dump(value: Any, escape: bool = False) -> str:
    """JSON text; ``escape`` writes every non-ASCII character (surrogates too) as a ``\\u`` escape."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs | dict):
        pairs = value.items() if isinstance(value, dict) else value
        return "{" + ",".join(f"{dump(k, escape)}:{dump(v, escape)}" for k, v in pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v, escape) for v in value) + "]"
    return json.dumps(value, ensure_ascii=escape)


def check(data: bytes | str, source: UserKeySource = UserKeySource.SESSION_USER_ID) -> Event | Reason:
    """Parse and check the contract; any exception other than RejectedRecord propagates and fails the test."""
    try:
        ev = parse_record(data, source)
    except RejectedRecord as exc:
        assert isinstance(exc.reason, Reason)
        assert str(exc).isascii() and len(exc.detail) < 200
        event(exc.reason.value)
        return exc.reason
    event("accepted")
    assert isinstance(ev, Event)
    assert type(ev.user_key) is str and 0 < len(ev.user_key) <= cg_settings.MAX_USER_KEY_CHARS
    assert ev.user_key == ev.user_key.strip()
    assert type(ev.token) is str and 0 < len(ev.token) <= cg_settings.MAX_EVENT_TYPE_CHARS + len(FAIL_SUFFIX)
    assert type(ev.ts_ms) is int and MIN_MS <= ev.ts_ms <= MAX_MS
    for opt in (ev.session_id, ev.event_id):
        assert opt is None or (type(opt) is str and 0 < len(opt) <= cg_settings.MAX_USER_KEY_CHARS)
    for text in (ev.user_key, ev.token, ev.session_id or "", ev.event_id or ""):
        text.encode("utf-8")
    return ev


def render(value: Any, how: int) -> bytes | str:
    """The same JSON value as ASCII bytes (everything else escaped, the path a surrogate escape takes), as a str
    holding the characters themselves, or as bytes that carry any surrogate UTF-8-encoded (so not UTF-8)."""
    if how == 0:
        return dump(value, escape=True).encode()
    text = dump(value)
    return text if how == 1 else text.encode("utf-8", "surrogatepass")


surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"])
chars = st.characters(codec=None) | surrogates


def strings(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Text that may hold lone surrogates (st.text() never yields them, whatever its alphabet)."""
    return st.lists(chars, min_size=min_size, max_size=max_size).map("".join)


texts = strings() | st.sampled_from(["", " ", "ok", "fail", "u1", "2019-01-02T00:01:16Z"])
numbers = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([Raw("1e400"), Raw("-1e309"), Raw("NaN"), Raw("-Infinity"), Raw("1" + "0" * 5000)])
    | st.sampled_from([1546387276, 1546387276.25, 1546387276000, 10**11, -1, 0])
)
scalars = st.none() | st.booleans() | numbers | texts
keys = st.sampled_from(["user_id", "event_type", "outcome", "timestamp", "session_id", "event_id", "data"]) | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(keys, inner), max_size=4).map(Pairs),
    max_leaves=6,
)
# Around the depth limit (a field adds one or three levels) and far beyond it.
deep = (st.integers(MAX_DEPTH - 4, MAX_DEPTH + 1) | st.just(3000)).map(lambda n: Raw("[" * n + "1" + "]" * n))
anything = st.one_of(json_values, strings(1, 4), deep)  # strings often: surrogates

CANONICAL = {
    "user_id": st.sampled_from(["u1", " u2 ", 42, "u" * 300, "\u00e9l\u00e8ve"]),
    "event_type": st.sampled_from(["view_item", "login", 7, "e" * 200]),
    "timestamp": st.sampled_from(["2019-01-02T00:01:16Z", 1546387276, "1546387276.5", 1546387276000]),
    "outcome": st.sampled_from(["success", "fail", True, 0, "maybe", None]),
    "session_id": st.sampled_from(["s-1", 9, "", None]),
    "event_id": st.sampled_from(["e-1", 10, "x" * 400]),
    "attributes": json_values,
}
ENVELOPE = {
    ("data", "session", "user_id"): st.sampled_from([24997128, "u1"]),
    ("data", "session", "session_id"): st.just("s-1"),
    ("data", "event", "event_type"): st.just("1"),
    ("data", "event", "event_name"): st.just("2"),
    ("data", "event", "event_created"): st.just("2019-01-02T00:01:15.500Z"),
    ("data", "event", "outcome"): st.just("ok"),
    ("data", "event", "status"): st.just("fail"),
    ("data", "event", "event_id"): st.just("e-1"),
    ("data", "device", "access_token_id"): st.just("tok"),
    ("timestamp",): st.just("2019-01-02T00:01:16Z"),
    ("event_id",): st.just(1),
}


@st.composite
def canonical_records(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    """A canonical record with plausible fields, some absent, and at most one field holding any JSON value."""
    bad = draw(st.sampled_from([None, *CANONICAL]))
    record = {}
    for name, good in CANONICAL.items():
        if name == bad:
            record[name] = draw(anything)
        elif name in ("user_id", "event_type", "timestamp") or draw(st.booleans()):
            record[name] = draw(good)
    return record, bad


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """The nested envelope (personal data included), some fields absent, at most one field or block replaced."""
    bad = draw(st.sampled_from([None, ("data", "event"), ("data", "session"), *ENVELOPE]))
    env: dict[str, Any] = {"data": {"session": {}, "event": {}, "device": {"imei": "356938035643809"}}}
    for path, good in ENVELOPE.items():
        if path[:2] != bad and (path == bad or draw(st.integers(0, 3)) > 0):
            target = env
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(anything if path == bad else good)
    if bad and len(bad) == 2:
        env["data"][bad[1]] = draw(anything)
    return env


@settings(PROFILE, max_examples=600)
@given(st.binary(max_size=300))
def test_any_bytes(data):
    check(data)


@settings(PROFILE, max_examples=400)
@given(strings(max_size=300))
def test_any_text(text):
    check(text)
    check(text.encode("utf-8", "surrogatepass"))


@settings(PROFILE, max_examples=500)
@given(anything, st.integers(0, 2))
def test_any_json_value(value, how):
    check(render(value, how))


@settings(PROFILE, max_examples=700)
@given(canonical_records(), st.integers(0, 2))
def test_canonical_shape_with_any_field_values(record_and_bad, how):
    record, bad = record_and_bad
    result = check(render(record, how))
    if bad is None and isinstance(result, Event):
        assert result.user_key == str(record["user_id"]).strip()
    if bad in ("user_id", "event_type", "outcome", "session_id", "event_id") and isinstance(record[bad], list | dict):
        assert not isinstance(result, Event)  # never flattened by str()


@settings(PROFILE, max_examples=600)
@given(envelopes(), st.integers(0, 2), st.sampled_from(list(UserKeySource)))
def test_envelope_shape_with_any_field_values(env, how, source):
    result = check(render(env, how), source)
    if isinstance(result, Event):
        assert "356938035643809" not in repr(result)


@settings(PROFILE, max_examples=200)
@given(json_values)
def test_parse_object_of_any_decoded_value(value):
    """parse_object takes values decoded elsewhere (the trainer's batch decode), NaN and inf included."""
    try:
        obj = json.loads(dump(value))
    except ValueError:  # a 5,000-digit integer: the trainer's batch decode falls back to parse_record
        return
    try:
        parse_object(obj)
    except RejectedRecord as exc:
        assert isinstance(exc.reason, Reason)


def depth_of(value: Any) -> int:
    if isinstance(value, Raw):
        return len(value) - len(value.lstrip("["))
    if isinstance(value, Pairs | dict | list):
        children = [v for _k, v in value] if isinstance(value, Pairs) else value
        return 1 + max(map(depth_of, children), default=0)
    return 0


@settings(PROFILE, max_examples=300)
@given(anything, st.booleans())
def test_nesting_depth_of_json_text(value, escape):
    """The depth scan (strings with brackets, quotes and backslashes skipped) agrees with the value's own depth."""
    assert nesting_depth(dump(value, escape)) == min(depth_of(value), MAX_DEPTH + 1)


SEGMENT_FIELDS = ("userId", "anonymousId", "type", "event", "name", "timestamp", "originalTimestamp", "messageId")


@st.composite
def segment_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A Segment/RudderStack message: a valid track, then any of its fields replaced by anything, personal data
    in its context."""
    msg: dict[str, Any] = {
        "userId": "u1",
        "type": draw(st.sampled_from(["track", "page", "screen", "identify"])),
        "event": "view",
        "name": "Home",
        "timestamp": "2025-11-21T00:00:00Z",
        "messageId": "m1",
        "context": {"ip": "10.9.8.7", "sessionId": draw(anything)},
    }
    for field in draw(st.lists(st.sampled_from(SEGMENT_FIELDS), max_size=3)):
        msg[field] = draw(anything)
    return msg


@settings(PROFILE, max_examples=500)
@given(segment_messages(), st.integers(0, 2))
def test_segment_shape_with_any_field_values(msg, how):
    result = check(render(msg, how))
    if isinstance(result, Event):
        assert "10.9.8.7" not in repr(result)
