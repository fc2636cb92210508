"""Offline quality on a small simulation with the real train / score_batch and the consumer's rule (detector v2).

With reviewers' blocks kept out of training (the thesis's good-users training set) the default simulation
reached issue 5's targets with the v1 rule (recall 0.903, precision 0.812 at 3000 users, seed 7); this smaller,
faster run with detector v2 (cut at a target precision of 0.8 on held-out labels) measures recall 0.833 and
precision 0.833 (4 of 6 takeovers), so its floors are set just under that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from clickguard.sim import SimConfig, simulate
from clickguard.sim.catalog import is_abnormal
from clickguard.sim.quality import batch_bounds, evaluate


@pytest.fixture(scope="module")
def days():
    return simulate(SimConfig(users=800, seed=7))


@pytest.fixture(scope="module")
def quality(days):
    return evaluate(*days, blocked_share=1.0)


def test_flags_abnormal_users_far_more_often_than_ordinary_ones(quality):
    per = quality.per_type
    abnormal = sum(per[t].flagged for t in ("scraper", "spammer", "account_takeover", "credential_stuffer"))
    abnormal_total = sum(per[t].total for t in ("scraper", "spammer", "account_takeover", "credential_stuffer"))
    benign = per["buyer"].flagged + per["seller"].flagged
    benign_total = per["buyer"].total + per["seller"].total
    assert abnormal / abnormal_total > 20 * benign / benign_total
    assert per["account_takeover"].flagged / per["account_takeover"].total >= 0.6
    assert per["credential_stuffer"].flagged / per["credential_stuffer"].total >= 0.8


def test_quality_floors(quality):
    assert quality.recall >= 0.8
    assert quality.precision >= 0.6


def test_first_training_on_raw_traffic_is_weaker_but_precise(days, quality):
    """Contamination: abusers in the training day teach the model that their habits are normal. Detector v2's
    robust fits win much of it back (measured with the consumer's own rule: recall 0.50 with precision 1.0 here,
    against 0.89 / 0.68 with every abuser blocked), not all."""
    raw = evaluate(*days, blocked_share=0.0)
    assert raw.recall < quality.recall - 0.2
    assert raw.recall >= 0.4 and raw.precision >= 0.9
    assert quality.true_positives + quality.false_negatives == sum(
        quality.per_type[t].total for t in ("scraper", "spammer", "account_takeover", "credential_stuffer")
    )


def test_summary_and_sessions_are_consistent(quality):
    s = quality.summary()
    assert s["detector"]["min_events"] == quality.model.params.min_events
    # A cut on the blend's scale (z-scores and log-odds) when a supervised part is blended in: any sign
    assert math.isfinite(s["detector"]["threshold"]) and 0 < s["detector"]["budget"] < 1
    assert s["detector"]["threshold"] == pytest.approx(quality.model.detector["threshold"], abs=1e-3)
    assert sum(n for _, n, _, _ in quality.sessions) == quality.events_scored  # every event in exactly one session
    flagged = [o for o in quality.users.values() if o.flagged]
    assert all(o.reasons and o.first_flag_ms for o in flagged)


def test_average_precision_ranks_by_score_with_unscored_users_last(quality):
    """The summary's AP is the ranking's: recomputed here by hand from the users' scores and the truth."""
    known = sorted((o for o in quality.users.values() if o.user_type is not None), key=lambda o: -o.score)
    hits, total = 0, 0.0
    for rank, o in enumerate(known, 1):
        if is_abnormal(o.user_type):
            hits += 1
            total += hits / rank
    by_hand = total / hits
    assert quality.summary()["average_precision"] == pytest.approx(by_hand, abs=1e-3)
    assert 0.5 < by_hand <= 1.0


def test_batch_bounds_split_on_time_and_size():
    ts = np.array([0, 1000, 9999, 10_000, 10_001, 25_000])
    assert batch_bounds(ts, 10, 100) == [(0, 3), (3, 5), (5, 6)]
    assert batch_bounds(ts, 10, 2) == [(0, 2), (2, 3), (3, 5), (5, 6)]


def test_tally_and_block_list_accept_labels_from_a_users_own_files():
    from clickguard.sim.quality import precision, recall, sample_block_list, tally

    truth = {"a": "fraud", "b": "good", "c": "scraper", "d": "buyer", "e": "chargeback"}
    per_type, tp, fp, fn = tally({"a", "b", "zz"}, truth)
    assert (tp, fp, fn) == (1, 2, 2)  # b is benign; zz is unknown to the truth and counts against precision
    assert per_type["fraud"].flagged == 1 and per_type["chargeback"].total == 1
    assert (precision(tp, fp), recall(tp, fn)) == (1 / 3, 1 / 3)
    assert sample_block_list(truth, 1.0) == ["a", "c", "e"]
