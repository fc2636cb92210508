"""Robust refit of the Markov model (issue 10): the abusers nobody has labelled yet must not be learnt as normal.

A training window always holds abusers that no reviewer has blocked yet. Counted like everyone else, their
transitions become ordinary (a few credential stuffers make ``login#fail -> login#fail`` cheap, a handful of
takeovers make ``register_device -> change_email`` cheap), and they then hide the abusers of the next day. Trimming
only the detector's tail tables cannot undo that: the Markov surprisal under those tables was learnt from them.

The rule, a trimmed estimator's concentration step applied to the transition counts:

* fit the counts on every user the reviewers did not block (the first model);
* then ``ROUNDS`` times: score every such user of the window with detector v2's unsupervised part fitted on the
  current model (``user_scores``: each user's worst session), leave the ``TRIM_USERS`` share of the users with a
  judged session that score highest out of the transition counts, and recount from the window without them.
  Each round chooses again from every user (one left out by a round can come back in the next), as the C-step of
  a minimum-covariance-determinant fit does.

``TRIM_USERS`` is an upper bound on the share of unlabelled abusers the window may hold (the evaluation draws 1-20%
of active users); leaving out a fifth of the users costs an ordinary window little, since the other four fifths
still make every common transition common. Only the counts are trimmed: the vocabulary, the calibration of the
thresholds and the detector's tables still see every unblocked user, judged by the refitted counts. Ties in score
are broken by the user's first appearance in the window, so a run is deterministic.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from clickguard.model import detector
from clickguard.model.model import Model
from clickguard.model.scoring import EventSeries
from clickguard.model.tails import fit_robust, score

# Share of the users with a judged session left out of the counts per round. A tenth ranked unlabelled windows of up
# to 20% abusers about 0.01 AP worse (bench_quality), and was no better on windows of 5%.
TRIM_USERS = 0.20
ROUNDS = 2


def user_scores(model: Model, events: EventSeries, blocked: Collection[str] = ()) -> tuple[list[str], np.ndarray]:
    """Every user's unsupervised v2 score under ``model`` (their worst session; NaN with no judged session), the
    tail tables fitted on the window's sessions as ``detector.fit`` fits them (blocked users left out, each user's
    sessions capped)."""
    sess = detector.sessions_of(model, events)
    best = np.full(len(sess.names), np.nan)
    if not len(sess.owner):
        return sess.names, best
    left_out = frozenset(blocked)
    positive = np.array([u in left_out for u in sess.names], dtype=bool)
    rows = detector.table_rows(sess.features, sess.owner, ~positive[sess.owner], model.params.max_user_share)
    if not len(rows):
        return sess.names, best
    tables = fit_robust(rows, detector.DIRECTIONS, detector.TRIM, detector.ROUNDS, groups=detector.GROUPS)
    per_session = score(tables, sess.features)
    best[np.unique(sess.owner)] = -np.inf
    np.maximum.at(best, sess.owner, per_session)
    return sess.names, best


def most_anomalous(names: list[str], scores: np.ndarray, share: float, blocked: Collection[str] = ()) -> list[str]:
    """The ``floor(share * n)`` highest-scoring of the ``n`` unblocked users with a score (not NaN), highest first;
    ties in the order of ``names``."""
    if not 0.0 <= share < 1.0:
        raise ValueError("share must be in [0, 1)")
    left_out = frozenset(blocked)
    candidates = np.array(
        [i for i, u in enumerate(names) if u not in left_out and not np.isnan(scores[i])], dtype=np.int64
    )
    k = int(np.floor(share * len(candidates) + 1e-9))
    order = np.argsort(-scores[candidates], kind="stable")
    return [names[i] for i in candidates[order[:k]].tolist()]
