"""The robust refit of the Markov counts (``model.robust``): who is left out, and that the counts are exactly the
window's without them."""

from __future__ import annotations

import numpy as np
import pytest

from clickguard.model import detector, robust
from clickguard.model.model import Model, ModelParams
from clickguard.model.tails import fit_robust, score
from clickguard.model.vocabulary import START_INDEX
from clickguard.sim import SimConfig, simulate
from clickguard.sim.quality import columns_of
from clickguard.timestamps import format_ms
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train


def test_most_anomalous_takes_the_floor_of_the_share_of_scored_unblocked_users_highest_first():
    names = ["a", "b", "c", "d", "e", "f", "g"]
    scores = np.array([5.0, np.nan, 9.0, 1.0, 7.0, 3.0, 8.0])
    # 6 users with a score, "g" blocked: 5 candidates, 0.5 of them -> 2
    assert robust.most_anomalous(names, scores, 0.5, blocked={"g"}) == ["c", "e"]
    assert robust.most_anomalous(names, scores, 0.0) == []
    assert robust.most_anomalous(names, scores, 0.34) == ["c", "g"]


def test_most_anomalous_breaks_ties_by_first_appearance():
    names = ["a", "b", "c", "d"]
    assert robust.most_anomalous(names, np.array([1.0, 2.0, 2.0, 2.0]), 0.5) == ["b", "c"]


def test_most_anomalous_refuses_a_share_outside_zero_to_one():
    with pytest.raises(ValueError):
        robust.most_anomalous(["a"], np.array([1.0]), 1.0)


@pytest.fixture(scope="module")
def window() -> EventColumns:
    return columns_of(simulate(SimConfig(users=300, seed=3, days=1))[0])


def _train(cols: EventColumns, rounds: int) -> Model:
    """No per-user cap (``max_user_share`` 1): the direct computations below leave it out."""
    start, end = format_ms(min(cols.ts_ms)), format_ms(max(cols.ts_ms) + 1)
    model, _ = train(
        cols,
        ModelParams(max_user_share=1.0),
        window_start=start,
        window_end=end,
        created_at=end,
        min_sessions=10,
        robust_rounds=rounds,
    )
    return model


def test_user_scores_are_each_users_worst_session_tail_score(window):
    model = _train(window, 0)
    names, scores = robust.user_scores(model, window)
    sess = detector.sessions_of(model, window)
    tables = fit_robust(sess.features, detector.DIRECTIONS, detector.TRIM, detector.ROUNDS, groups=detector.GROUPS)
    per_session = score(tables, sess.features)
    for code in range(len(names)):
        mine = per_session[sess.owner == code]
        if len(mine):
            assert scores[code] == pytest.approx(mine.max())
        else:
            assert np.isnan(scores[code])


def _direct_counts(cols: EventColumns, model: Model, left_out: set[str]) -> np.ndarray:
    """Transitions of every kept user, walked event by event with the one session rule of ``model.sessions``."""
    counts = np.zeros((model.n_states, model.n_states), dtype=np.int64)
    last: dict[str, tuple[int, int, str | None]] = {}  # user -> (state, latest ts, last session id)
    gap = model.params.gap_ms
    for user, token, ts, sid in zip(cols.users, cols.tokens, cols.ts_ms, cols.session_ids, strict=True):
        state = model.index.get(token, model.index["OTHER"])
        prev = last.get(user)
        if prev is not None and ts < prev[1] - gap:
            continue  # late: its session had closed
        new = prev is None or ts - prev[1] > gap or (sid is not None and prev[2] is not None and sid != prev[2])
        src = START_INDEX if new or prev is None else prev[0]
        if user not in left_out:
            counts[src, state] += 1
        latest = ts if prev is None else max(ts, prev[1])
        last[user] = (state, latest, sid if sid is not None else (None if prev is None else prev[2]))
    return counts


def test_one_round_counts_exactly_the_transitions_of_the_users_it_kept(window):
    plain = _train(window, 0)
    names, scores = robust.user_scores(plain, window)
    out = robust.most_anomalous(names, scores, robust.TRIM_USERS)
    refit = _train(window, 1)
    assert np.array_equal(plain.counts, _direct_counts(window, plain, set()))
    assert np.array_equal(refit.counts, _direct_counts(window, plain, set(out)))
    assert refit.stats["robust"] == {
        "trim_users": robust.TRIM_USERS,
        "rounds": 1,
        "users_left_out": len(out),
        "transitions_left_out": int(plain.counts.sum() - refit.counts.sum()),
    }
    assert plain.stats["robust"]["users_left_out"] == 0


def test_an_unlabelled_flood_of_failed_logins_stays_surprising_after_the_refit():
    """Credential stuffers nobody blocked: the plain counts learn their habit, the refit does not."""
    cols = columns_of(simulate(SimConfig(users=300, seed=3, days=1, abnormal_share=0.1))[0])
    plain, refit = _train(cols, 0), _train(cols, robust.ROUNDS)
    fail = plain.index["login#fail"]
    assert refit.surprisal[fail, fail] > plain.surprisal[fail, fail] + 1.0
