"""The allow-list document, how decisions change it, and the rule that silences a flag."""

from __future__ import annotations

import pytest

from clickguard.review import allowlist
from clickguard.review.allowlist import DAY_MS, AllowEntry, AllowList, AllowListError, apply
from clickguard.review.decision import Verdict
from clickguard.review.rule import suppressed
from tests.review_support import T0_MS, decision


def applied(*decisions, current=None, days=30, margin=0.25, now_ms=T0_MS):
    return apply(current or AllowList(), list(decisions), days=days, margin=margin, now_ms=now_ms)


def test_an_allow_with_the_flags_context_adds_an_entry_expiring_after_the_configured_days():
    allow = applied(decision(reasons=("mean_bits",), strength=1.25), days=10)
    entry = allow.entry("u-1")
    assert entry is not None and entry.reasons == {"mean_bits"} and entry.strength == 1.25
    assert entry.expires_at_ms == T0_MS + 10 * DAY_MS and entry.limit == pytest.approx(1.25 * 1.25)


def test_allowing_another_flag_of_the_user_widens_the_entry_to_both():
    first = decision(reasons=("mean_bits",), strength=1.6, at_ms=T0_MS)
    second = decision(reasons=("gap_cv", "mean_bits"), strength=1.2, at_ms=T0_MS + 1000)
    entry = applied(first, second, days=10).entry("u-1")
    assert entry is not None and entry.reasons == {"mean_bits", "gap_cv"} and entry.strength == 1.6
    assert entry.decided_at_ms == T0_MS + 1000 and entry.expires_at_ms == T0_MS + 1000 + 10 * DAY_MS
    assert suppressed(entry, ["gap_cv"], 1.9, T0_MS + 2000)  # the first flag's strength, the second's reason
    after_block = applied(first, decision(verdict=Verdict.BLOCK, at_ms=T0_MS + 500), second).entry("u-1")
    assert after_block is not None and after_block.reasons == {"gap_cv", "mean_bits"} and after_block.strength == 1.2


def test_a_block_removes_the_users_entry():
    allow = applied(decision(at_ms=T0_MS), decision(verdict=Verdict.BLOCK, at_ms=T0_MS + 1000))
    assert allow.entry("u-1") is None and len(allow) == 0


def test_an_older_decision_never_overrides_a_newer_entry():
    current = applied(decision(at_ms=T0_MS + 5000, strength=2.0))
    later = applied(decision(verdict=Verdict.BLOCK, at_ms=T0_MS), decision(at_ms=T0_MS, strength=1.0), current=current)
    assert later.entry("u-1") == current.entry("u-1")


def test_an_allow_without_the_flags_reasons_and_strength_changes_nothing():
    current = applied(decision(user="u-2"))
    assert applied(decision(reasons=None, strength=None), current=current) == current


def test_expired_entries_are_dropped_on_every_write():
    current = applied(decision(user="old", at_ms=T0_MS - 31 * DAY_MS), now_ms=T0_MS - 31 * DAY_MS)
    assert applied(decision(user="new"), current=current).entries.keys() == {"new"}


def test_past_the_cap_the_soonest_to_expire_go_first(monkeypatch):
    monkeypatch.setattr(allowlist, "MAX_ENTRIES", 2)
    allow = applied(*(decision(user=f"u{i}", at_ms=T0_MS + i) for i in range(4)))
    assert allow.entries.keys() == {"u2", "u3"}


def test_a_new_margin_applies_to_every_entry():
    current = applied(decision(), margin=0.25)
    again = applied(current=current, margin=0.5)
    entry = again.entry("u-1")
    assert entry is not None and entry.margin == 0.5 and again.margin == 0.5


def test_the_document_round_trips_through_its_json():
    allow = applied(decision(user="b", reasons=("total_bits", "mean_bits")), decision(user="a"), margin=0.4)
    assert AllowList.from_json(allow.to_json()) == allow
    assert allow.to_json() == AllowList.from_json(allow.to_json()).to_json()  # canonical bytes


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"schema_version": 2, "margin": 0.25, "entries": {}}',
        b'{"schema_version": 1, "margin": -1, "entries": {}}',
        b'{"schema_version": 1, "margin": 0.25, "entries": []}',
        b'{"schema_version": 1, "margin": 0.25, "entries": {"u": {"reasons": ["x"]}}}',
        b'{"schema_version": 1, "margin": 0.25, "entries": {"u": {"reasons": "x", "strength": 1, "decided_at": '
        b'"2025-01-01T00:00:00Z", "expires_at": "2025-02-01T00:00:00Z", "flag_id": "f"}}}',
    ],
)
def test_a_document_that_is_not_an_allow_list_is_an_error(raw):
    with pytest.raises(AllowListError):
        AllowList.from_json(raw)


# --- the rule ------------------------------------------------------------------------------------------------------
ENTRY = AllowEntry(
    reasons=frozenset({"mean_bits"}),
    strength=1.2,
    decided_at_ms=T0_MS,
    expires_at_ms=T0_MS + 30 * DAY_MS,
    flag_id="f1",
    margin=0.25,
)


def test_the_same_reasons_at_the_allowed_strength_are_suppressed():
    assert suppressed(ENTRY, ["mean_bits"], 1.2, T0_MS + DAY_MS)


def test_stronger_within_the_margin_is_still_suppressed_up_to_the_limit_inclusive():
    assert suppressed(ENTRY, ["mean_bits"], 1.5, T0_MS)  # 1.2 * 1.25 = 1.5: not above the margin
    assert not suppressed(ENTRY, ["mean_bits"], 1.51, T0_MS)


def test_a_new_reason_lets_the_flag_out_whatever_its_strength():
    assert not suppressed(ENTRY, ["mean_bits", "total_bits"], 1.0, T0_MS)
    assert not suppressed(ENTRY, ["total_bits"], 0.5, T0_MS)


def test_no_entry_or_an_expired_one_suppresses_nothing():
    assert not suppressed(None, ["mean_bits"], 1.0, T0_MS)
    assert not suppressed(ENTRY, ["mean_bits"], 1.0, ENTRY.expires_at_ms)
    assert suppressed(ENTRY, ["mean_bits"], 1.0, ENTRY.expires_at_ms - 1)


def test_a_zero_margin_suppresses_only_up_to_the_allowed_strength():
    entry = AllowEntry(frozenset({"mean_bits"}), 1.2, T0_MS, T0_MS + DAY_MS, "f1", 0.0)
    assert suppressed(entry, ["mean_bits"], 1.2, T0_MS) and not suppressed(entry, ["mean_bits"], 1.2001, T0_MS)
