"""The HTML report: self-contained, every figure present, hostile text escaped."""

from __future__ import annotations

import itertools
import re

import numpy as np

from clickguard.report import ReportData, render, write
from clickguard.report.html import top_states


def _data(**over):
    tokens = ["START", "OTHER", "view_item", "search", "login#fail"]
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=5)
    base = dict(
        title="run <1>",
        model_version="v1",
        thresholds={"threshold": 21.5, "budget": 0.02, "min_events": 3},
        tokens=tokens,
        probabilities=probs,
        session_scores={"buyer": [1.0, 1.5, 2.0, 2.2], "scraper": [3.9, 4.2]},
        flags_over_time=[("00:00", 1), ("01:00", 0), ("02:00", 4)],
        top_flagged=[
            {
                "user": "<script>alert(1)</script>",
                "user_type": "scraper",
                "score": 30.5,
                "reasons": ["total_bits"],
                "signals": [("total_bits", 900.0, 9.5), ("events", 400.0, 8.0)],
                "top": [("START", "login#fail", 6.5), ("search", "view_item", 1.0)],
            }
        ],
        quality={
            "per_type": {"buyer": {"flagged": 2, "total": 100}, "scraper": {"flagged": 9, "total": 10}},
            "precision": 0.82,
            "recall": 0.9,
        },
        throughput={"records per second": 1234.5},
    )
    base.update(over)
    return ReportData(**base)


def test_report_has_all_sections_and_figures(tmp_path):
    path = write(_data(), tmp_path / "r" / "report.html")
    html = path.read_text()
    for anchor in ("id='quality'", "id='matrix'", "id='scores'", "id='flags'", "id='top'"):
        assert anchor in html
    assert html.count("<svg") == 3
    assert "START -&gt; login#fail (6.5 b)" in html
    assert "0.820" in html and "1,234.500" in html and "v1" in html
    assert "total_bits 900 (9.5 b); events 400 (8.0 b)" in html and "30.500" in html


def test_report_is_self_contained_and_escaped():
    html = render(_data())
    assert "<script" not in html  # no scripts at all, and the hostile user id is escaped
    assert "&lt;script&gt;" in html
    assert not re.search(r'(src|href)\s*=\s*["\']?https?:', html)
    assert "run &lt;1&gt;" in html


def test_empty_inputs_still_render():
    html = render(_data(session_scores={}, flags_over_time=[], top_flagged=[], quality=None, throughput={}))
    assert "no data" in html and "no flags" in html


def test_top_states_keeps_start_and_caps():
    sub, labels = top_states(_data(), n=3)
    assert labels[0] == "START" and len(labels) == 3 and sub.shape == (3, 3)


def test_user_scores_and_the_precision_recall_curve_are_drawn_where_labels_exist():
    with_labels = render(
        _data(
            user_scores={"buyer": [0.2, 0.4, 0.9], "scraper": [1.4, 2.5]},
            pr_curve=[(0.5, 1.0), (1.0, 0.8)],
            average_precision=0.9,
        )
    )
    assert "id='user-scores'" in with_labels and "id='pr'" in with_labels
    assert "average precision 0.900" in with_labels and with_labels.count("<svg") == 5
    without = render(_data(user_scores={"all users": [0.2, 1.3]}))
    assert "id='user-scores'" in without and "id='pr'" not in without


def test_each_signal_gets_a_histogram_by_user_type():
    html = render(_data(signal_values={"fail_share": {"buyer": [0.0, 0.1], "stuffer": [0.9, 0.95]}, "gap_cv": {}}))
    assert "id='signals'" in html and "<h3>fail_share</h3>" in html and "<h3>gap_cv</h3>" not in html
    assert html.count("<svg") == 4


def test_the_curve_and_its_average_precision_follow_the_definition():
    from sklearn.metrics import average_precision_score

    from clickguard.sim.quality import average_precision, precision_recall_curve

    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.1
    scores = np.round(rng.random(300) + labels * 0.5, 1)  # many ties
    assert abs(average_precision(labels, scores) - average_precision_score(labels, scores)) < 1e-12
    curve = precision_recall_curve(labels, scores)
    assert curve[-1][0] == 1.0 and all(a[0] <= b[0] for a, b in itertools.pairwise(curve))
    assert average_precision([True, False], [1.0, 0.0]) == 1.0


def test_a_histogram_of_negative_scores_with_a_negative_cut_and_non_finite_values_draws_them_all():
    """A blended score (z-scores and log-odds) is often below 0, and so may its cut be; a score that is not finite
    (an unjudged user) is left out rather than failing the report."""
    from clickguard.report.svg import histograms

    series = {"buyer": [-4.2, -3.9, -3.1, float("-inf")], "scraper": [-0.5, 1.5, float("nan")]}
    svg = histograms(series, "user score", "score", marker=-1.08)
    assert "buyer (n=3)" in svg and "scraper (n=2)" in svg
    marker_x = float(re.search(r'<line x1="([-\d.]+)"[^>]*stroke-dasharray', svg)[1])
    assert 40 < marker_x < 40 + 640 - 200  # the cut is drawn inside the plot, between the two series
    assert "no data" in histograms({"buyer": [float("inf")]}, "user score", "score")
