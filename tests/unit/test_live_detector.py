"""Detector v2 in the stream: the score ``score_batch`` reports after each event equals the reference state's
score (``score_state``) at that event, for any batching, with and without a supervised part."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.flagging import explain
from clickguard.model import detector
from clickguard.model.live import REASON_BITS, SUPERVISED, SUPERVISED_EXTRA, LiveDetector, reasons
from clickguard.model.scoring import EventBatch, ScoringTable, apply_event, score_batch, score_state, scored_events
from clickguard.model.supervised import BlendFit, BlendScale, fit_supervised
from clickguard.model.tails import fit_tails
from clickguard.model.transitions import smoothed_probabilities, surprisal_bits, to_microbits

TOKENS = ("START", "OTHER", "view", "login", "login#fail", "buy")
GAP_MS = 1_800_000
T0 = 1_700_000_000_000


def _tables(seed: int):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.gamma(2.0, 1.0, (400, 2)), rng.poisson(5, (400, 3)), rng.random((400, 5))])
    return fit_tails(x, detector.DIRECTIONS, n_quantiles=64)


def _blend(seed: int) -> BlendFit:
    """A forest on random inputs of the live width (bits, log events, LLR total and mean): many thresholds, so
    the reference and the stream must agree at each comparison."""
    rng = np.random.default_rng(seed)
    k = len(detector.FEATURES) + len(SUPERVISED_EXTRA)
    x = np.column_stack([rng.exponential(2.0, (300, len(detector.FEATURES))), rng.normal(0.0, 3.0, (300, 3))])
    forest = fit_supervised(x, x[:, 0] + x[:, -2] + rng.normal(size=300) > 3.0)
    assert forest.n_features == k
    return BlendFit(forest, BlendScale(3.0, 2.0, 0.5, 1.5), 0.5, False, 0.5, 0.6, 10, 3)


def _table(supervised: bool, min_events: int = 3) -> ScoringTable:
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 20, (len(TOKENS), len(TOKENS)))
    microbits = to_microbits(surprisal_bits(smoothed_probabilities(counts, 0.5)))
    scorer = LiveDetector(detector.FEATURES, _tables(1), _blend(2) if supervised else None)
    # a signed "blocked vs good" table, as a model with labels carries (``model.llr``)
    llr = rng.integers(-3_000_000, 3_000_000, (len(TOKENS), len(TOKENS))) if supervised else None
    return ScoringTable(TOKENS, microbits, "v-test", min_events, scorer, llr)


events_st = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["view", "login", "login#fail", "buy", "zzz"]),
        st.one_of(st.integers(0, 2_000), st.integers(0, 120_000), st.integers(0, 3 * GAP_MS)),
        st.sampled_from([None, None, "s1", "s2"]),
    ),
    min_size=1,
    max_size=40,
)


def _reference(events, table):
    states, scores, ts = {}, [], T0
    for user, token, step, sid in events:
        ts += step
        states[user], _ = apply_event(states.get(user), token, ts, sid, table, GAP_MS)
        scores.append(score_state(states[user], table))
    return states, scores


def _batched(events, table, cuts):
    ts, cols = T0, []
    for user, token, step, sid in events:
        ts += step
        cols.append((user, token, ts, sid))
    states, scores = {}, []
    bounds = [0, *sorted(set(cuts)), len(cols)]
    for lo, hi in itertools.pairwise(bounds):
        part = cols[lo:hi]
        if not part:
            continue
        batch = EventBatch(*(list(c) for c in zip(*part, strict=True)))
        result = score_batch(table, GAP_MS, batch, states)
        states = {**states, **result.final}
        scores.extend(result.event_scores.tolist())
    return states, scores


@settings(max_examples=200, deadline=None)
@given(events_st, st.lists(st.integers(0, 40), max_size=4), st.booleans())
def test_per_event_scores_equal_the_reference_for_any_batching(events, cuts, supervised):
    table = _table(supervised)
    want_states, want = _reference(events, table)
    got_states, got = _batched(events, table, [c for c in cuts if c <= len(events)])
    assert got == want
    assert got_states == want_states


def _comparable(signals):
    """Signals with NaN values (no evidence yet) as None, so that equal explanations compare equal."""
    return [dataclasses.replace(s, value=None if s.value is None or math.isnan(s.value) else s.value) for s in signals]


@settings(max_examples=100, deadline=None)
@given(events_st, st.booleans())
def test_each_event_s_row_explains_its_score_as_the_session_replayed_to_it_does(events, supervised):
    """``scored_events`` (the offline scorer's one pass) gives, at every event, the score and the explanation that
    the session replayed event by event to there gives (``flagging.explain``, a flag's), and its session starts."""
    table, ts, cols, states, sessions = _table(supervised), T0, [], {}, 0
    for user, token, step, sid in events:
        ts += step
        cols.append((user, token, ts, sid))
    scored = scored_events(table, GAP_MS, EventBatch(*(list(c) for c in zip(*cols, strict=True))))
    for i, (user, token, t, sid) in enumerate(cols):
        before = states.get(user)
        states[user], _ = apply_event(before, token, t, sid, table, GAP_MS)
        sessions += before is None or states[user].transitions <= before.transitions  # a new session restarts them
        assert scored.scores[i] == score_state(states[user], table)
        if math.isfinite(scored.scores[i]):
            [row] = table.scorer.explain_rows(scored.features[i : i + 1], scored.llr_ubits[i : i + 1])
            assert _comparable(row) == _comparable(explain(states[user], table))
    assert int(scored.starts.sum()) == sessions


def test_scores_start_at_min_events_and_grow_with_odd_behaviour():
    table = _table(supervised=False, min_events=3)
    state, scores = None, []
    for i, token in enumerate(["view", "view", "view", "login#fail", "login#fail", "login#fail", "login#fail"]):
        state, _ = apply_event(state, token, T0 + 200 * i, None, table, GAP_MS)
        scores.append(score_state(state, table))
    assert scores[:2] == [-math.inf, -math.inf]
    assert all(math.isfinite(s) for s in scores[2:])
    assert scores[-1] > scores[2]  # failures and a fast pace add bits


def test_explanation_names_every_signal_with_value_typical_and_bits_strongest_first():
    scorer = LiveDetector(detector.FEATURES, _tables(1), _blend(2))
    row = np.array([9.0, 50.0, 80.0, 40.0, 30.0, 0.0, 1.0, 0.9, 0.05, 0.02])
    signals = scorer.explain(row)
    names = [s.name for s in signals]
    assert set(names) == {*detector.FEATURES, SUPERVISED} and names[-1] == SUPERVISED
    bits = [s.bits for s in signals[:-1]]
    assert bits == sorted(bits, reverse=True)
    assert all(s.typical is not None for s in signals[:-1])
    why = reasons(signals)
    assert why and all(s.bits >= REASON_BITS for s in signals if s.name in why[1:])
    assert signals[0].as_dict()["name"] == why[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 100.0), min_size=10, max_size=10), st.integers(-5_000_000, 5_000_000))
def test_without_the_supervised_part_an_explanation_is_the_same_but_its_logit(row, llr):
    """A flag's reasons are read without the forest's pass (each held event of a flagged user paid it): the same
    signals, values and bits, only the supervised line left out."""
    scorer = LiveDetector(detector.FEATURES, _tables(1), _blend(2))
    full, plain = scorer.explain(np.array(row), llr), scorer.explain(np.array(row), llr, supervised=False)
    assert [s for s in full if s.name != SUPERVISED] == plain and full[-1].name == SUPERVISED
    assert reasons(full) == reasons(plain)


def test_a_supervised_part_of_the_wrong_width_is_refused():
    fit = _blend(2)
    x = np.random.default_rng(0).random((40, fit.forest.n_features + 1))
    wider = dataclasses.replace(fit, forest=fit_supervised(x, np.arange(40) % 4 == 0))
    with pytest.raises(ValueError, match="inputs"):
        LiveDetector(detector.FEATURES, _tables(1), wider)
