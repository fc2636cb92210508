"""Detector v2 as the trainer fits it: the cut meets the operator's alert budget on the window it was trained on,
measured the way the consumer scores (each user's highest score after any event), and a detector of another
format is refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clickguard.model import detector
from clickguard.model.model import ModelParams
from clickguard.sim import SimConfig, simulate
from clickguard.sim.quality import columns_of
from clickguard.training.pipeline import train


@pytest.fixture(scope="module")
def window():
    return columns_of(simulate(SimConfig(users=500, seed=11, days=1))[0])


def _trained(window, **params):
    model, _ = train(
        window,
        ModelParams(**params),
        window_start="2019-01-01T00:00:00Z",
        window_end="2019-01-02T00:00:00Z",
        created_at="2019-01-02T00:00:00Z",
        min_sessions=10,
    )
    return model


def _flagged_share(model, window) -> float:
    table = detector.scoring_table(model)
    names, peaks = detector.peak_scores(table, model.params.gap_ms, detector.on_time(model, window))
    return float(np.mean(peaks > table.scorer.threshold)), len(names)


@pytest.mark.parametrize("budget", [0.02, 0.05])
def test_without_labels_the_cut_flags_the_alert_budget_of_the_windows_users(window, budget):
    model = _trained(window, alert_budget=budget)
    share, users = _flagged_share(model, window)
    assert share <= budget and share >= budget - 2 / users  # floor(budget * users) of them, ties aside
    operating = model.stats["detector"]["operating"]
    assert operating["rule"] == "budget" and operating["budget"] == budget


def test_a_detector_of_another_format_is_refused_with_the_reason(window):
    model = _trained(window)
    older = {k: v for k, v in model.detector.items() if k != "format"}
    with pytest.raises(ValueError, match="format 1 is not this release's"):
        detector.scoring_table(replace(model, detector=older))
    assert detector.scoring_table(model).scorer is not None
