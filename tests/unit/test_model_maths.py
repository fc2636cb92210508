"""Vocabulary, sessions, counting, smoothing, surprisal and calibration."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from clickguard.model.calibration import calibrate
from clickguard.model.sessions import SESSION_ID_QUIET_MS, previous_states, session_starts
from clickguard.model.transitions import count_transitions, smoothed_probabilities, surprisal_bits, to_microbits
from clickguard.model.vocabulary import OTHER_INDEX, START_INDEX, build_vocabulary, encode, index_of


def test_vocabulary_ranked_by_frequency_with_cap_and_min_count():
    counts = Counter({"view": 50, "search": 50, "buy": 10, "chat": 3, "rare": 1})
    assert build_vocabulary(counts, max_states=5, min_count=2) == ("START", "OTHER", "search", "view", "buy")
    assert build_vocabulary(counts, max_states=512, min_count=5) == ("START", "OTHER", "search", "view", "buy")
    with pytest.raises(ValueError, match="max_states"):
        build_vocabulary(counts, max_states=2, min_count=1)


def test_encode_maps_unknown_tokens_to_other():
    index = index_of(("START", "OTHER", "view"))
    assert encode(["view", "nope"], index).tolist() == [2, OTHER_INDEX]


def test_session_starts_on_user_gap_and_session_id():
    users = np.array([0, 0, 0, 0, 1, 1, 1])
    quiet = SESSION_ID_QUIET_MS
    ts = np.array([0, 10, 5000, 5010, 5020, 5020 + quiet, 5021 + quiet])
    sids = np.array([-1, -1, -1, 7, 7, 8, 9])
    starts = session_starts(users, ts, sids, gap_ms=10 * quiet)
    # new user at 0 and 4; gap at 2 (gap_ms 1000 there: below); sid -1 -> 7 does not split (a missing id never
    # splits); 7 -> 8 after a quiet minute splits; 8 -> 9 a millisecond later does not
    assert session_starts(users[:4], ts[:4], sids[:4], gap_ms=1000).tolist() == [True, False, True, False]
    assert starts.tolist() == [True, False, False, False, True, True, False]
    prev = previous_states(np.array([2, 3, 4, 5, 6, 7, 8]), starts, START_INDEX)
    assert prev.tolist() == [0, 2, 3, 4, 0, 0, 7]


def test_count_transitions_matches_a_loop():
    rng = np.random.default_rng(3)
    prev, curr = rng.integers(0, 7, 1000), rng.integers(0, 7, 1000)
    expected = np.zeros((7, 7), dtype=np.int64)
    for a, b in zip(prev, curr, strict=True):
        expected[a, b] += 1
    assert np.array_equal(count_transitions(prev, curr, 7), expected)


def test_smoothing_rows_sum_to_one_and_follow_the_formula():
    counts = np.array([[0, 0, 0], [3, 1, 0], [0, 0, 9]])
    p = smoothed_probabilities(counts, alpha=0.5)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[1, 0] == pytest.approx((3 + 0.5) / (4 + 1.5))
    assert p[0, 2] == pytest.approx(1 / 3)  # an empty row is uniform
    with pytest.raises(ValueError):
        smoothed_probabilities(counts, alpha=0)


def test_surprisal_is_minus_log2_in_float32():
    bits = surprisal_bits(np.array([[0.5, 0.25], [1.0, 0.125]]))
    assert bits.dtype == np.float32
    assert bits.tolist() == [[1.0, 2.0], [0.0, 3.0]]
    assert to_microbits(bits).tolist() == [[1_000_000, 2_000_000], [0, 3_000_000]]


def test_calibration_quantiles_and_flag_rate():
    transitions = np.array([1, 2] + [5] * 100)
    total = np.concatenate([[10**9, 10**9], np.arange(1, 101) * 1_000_000])  # bits 1..100
    th = calibrate(transitions, total, min_events=3, mean_quantile=0.9, total_quantile=0.95)
    assert th.eligible_sessions == 100  # the two short sessions are ignored
    assert th.total_bits == pytest.approx(np.quantile(np.arange(1, 101), 0.95))
    assert th.mean_bits == pytest.approx(np.quantile(np.arange(1, 101) / 5, 0.9))
    assert th.flag_rate == pytest.approx(0.10)  # mean and total rank sessions the same way here


def test_calibration_needs_eligible_sessions():
    with pytest.raises(ValueError, match="at least 3"):
        calibrate(np.array([1, 2]), np.array([1, 2]), 3, 0.9, 0.9)


def test_thesis_score_equals_two_to_minus_mean_bits():
    p = np.array([0.5, 0.1, 0.9, 0.02])
    thesis = math.exp(np.mean(np.log(p)))
    mean_bits = float(np.mean(-np.log2(p)))
    assert thesis == pytest.approx(2 ** (-mean_bits))
