"""Session signals: the vectorised batch fold equals the reference fold, for any batch split."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.model.evidence import PRIOR_GAPS, wilson_lower
from clickguard.model.signals import (
    FEATURES,
    GAP_CLIP_MS,
    MASK_BITS,
    SignalColumns,
    SignalState,
    feature_matrix,
    fold_batch,
    fold_with_prefix,
    session_features,
    signal_values,
    token_bit,
    update,
    update_raw,
)
from tests.unit.test_evidence import pooled_cv

TOKENS = ["view", "login", "login#fail", "buy", "search", "pay#fail", "a", "b"]

# An event: (session, ts offset ms, token). Offsets include duplicates, reordering and long gaps.
events_st = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.one_of(st.integers(0, 3_000), st.integers(0, 600_000), st.integers(0, 2 * GAP_CLIP_MS)),
        st.sampled_from(TOKENS),
    ),
    max_size=40,
)


def _reference(events, n_sessions, prior=None):
    states = [prior.state(i) for i in range(n_sessions)] if prior is not None else [SignalState()] * n_sessions
    for s, ts, tok in events:
        states[s] = update(states[s], tok, ts)
    return states


def _arrays(events):
    s = np.array([e[0] for e in events], dtype=np.int64)
    ts = np.array([e[1] for e in events], dtype=np.int64) + 1_700_000_000_000
    toks = [e[2] for e in events]
    return s, ts, toks


def _fold(events, n_sessions, prior=None):
    s, ts, toks = _arrays(events)
    fail = np.array([t.endswith("#fail") for t in toks], dtype=bool)
    bits = np.array([token_bit(t) for t in toks], dtype=np.int64)
    return fold_batch(s, ts, fail, bits, n_sessions, prior)


def _shifted(events):
    return [(s, ts + 1_700_000_000_000, tok) for s, ts, tok in events]


@settings(max_examples=300, deadline=None)
@given(events_st)
def test_vectorised_fold_equals_the_reference_fold(events):
    cols = _fold(events, 5)
    assert [cols.state(i) for i in range(5)] == _reference(_shifted(events), 5)


@settings(max_examples=300, deadline=None)
@given(events_st, st.integers(0, 40))
def test_splitting_the_events_into_two_batches_gives_the_same_states(events, cut):
    one = _fold(events, 5)
    two = _fold(events[cut:], 5, _fold(events[:cut], 5))
    assert [two.state(i) for i in range(5)] == [one.state(i) for i in range(5)]
    prior = SignalColumns.of_states(_reference(_shifted(events[:cut]), 5))
    assert _reference(_shifted(events[cut:]), 5, prior) == _reference(_shifted(events), 5)


@settings(max_examples=200, deadline=None)
@given(events_st)
def test_signal_values_match_the_feature_matrix(events):
    cols = _fold(events, 5)
    matrix = feature_matrix(cols)
    for i in range(5):
        values = signal_values(cols.state(i))
        assert list(values) == list(FEATURES)
        for got, want in zip(values.values(), matrix[i].tolist(), strict=True):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_features_of_a_hand_built_session():
    t0 = 1_700_000_080_000  # 40 s into a minute
    events = [("login#fail", t0), ("login", t0 + 500), ("view", t0 + 300), ("view", t0 + 2_500), ("buy", t0 + 22_500)]
    state = reduce(lambda s, e: update(s, e[0], e[1]), events, SignalState())
    assert state.events == 5 and state.failures == 1
    assert state.max_ts_ms == t0 + 22_500 and state.first_ts_ms == t0
    assert state.pos_gaps == 3 and state.sum_gap_ms == 500 + 2_000 + 20_000  # the out-of-order event's gap is 0
    assert state.subsecond == 2  # 500 ms and the 0 of the reordered event
    assert state.peak_per_minute == 4  # t0 .. t0 + 2.5 s share a minute; t0 + 22.5 s starts the next
    v = signal_values(state)
    gaps = np.array([500, 2_000, 20_000])
    assert v["gap_cv"] == pytest.approx(pooled_cv(gaps))
    assert v["duration_s"] == pytest.approx(22.5)
    assert v["subsecond_share"] == pytest.approx(float(wilson_lower(np.array(2), np.array(4))))
    assert v["fail_share"] == pytest.approx(float(wilson_lower(np.array(1), np.array(5))))
    distinct = len({token_bit(t) for t, _ in events})
    assert v["distinct_per_event"] == pytest.approx(distinct / 5)


def test_undefined_features_are_nan_and_a_metronome_has_only_the_priors_cv():
    single = update(SignalState(), "view", 1_000)
    v = signal_values(single)
    assert math.isnan(v["gap_cv"]) and math.isnan(v["subsecond_share"]) and v["events"] == 1
    metronome = reduce(lambda s, i: update_raw(s, 1_000 + 2_000 * i, False, 3), range(10), SignalState())
    assert signal_values(metronome)["gap_cv"] == pytest.approx(math.sqrt(PRIOR_GAPS / (9 + PRIOR_GAPS)))
    assert signal_values(metronome)["distinct_per_event"] == pytest.approx(0.1)


def test_gaps_are_clipped_and_token_bits_are_stable():
    state = update(update(SignalState(), "a", 0), "a", 10 * GAP_CLIP_MS)
    assert state.sum_gap_ms == GAP_CLIP_MS and state.sum_sq_gap_ms == GAP_CLIP_MS**2
    assert token_bit("view") == token_bit("view") and 0 <= token_bit("view") < 64


def test_session_features_from_tokens():
    s = np.array([0, 1, 0, 1])
    ts = np.array([0, 0, 1_000, 100])
    cols, x = session_features(s, ts, ["a", "b#fail", "a", "b#fail"], 2)
    assert x.shape == (2, len(FEATURES))
    assert cols.failures.tolist() == [0, 2]
    assert x[:, FEATURES.index("fail_share")].tolist() == [0.0, float(wilson_lower(np.array(2), np.array(2)))]
    assert fold_batch(s[:0], ts[:0], s[:0].astype(bool), s[:0], 2).events.tolist() == [0, 0]


def _same_rows(got, want):
    return all(
        (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, rel=1e-12, abs=1e-12)
        for g, w in zip(got, want, strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(events_st, st.integers(0, 40))
def test_each_events_prefix_features_equal_the_reference_state_after_it(events, cut):
    prior_cols = _fold(events[:cut], 5)
    rest = events[cut:]
    s, ts, toks = _arrays(rest)
    fail = np.array([t.endswith("#fail") for t in toks], dtype=bool)
    bits = np.array([token_bit(t) for t in toks], dtype=np.int64)
    final, prefix = fold_with_prefix(s, ts, fail, bits, 5, prior_cols)
    assert [final.state(i) for i in range(5)] == [
        fold_batch(s, ts, fail, bits, 5, prior_cols).state(i) for i in range(5)
    ]
    states = [prior_cols.state(i) for i in range(5)]
    for row, (sess, t, tok) in zip(prefix, _shifted(rest), strict=True):
        states[sess] = update(states[sess], tok, t)
        assert _same_rows(row.tolist(), list(signal_values(states[sess]).values()))


def test_a_token_on_the_masks_top_bit_round_trips_through_the_columns():
    assert token_bit("t146") == MASK_BITS - 1  # bit 63: an unsigned mask that no int64 holds
    state = update(update(SignalState(), "t146", 0), "view", 1_000)
    cols = SignalColumns.of_states([state, SignalState()])
    assert cols.state(0) == state and cols.token_mask.dtype == np.uint64
    s, ts, _ = _arrays([(0, 2_000, "t146")])
    folded = fold_batch(s, ts, np.zeros(1, bool), np.array([token_bit("t146")]), 2, cols)
    assert folded.state(0).events == 3 and folded.state(0).token_mask == state.token_mask
