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


def test_a_window_scored_in_chunks_of_whole_users_scores_as_one_call(window, monkeypatch):
    """The trainer scores a large window a few whole users at a time (memory bounded by the chunk, not the window);
    every event's score, and so the fitted model, must be what one call over the window gives."""
    from clickguard.model import crossfit

    model = _trained(window)
    sess = detector.sessions_of(model, window)
    events = crossfit.WindowEvents.of(detector.on_time(model, window), sess.names)
    scorer = detector.live(detector.Detector.from_dict(model.detector), model)
    some = np.flatnonzero(events.owner % 3 == 0)  # the fold-like subset the cross-fitting scores
    whole = [crossfit.window_scores(model, scorer, events), crossfit.window_scores(model, scorer, events, some)]
    monkeypatch.setattr(crossfit, "CHUNK_EVENTS", 97)
    assert len(crossfit.user_chunks(events.owner, len(events.names))) > 20
    np.testing.assert_array_equal(crossfit.window_scores(model, scorer, events), whole[0])
    np.testing.assert_array_equal(crossfit.window_scores(model, scorer, events, some), whole[1])
    assert np.isfinite(whole[0]).sum() > 100  # judged events, not only the -inf of short prefixes
    assert _trained(window).version == model.version  # the chunked fit publishes the same model
