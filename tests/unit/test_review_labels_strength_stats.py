"""Labels from decisions, the strength of a flag, decisions per day: the small pure parts of the review loop."""

from __future__ import annotations

import json

import pytest

from clickguard.review.decision import Verdict
from clickguard.review.labels import decision_lines, latest_labels
from clickguard.review.stats import overall, per_day
from clickguard.review.strength import flag_reasons, flag_strength, score_strength, v1_strength
from tests.review_support import DAY_MS, T0_MS, decision, flag, flag_v2


def lines(*records):
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def labels(*records):
    return latest_labels(decision_lines(lines(*records)))


def test_the_latest_decision_per_user_gives_its_label():
    got = labels(
        {"user_key": "a", "decision": "block", "decided_at": "2025-11-24T10:00:00Z"},
        {"user_key": "a", "decision": "allow", "decided_at": "2025-11-24T11:00:00Z"},
        {"user_key": "b", "decision": "allow", "decided_at": "2025-11-24T10:00:00Z"},
        {"user_key": "b", "decision": "fraud", "decided_at": "2025-11-24T12:00:00Z"},
        {"user_key": "c", "decision": "cleared", "decided_at": "2025-11-24T10:00:00Z"},
    )
    assert got.blocked == {"b"} and got.allowed == {"a", "c"}


def test_times_compare_as_instants_not_as_strings():
    got = labels(
        {"user_key": "a", "decision": "allow", "decided_at": "2025-11-24T10:00:00.500Z"},
        {"user_key": "a", "decision": "block", "decided_at": "2025-11-24T10:00:00Z"},
    )
    assert got.allowed == {"a"}  # as strings, "…00Z" would sort after "…00.500Z"


def test_on_a_tie_the_line_read_later_wins_and_junk_lines_are_skipped():
    body = (
        lines(
            {"user_key": "a", "decision": "block", "decided_at": "2025-11-24T10:00:00Z"},
            {"user_key": "a", "decision": "allow", "decided_at": "2025-11-24T10:00:00Z"},
            {"user_key": "b", "decision": "maybe"},
            {"decision": "block"},
        )
        + b"not json\n"
    )
    got = latest_labels(decision_lines(body))
    assert got.allowed == {"a"} and not got.blocked


def test_a_decision_log_object_is_a_label_line():
    d = decision(verdict=Verdict.BLOCK)
    assert latest_labels(decision_lines((d.to_json() + "\n").encode())).blocked == {"u-1"}


def test_strength_is_the_score_in_units_of_its_threshold():
    assert score_strength(45.0, 30.0) == pytest.approx(1.5)
    assert score_strength(float("inf"), 30.0) is None and score_strength(1.0, float("nan")) is None


@pytest.mark.parametrize("threshold", [-3.0, -1.05, 0.0, 0.4, 1.0, 12.0])
def test_strength_is_one_at_the_threshold_and_grows_with_the_score_whatever_its_sign(threshold):
    """A blended score's threshold can be 0 or negative: strength still starts at 1 and rises with the score, so
    the allow-list's margin means "stronger" (``score / threshold`` would give none, or one that falls)."""
    at = score_strength(threshold, threshold)
    above = [score_strength(threshold + d, threshold) for d in (0.5, 1.0, 2.0)]
    assert at == pytest.approx(1.0)
    assert at < above[0] < above[1] < above[2]
    assert score_strength(threshold + 1.0, threshold) == pytest.approx(1.0 + 1.0 / max(abs(threshold), 1.0))
    assert v1_strength(5.0, 30.0, 4.0, 40.0) == pytest.approx(1.25)
    assert v1_strength(2.0, 60.0, 4.0, 40.0) == pytest.approx(1.5)


def test_a_flags_strength_by_its_schema_or_its_own_field():
    assert flag_strength(flag_v2(score=36.0, threshold=24.0)) == pytest.approx(1.5)
    assert flag_strength(flag_v2(score=1.5, threshold=-0.5)) == pytest.approx(3.0)
    assert flag_strength(flag()) == pytest.approx(1.25)
    assert flag_strength(flag(strength=2.5)) == 2.5
    assert flag_strength(flag(thresholds={"mean_bits": 0, "total_bits": 40.0})) is None
    assert flag_strength(flag(mean_bits="5")) is None
    assert flag_strength({"reasons": []}) is None
    assert flag_reasons(flag(reasons=("total_bits", "mean_bits"))) == ("mean_bits", "total_bits")
    assert flag_reasons({"reasons": "mean_bits"}) is None


def test_decisions_per_day_count_each_flag_once_by_its_latest_decision():
    decisions = [
        decision(flag_id="f1", verdict=Verdict.BLOCK, at_ms=T0_MS),
        decision(flag_id="f2", verdict=Verdict.BLOCK, at_ms=T0_MS),
        decision(flag_id="f3", verdict=Verdict.ALLOW, at_ms=T0_MS),
        decision(flag_id="f4", verdict=Verdict.BLOCK, at_ms=T0_MS + DAY_MS),
        decision(flag_id="f2", verdict=Verdict.ALLOW, at_ms=T0_MS + DAY_MS),  # changed its mind on day 2
    ]
    days = per_day(decisions)
    assert [(t.day, t.block, t.allow) for t in days] == [("2025-11-24", 1, 1), ("2025-11-25", 1, 1)]
    assert days[0].confirmed_share == 0.5
    total = overall(days)
    assert (total.decided, total.confirmed_share) == (4, 0.5)
    assert per_day([]) == [] and overall([]).confirmed_share is None
