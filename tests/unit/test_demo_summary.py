"""The demo's terminal summary: users, not flag messages, are what a reviewer counts."""

from __future__ import annotations

import io
from types import SimpleNamespace

from clickguard.cli.demo_cmd import print_summary


def flag(user, score):
    return {
        "user_key": user,
        "score": score,
        "reasons": ["fail_share"],
        "signals": [
            {"name": "fail_share", "value": 0.5, "typical": 0.0, "bits": 7.25},
            {"name": "gap_cv", "value": 0.1, "typical": 0.9, "bits": 3.0},
        ],
        "transitions": 6,
        "top_transitions": [{"from": "login#fail", "to": "login", "bits": 7.25}],
    }


def test_summary_lists_each_user_once_and_the_quality_table():
    result = SimpleNamespace(
        flags=[flag("u1", 5.0), flag("u1", 6.0), flag("u2", 4.5)],
        per_type={"scraper": {"flagged": 2, "total": 2}, "buyer": {"flagged": 0, "total": 10}},
        precision=1.0,
        recall=1.0,
        throughput={"pipeline records/s": 1234.0},
        model_version="v1",
        thresholds={"threshold": 24.5, "budget": 0.02},
        report_path="demo-out/report.html",
    )
    out = io.StringIO()
    print_summary(result, out)
    text = out.getvalue()
    assert "3 flags for 2 users" in text
    assert text.count("u1 ") == 1 and "fail_share 0.5 (0), 7.2 b; gap_cv 0.1 (0.9), 3.0 b" in text
    assert "detector v2 threshold 24.5, budget 0.02" in text
    assert "scraper                  2 / 2" in text and "precision 1.000   recall 1.000" in text
    assert "1,234" in text and "demo-out/report.html" in text


def test_summary_shows_each_campaign_alert():
    alert = {
        "members": 22,
        "signature": "withdraw_funds#fail",
        "bucket_start": "2026-11-28T14:00:00.000Z",
        "threshold": 20,
        "sample_user_keys": ["ring-1", "ring-2", "ring-3", "ring-4"],
    }
    result = SimpleNamespace(
        flags=[], per_type={}, throughput={}, model_version="v1", thresholds={}, report_path="r", group_flags=[alert]
    )
    out = io.StringIO()
    print_summary(result, out)
    assert "campaign alert: 22 users" in out.getvalue() and "withdraw_funds#fail" in out.getvalue()
    assert "ring-3" in out.getvalue() and "ring-4" not in out.getvalue()
