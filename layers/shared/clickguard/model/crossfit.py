"""Cross-fitted validation of detector v2's supervised part, on the scores the consumer computes (issue 10).

The consumer scores a session after every event and flags a user on the highest of those scores; a supervised part
learnt on whole sessions can rank users well on them and still add noise to the short prefixes the consumer also
scores. So the validation that decides the blend weight, and the cut that meets a target precision, are both
measured on per-event scores (``scoring.score_batch`` with the live detector) of users the supervised part did not
learn:

* the labelled window's users are dealt into ``supervised.FOLDS`` stratified folds;
* for each fold, a forest fitted on the other folds (and its blend scale, fitted on them too) scores every event
  of the fold's users: its log-odds and ``z(unsupervised)`` per event, on that fold model's scale;
* ``supervised.choose_weight`` compares each user's peak over their events, for each weight, with the unsupervised
  score alone, and the same out-of-fold peaks at the chosen weight place the cut (``operating``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from clickguard.model.live import LiveDetector
from clickguard.model.model import Model
from clickguard.model.scoring import EventBatch, ScoringTable, event_scores
from clickguard.model.supervised import (
    FOLDS,
    BlendFit,
    WeightChoice,
    blend_scale,
    blend_z,
    choose_weight,
    fit_supervised,
    peak_per_user,
    predict_logit,
    stratified_folds,
)
from clickguard.model.tails import TailTables


class Supervised(Protocol):
    """The supervised part's inputs per user and the LLR table (micro-bits) they were computed under."""

    @property
    def inputs(self) -> np.ndarray: ...
    @property
    def llr(self) -> np.ndarray | None: ...


@dataclass(frozen=True)
class WindowEvents:
    """The window's on-time events (the consumer's order) and each one's user, as codes into ``names``."""

    batch: EventBatch
    owner: np.ndarray
    names: list[str]

    @classmethod
    def of(cls, batch: EventBatch, names: list[str]) -> WindowEvents:
        code = {u: i for i, u in enumerate(names)}
        return cls(batch, np.fromiter(map(code.__getitem__, batch.users), np.int64, len(batch.users)), names)

    def subset(self, rows: np.ndarray) -> EventBatch:
        b, picked = self.batch, rows.tolist()
        return EventBatch(
            [b.users[i] for i in picked],
            [b.tokens[i] for i in picked],
            [b.ts_ms[i] for i in picked],
            [b.session_ids[i] for i in picked],
        )


def window_scores(
    model: Model,
    scorer: LiveDetector,
    window: WindowEvents,
    rows: np.ndarray | None = None,
    llr: np.ndarray | None = None,
) -> np.ndarray:
    """The score after each event (``-inf`` where the session is still too short to judge), for the events ``rows``
    (every event by default; whole users only: each user enters with no prior state), with the LLR table ``llr``
    (micro-bits) where the scorer's supervised part reads one."""
    picked = np.arange(len(window.owner)) if rows is None else rows
    table = ScoringTable.from_model(model, scorer, llr)
    out = np.empty(len(picked), dtype=np.float64)
    for part in user_chunks(window.owner[picked], len(window.names)):
        whole = rows is None and len(part) == len(picked)  # one chunk: the window's columns as they are
        batch = window.batch if whole else window.subset(picked[part])
        out[part] = event_scores(table, model.params.gap_ms, batch, {})
    return out


# Events scored per call when a whole window is scored as the consumer would: the scoring's per-event arrays are
# then bounded by this, not by the window (a million events at once held about 600 MB more at the peak).
CHUNK_EVENTS = 250_000


def user_chunks(ucode: np.ndarray, n_users: int) -> list[np.ndarray]:
    """Positions in ``ucode`` (arrival order kept) of groups of whole users, about ``CHUNK_EVENTS`` events each:
    the consumer's scores split by whole users are the same (each user enters with no prior state)."""
    per_user = np.bincount(ucode, minlength=n_users)
    group = np.cumsum(per_user) // CHUNK_EVENTS
    event_group = group[ucode]
    order = np.argsort(event_group, kind="stable")
    bounds = np.flatnonzero(np.diff(event_group[order])) + 1
    return np.split(order, bounds)


@dataclass(frozen=True)
class OutOfFold:
    """Per event: the unsupervised score, and both z-scores on the scale of the fold model that did not learn the
    event's user."""

    unsupervised: np.ndarray
    z_unsupervised: np.ndarray
    z_logit: np.ndarray

    def choose(self, owner: np.ndarray, positive: np.ndarray) -> WeightChoice:
        return choose_weight(self.unsupervised, self.z_unsupervised, self.z_logit, owner, positive)

    def peaks(self, owner: np.ndarray, weight: float, n_users: int) -> np.ndarray:
        """Per user, the peak out-of-fold score at ``weight`` (the unsupervised score alone at 0)."""
        if weight == 0.0:
            return peak_per_user(self.unsupervised, owner, n_users)
        return peak_per_user(blend_z(self.z_unsupervised, self.z_logit, weight), owner, n_users)


def user_folds(names: Sequence[str], positive: np.ndarray, seed: int) -> np.ndarray:
    """Each user's fold. Folds are dealt over the users in key order, not in the order they first appear: the same
    events archived in another order (another producer's format, archive objects listed in another order) give the
    same model."""
    by_key = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
    fold = np.empty(len(positive), dtype=np.int64)
    fold[by_key] = stratified_folds(positive[by_key], FOLDS, seed)
    return fold


def out_of_fold(
    model: Model,
    window: WindowEvents,
    features: tuple[str, ...],
    tables: TailTables,
    supervision_of: Callable[[np.ndarray], Supervised],
    worst_score: np.ndarray,
    positive: np.ndarray,
    seed: int,
) -> OutOfFold:
    """Cross-fitted per-event scores (see the module's docstring). ``supervision_of(blocked)`` gives the supervised
    inputs per user (and the LLR table they imply) when only the ``blocked`` users count as blocked: each fold's
    model learns from, and its users are scored under, a chain that never counted the fold's own users.
    ``worst_score`` is per user (the unsupervised score of their worst session), ``positive`` the labels."""
    unsupervised = window_scores(model, LiveDetector(features, tables, None), window)
    z_u = np.full(len(unsupervised), np.nan)
    z_l = np.full(len(unsupervised), np.nan)
    fold = user_folds(window.names, positive, seed)
    for k in range(FOLDS):
        train = fold != k
        sup = supervision_of(positive & train)
        inputs = sup.inputs
        learner = fit_supervised(inputs[train], positive[train])
        scale = blend_scale(worst_score[train], predict_logit(learner, inputs[train]))
        rows = np.flatnonzero(fold[window.owner] == k)
        if not len(rows):
            continue
        z_only = BlendFit(learner, scale, 1.0, False, np.nan, np.nan, 0, 0)
        z_l[rows] = window_scores(model, LiveDetector(features, tables, z_only), window, rows, sup.llr)
        z_u[rows] = (unsupervised[rows] - scale.unsupervised_center) / scale.unsupervised_scale
    return OutOfFold(unsupervised, z_u, z_l)
