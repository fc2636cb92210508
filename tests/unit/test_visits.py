"""The user's rhythm across sessions (``model.visits``): the streaming update against the direct computation, the
vectorised prefix against the reference for any prior, and a poller's one-event sessions judged on it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.flagging import explain
from clickguard.model import detector
from clickguard.model.live import LiveDetector, reasons
from clickguard.model.scoring import EventBatch, ScoringTable, score_batch
from clickguard.model.tails import fit_tails
from clickguard.model.visits import DAY_MS, VisitColumns, VisitState, gap_cv, prefix, update
from tests.unit.test_evidence import pooled_cv

T0 = 1_700_000_000_000


def fold(starts_ms: list[int]) -> VisitState:
    state, previous = VisitState(), None
    for t in starts_ms:
        if previous is not None:
            state = update(state, t, previous)
        previous = t
    return state


@given(st.lists(st.integers(-4_000_000, 30_000_000), min_size=1, max_size=30))
def test_the_streaming_update_equals_the_direct_computation(steps):
    starts = list(np.cumsum([T0, *steps]).tolist())
    state = fold(starts)
    days = np.array(starts) // DAY_MS
    today = starts[int(np.flatnonzero(np.r_[True, days[1:] != days[:-1]])[-1]) :]  # since the last change of day
    gaps = np.maximum(np.diff(np.array(today)) // 1000, 0)
    gaps = gaps[gaps > 0]
    assert (state.gaps, state.sum_s, state.sum_sq_s) == (len(gaps), int(gaps.sum()), int((gaps**2).sum()))
    cv = gap_cv(VisitColumns(np.array([state.gaps]), np.array([state.sum_s]), np.array([state.sum_sq_s])))[0]
    if len(gaps) >= 2:
        assert np.isclose(cv, pooled_cv(gaps), rtol=1e-9, atol=1e-12)
    else:
        assert np.isnan(cv)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.integers(-100_000, 90_000_000)), min_size=1, max_size=50),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 50_000), st.integers(0, 10**9)), min_size=4, max_size=4),
)
def test_the_vectorised_prefix_equals_the_reference_for_any_prior(rows, priors):
    """Rows grouped by user (each user's first row a start, as a stored session enters), any prior per user."""
    rows = sorted(rows, key=lambda r: r[0])  # stable: each user's order kept
    user = np.array([u for u, _, _ in rows])
    first = np.ones(len(rows), dtype=bool)
    first[1:] = user[1:] != user[:-1]
    starts = np.array([s for _, s, _ in rows]) | first
    start_ms = T0 + np.cumsum([d for _, _, d in rows])
    users = user[first].tolist()
    prior = VisitColumns(*(np.array([priors[u][k] for u in users], dtype=np.int64) for k in range(3)))
    got = prefix(first, starts, start_ms, prior)
    expected, state, last = [], VisitState(), 0
    for i, u in enumerate(user.tolist()):
        if first[i]:
            state, last = VisitState(*priors[u]), int(start_ms[i])
        elif starts[i]:
            state, last = update(state, int(start_ms[i]), last), int(start_ms[i])
        expected.append(state)
    assert got.states(np.arange(len(rows))) == expected


def _table() -> ScoringTable:
    rng = np.random.default_rng(0)
    n = 500
    x = np.column_stack(
        [rng.gamma(2.0, 1.0, (n, 2)), rng.poisson(5, (n, 3)), rng.random((n, 4)), rng.uniform(0.6, 1.6, n)]
    )
    tables = fit_tails(x, detector.DIRECTIONS, n_quantiles=64, groups=detector.GROUPS)
    tokens = ("START", "OTHER", "feed")
    return ScoringTable(
        tokens, np.full((3, 3), 1_000_000, dtype=np.int64), "v", 3, LiveDetector(detector.FEATURES, tables, None)
    )


def test_a_poller_s_one_event_sessions_are_judged_on_its_rhythm_once_it_has_min_events_gaps():
    table = _table()
    hour = 3_600_000
    midnight = T0 // DAY_MS * DAY_MS
    times = [midnight + k * hour + (k % 2) * 20_000 for k in range(6)]  # hourly, nearly metronomic, one day
    events = EventBatch(["poller"] * 6, ["feed"] * 6, times, [None] * 6)
    scores = score_batch(table, 1_800_000, events, {}).event_scores
    assert scores is not None
    assert np.isneginf(scores[:3]).all()  # 0, 1, 2 gaps: one-event sessions are never judged alone
    assert np.isfinite(scores[3:]).all() and scores[5] > 0  # from the 3rd gap on, on the rhythm alone
    state = score_batch(table, 1_800_000, events, {}).final["poller"]
    assert reasons(explain(state, table)) == ("visit_gap_cv",)  # the session's own signals are no evidence
    next_day = EventBatch(["poller"], ["feed"], [midnight + DAY_MS + 60_000], [None])
    after_midnight = score_batch(table, 1_800_000, next_day, {"poller": state})
    assert np.isneginf(after_midnight.event_scores).all()  # a new day starts the rhythm afresh
    assert after_midnight.final["poller"].visits == VisitState()
