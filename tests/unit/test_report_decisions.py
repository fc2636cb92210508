"""The report's section on reviewers' decisions: per day, the share confirmed, and nothing when there are none."""

from __future__ import annotations

import numpy as np

from clickguard.report import ReportData, render
from clickguard.review.decision import Verdict
from clickguard.review.stats import per_day
from tests.review_support import DAY_MS, T0_MS, decision


def data(**over):
    base = dict(
        title="t",
        model_version="v1",
        thresholds={"threshold": 1.0},
        tokens=["START", "OTHER"],
        probabilities=np.full((2, 2), 0.5),
        session_scores={},
        flags_over_time=[],
        top_flagged=[],
    )
    base.update(over)
    return ReportData(**base)


def test_decisions_per_day_and_the_share_confirmed_are_shown():
    days = per_day(
        [
            decision(flag_id="a", verdict=Verdict.BLOCK, at_ms=T0_MS),
            decision(flag_id="b", verdict=Verdict.BLOCK, at_ms=T0_MS),
            decision(flag_id="c", verdict=Verdict.BLOCK, at_ms=T0_MS),
            decision(flag_id="d", verdict=Verdict.ALLOW, at_ms=T0_MS),
            decision(flag_id="e", verdict=Verdict.ALLOW, at_ms=T0_MS + DAY_MS),
        ]
    )
    html = render(data(decisions=days))
    section = html.split("id='decisions'", 1)[1]
    assert "decisions per day" in section and "<svg" in section
    assert '<td>2025-11-24</td><td class="n">4</td><td class="n">3</td><td class="n">1</td>' in section
    assert '<td class="n">0.750</td>' in section and '<td class="n">0.000</td>' in section  # 3 of 4; 0 of 1
    assert '<td>all</td><td class="n">5</td>' in section and '<td class="n">0.600</td>' in section


def test_without_decisions_the_section_is_left_out():
    assert "id='decisions'" not in render(data())
