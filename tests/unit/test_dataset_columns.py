"""The trainer's column-at-a-time reading of canonical structs (``events.canonical_columns``) gives exactly the
columns, rejections and counts of reading them event by event with ``canonical_event``, for values on both sides of
every fast-path condition."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard import settings as cg_settings
from clickguard.timestamps import MIN_MS, MIN_S
from clickguard.training import dataset
from clickguard.training.dataset import EventColumns

MAX_USER = cg_settings.MAX_USER_KEY_CHARS
KEYS = st.one_of(
    st.sampled_from(["u1", "u2", "alice", " padded", "tab\t", "caf\u00e9", "", "x" * MAX_USER, "x" * (MAX_USER + 1)]),
    st.sampled_from(["nul\x00", "\x00", "esc\x1b[2J", "del\x7f", "c1\x9b", "zwj\u200d"]),
    st.integers(-5, 5),
    st.text(min_size=0, max_size=6),
)
URLS = ["/product/12", "/search?q=a@b.c", "https://shop.example/c/7/a?x=1", "/" + "7/" * 60, "/a?" + "q" * 140, "what?"]
TYPES = st.one_of(
    st.sampled_from(
        ["view", "login", " search", "buy ", "", "t" * 129, "vi\x07ew", "tab\tbed", "a@b.c", "go a@b", *URLS]
    ),
    st.integers(0, 3),
)
OUTCOMES = st.one_of(
    st.none(), st.sampled_from(["success", "fail", "ok", "failure", "error", "FAIL", " ok", "failed", "maybe"])
)
TIMES = st.one_of(
    st.integers(MIN_MS - 2, MIN_MS + 2),
    st.integers(1_700_000_000_000, 1_700_000_100_000),
    st.floats(1.7e9, 1.7e9 + 1e5),
    st.sampled_from([MIN_S - 0.001, 4_102_444_800.0, 4_102_444_800.001, "2025-11-21T10:00:00Z", "", 17e8, True]),
)
IDS = st.one_of(st.none(), st.sampled_from(["s1", "s2", "", " s", "\u00e9", "i" * (MAX_USER + 3)]), st.integers(0, 2))
ATTRIBUTES = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"amount": st.sampled_from([3, 2.5, "1.5", -1, "x"]), "friend_id": IDS}),
)


@st.composite
def canonical(draw: st.DrawFn) -> dict[str, object]:
    event: dict[str, object] = {"user_id": draw(KEYS), "event_type": draw(TYPES), "timestamp": draw(TIMES)}
    for name, strategy in (("outcome", OUTCOMES), ("session_id", IDS), ("event_id", IDS), ("attributes", ATTRIBUTES)):
        value = draw(strategy)
        if value is not None:
            event[name] = value
    return event


def read(body: bytes, columnwise: bool, monkeypatch: pytest.MonkeyPatch) -> EventColumns:
    with monkeypatch.context() as m:
        if not columnwise:
            m.setattr(dataset, "struct_columns", lambda structs: None)
        cols = EventColumns()
        cols.add_object(body)
    return cols


def as_tuple(cols: EventColumns) -> tuple[object, ...]:
    return cols.users, cols.tokens, cols.ts_ms, cols.session_ids, cols.event_ids, dict(cols.rejected), cols.lines


@settings(max_examples=500, deadline=None)
@given(st.lists(canonical(), min_size=1, max_size=3))
def test_columns_equal_event_by_event(events: list[dict[str, object]]) -> None:
    """Few events per object, so that one odd value is what decides between the two paths."""
    body = "\n".join(json.dumps(e) for e in events).encode() + b"\n"
    mp = pytest.MonkeyPatch()
    assert as_tuple(read(body, True, mp)) == as_tuple(read(body, False, mp))


def test_plain_object_is_read_column_at_a_time() -> None:
    """The common archive object takes the column path (not only agrees with the event path)."""
    lines = [
        {"user_id": "u1", "event_type": "login", "outcome": "fail", "timestamp": 1_700_000_000_000, "session_id": "s"},
        {"user_id": "u1", "event_type": "view", "timestamp": 1_700_000_001_000, "attributes": {"amount": 2}},
    ]
    structs = dataset.parse_lines(b"", [json.dumps(e).encode() for e in lines])
    assert structs is not None and structs[1]
    found = dataset.struct_columns(structs[0])
    assert found is not None
    columns = found[0]
    assert columns.tokens == ["login#fail", "view"]
