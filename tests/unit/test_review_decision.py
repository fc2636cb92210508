"""The decision message: valid ones round-trip to one canonical form; anything else is a specific rejection."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clickguard import settings
from clickguard.review.decision import (
    MAX_MESSAGE_BYTES,
    REASONS,
    InvalidDecision,
    Verdict,
    for_flag,
    parse_decision,
)
from tests.review_support import T0_MS, decision, flag

MESSAGE = {
    "flag_id": "3f2a9c",
    "user_key": "u-1",
    "decision": "block",
    "reason": "credential stuffing from one device",
    "reviewer": "alice",
    "decided_at": "2025-11-24T16:00:00Z",
    "model_version": "m-1",
}


def body(**changes):
    msg = {**MESSAGE, **changes}
    return json.dumps({k: v for k, v in msg.items() if v is not ...})


def test_a_valid_message_parses_to_its_fields():
    d = parse_decision(body())
    assert (d.flag_id, d.user_key, d.decision, d.reviewer, d.model_version) == (
        "3f2a9c",
        "u-1",
        Verdict.BLOCK,
        "alice",
        "m-1",
    )
    assert d.decided_at == "2025-11-24T16:00:00.000Z" and d.flag_reasons is None and not d.has_flag_context


def test_the_same_decision_written_differently_has_one_canonical_form_and_one_log_key():
    a = parse_decision(body(decided_at="2025-11-24T16:00:00Z"))
    b = parse_decision(json.dumps(dict(reversed(list({**MESSAGE, "decided_at": "2025-11-24T17:00:00+01:00"}.items())))))
    assert a.to_json() == b.to_json() and a.log_key() == b.log_key()
    assert a.log_key() == f"{settings.DECISIONS_PREFIX}2025/11/24/3f2a9c.{a.decision_id}.json"
    assert parse_decision(a.to_json()) == a


def test_another_decision_on_the_same_flag_gets_another_key():
    a = parse_decision(body())
    b = parse_decision(body(decision="allow", decided_at="2025-11-24T16:05:00Z"))
    assert a.log_key() != b.log_key()


def test_unknown_fields_are_ignored_and_not_stored():
    d = parse_decision(body(ticket="JIRA-1"))
    assert "ticket" not in d.to_json()


def test_flag_context_is_kept_sorted_and_unique():
    d = parse_decision(body(flag_reasons=["total_bits", "mean_bits", "mean_bits"], flag_strength=1.5))
    assert d.flag_reasons == ("mean_bits", "total_bits") and d.flag_strength == 1.5 and d.has_flag_context


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not_utf8"),
        ("{not json", "not_json"),
        (body(flag_strength=float("nan")), "not_json"),
        ("[1, 2]", "not_object"),
        ("x" * (MAX_MESSAGE_BYTES + 1), "too_large"),
        (body(reviewer=...), "missing_field"),
        (body(user_key=None), "missing_field"),
        (body(user_key=5), "bad_type"),
        (body(decision="maybe"), "bad_value"),
        (body(decision="BLOCK"), "bad_value"),
        (body(reason="   "), "bad_value"),
        (body(reason="r" * 1001), "too_long"),
        (body(user_key="u" * (settings.MAX_USER_KEY_CHARS + 1)), "too_long"),
        (body(flag_id="a/b"), "bad_value"),
        (body(reviewer="al\x1b[31mice"), "bad_value"),
        (body(reviewer="\ud800"), "bad_value"),
        (body(decided_at="yesterday"), "bad_time"),
        (body(decided_at=True), "bad_type"),
        (body(flag_reasons="mean_bits"), "bad_type"),
        (body(flag_reasons=["x" * 65]), "too_long"),
        (body(flag_strength="high"), "bad_type"),
        (body(flag_strength=-1), "bad_value"),
    ],
)
def test_a_malformed_message_is_rejected_with_its_reason(raw, reason):
    with pytest.raises(InvalidDecision) as err:
        parse_decision(raw)
    assert err.value.reason == reason and err.value.reason in REASONS
    assert err.value.detail.isascii()


def test_a_decision_from_the_future_is_refused_by_the_recorder_clock():
    with pytest.raises(InvalidDecision, match="in_future"):
        parse_decision(body(decided_at=T0_MS + 6 * 60_000), now_ms=T0_MS)
    assert parse_decision(body(decided_at=T0_MS + 4 * 60_000), now_ms=T0_MS).decided_at_ms == T0_MS + 4 * 60_000


def test_a_reason_may_span_lines_but_the_reviewer_may_not():
    assert parse_decision(body(reason="line one\nline two\tend")).reason == "line one\nline two\tend"
    with pytest.raises(InvalidDecision):
        parse_decision(body(reviewer="alice\nbob"))


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_a_decision_or_a_rejection(raw):
    try:
        parse_decision(raw)
    except InvalidDecision as bad:
        assert bad.reason in REASONS


@given(
    st.dictionaries(
        st.sampled_from([*MESSAGE, "flag_reasons", "flag_strength"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.lists(st.text(max_size=5)),
    )
)
def test_any_json_object_gives_a_decision_or_a_rejection(fields):
    try:
        d = parse_decision(json.dumps({**MESSAGE, **fields}))
    except InvalidDecision as bad:
        assert bad.reason in REASONS
    else:
        assert parse_decision(d.to_json()) == d


def test_a_decision_on_a_flag_carries_the_flags_reasons_and_strength():
    d = for_flag(flag(reasons=("total_bits", "mean_bits")), Verdict.ALLOW, "a power user", "bob", T0_MS)
    assert (d.flag_id, d.user_key, d.model_version) == ("f1", "u-1", "m-1")
    assert d.flag_reasons == ("mean_bits", "total_bits") and d.flag_strength == pytest.approx(1.25)


def test_a_flag_without_thresholds_gives_a_decision_without_context():
    f = flag()
    del f["thresholds"]
    d = for_flag(f, Verdict.ALLOW, "fine", "bob", T0_MS)
    assert not d.has_flag_context and d.flag_reasons is None


def test_a_decision_on_a_message_without_a_flag_id_names_the_field():
    f = flag()
    del f["flag_id"]
    with pytest.raises(InvalidDecision, match="flag_id"):
        for_flag(f, Verdict.BLOCK, "bot", "bob", T0_MS)


def test_the_support_decision_is_valid():
    d = decision()
    assert parse_decision(d.to_json()) == d
