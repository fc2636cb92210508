"""The report's behaviour groups: each group's size, blocked and flagged users, typical actions and transitions;
the flagged users that fit none; the campaign alerts; nothing without groups."""

from __future__ import annotations

import numpy as np

from clickguard.report import ReportData, render
from clickguard.report.groups import behaviour_groups

GROUPS = {
    "limit": 4.5,
    "stats": {"grouped_share": 0.99},
    "groups": [
        {
            "id": "g1",
            "users": 1226,
            "blocked": 50,
            "typical_tokens": [["search", 0.23], ["view_item", 0.21]],
            "typical_transitions": [["search", "view_item", 0.14]],
        },
        {"id": "g2", "users": 609, "blocked": 43, "typical_tokens": [["chat_open", 0.2]], "typical_transitions": []},
    ],
}


def flag(user, group, emerging=None):
    return {"user_key": user, "group": group, "group_distance": 1.0, "emerging_group": emerging, "score": 3.0}


ALERT = {
    "kind": "behaviour_group",
    "signature": "withdraw_funds#fail",
    "bucket_start": "2026-11-28T14:00:00.000Z",
    "members": 22,
    "threshold": 20,
    "training_peak": 1,
    "sample_user_keys": ["ring-1", "ring-2"],
}


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


def test_each_group_shows_its_size_blocked_flagged_and_typical_behaviour():
    messages = [flag("a", "g1"), flag("a", "g1"), flag("b", "g1"), flag("c", "g2"), flag("r", "g1", "OTHER"), ALERT]
    section = render(data(behaviour_groups=behaviour_groups(GROUPS, messages))).split("id='groups'", 1)[1]
    assert '<td>g1</td><td class="n">1,226</td><td class="n">50</td><td class="n">2</td>' in section
    assert '<td>g2</td><td class="n">609</td><td class="n">43</td><td class="n">1</td>' in section
    assert "search 23%; view_item 21%" in section and "search -&gt; view_item 14%" in section
    assert '<td>OTHER</td><td class="n">1</td>' in section  # flagged, and fits no group
    assert '<td>withdraw_funds#fail</td><td>2026-11-28T14:00:00.000Z</td><td class="n">22</td>' in section
    assert "ring-1, ring-2" in section


def test_without_groups_the_section_is_left_out():
    assert behaviour_groups(None, [flag("a", None)]) == {}
    assert "id='groups'" not in render(data())
