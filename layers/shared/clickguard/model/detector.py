"""Detector v2, fitted and applied on event columns: the one implementation the trainer, ``clickguard score`` and
the quality benchmark share; ``live`` compiles it for the consumer's per-event scoring (``model.live``).

* Sessions follow ``model.sessions`` (per user in arrival order, late events dropped). A session is judged from
  ``min_events`` events on, or, shorter, when its user has ``min_events`` gaps between visits (``visits``): such a
  session's own features are then NaN (no evidence) and it is judged on its user's rhythm alone
  (``scoring.judged`` and ``scoring.feature_rows``, shared with the consumer).
* Each session's features: the Markov model's peak running mean bits and total bits, ``signals.FEATURES`` and the
  user's ``visit_gap_cv`` at the session's start.
* Unsupervised score (``tails``): the bits of each feature's tail probability under the training window's own
  distribution, the largest within each of ``GROUPS`` (one fact counted once), each counted beyond its mean over
  the window and summed across them, fitted robustly
  (the 2% most anomalous sessions trimmed, twice) on sessions capped per user like the calibration. The consumer
  scores a session after each of its events (from ``min_events`` on); a user's score is the highest of those
  (``peak_scores`` runs the consumer's own ``score_batch`` over the window), and the cut is taken on that.
* Supervised part (``supervised``): where the window has a block list, a small random forest (``forest``) on each
  user's worst session's feature bits, log(1 + events) and "blocked vs good" log-likelihood ratio (``llr``), all
  numbers the consumer's session state holds (``live``), blended in only if it validates better on held-back
  labels.
* The cut (``operating``, set by the model's parameters): without labels an alert budget (``alert_budget`` of the
  window's unblocked users); with labels the lowest cut whose held-out precision reaches ``target_precision``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.calibration import peak_running_mean
from clickguard.model.codes import factorize
from clickguard.model.crossfit import WindowEvents, out_of_fold, user_chunks, window_scores
from clickguard.model.live import SUPERVISED_EXTRA, LiveDetector
from clickguard.model.llr import BlockedChain
from clickguard.model.model import Model, ModelParams
from clickguard.model.operating import precision_cut
from clickguard.model.operating import summary as operating_summary
from clickguard.model.scoring import EventBatch, EventSeries, ScoringTable, feature_rows, judged
from clickguard.model.scoring import event_scores as batch_scores
from clickguard.model.sessions import late_events, previous_states, session_starts
from clickguard.model.signals import FEATURES as SIGNALS
from clickguard.model.signals import feature_matrix, fold_batch, is_fail, token_bits
from clickguard.model.supervised import FOLDS, BlendFit, NothingToLearn, final_blend, peak_per_user
from clickguard.model.tails import TailTables, feature_bits, fit_robust, group_max, score_groups, threshold_for_budget
from clickguard.model.user_cap import cap_runs
from clickguard.model.visits import FEATURE as VISIT_FEATURE
from clickguard.model.visits import prefix as visit_prefix
from clickguard.model.vocabulary import START_INDEX, encode, index_of

FEATURES: tuple[str, ...] = ("peak_mean_bits", "total_bits", *SIGNALS, VISIT_FEATURE)
# The artifact's format: 6 = the timing regularities and the sub-second and failure shares are read with the evidence
# behind them (``evidence``); 5 = the user's visit rhythm (``visits``) is a feature, and a short session of a user with
# ``min_events`` gaps between visits is judged on it alone; 4 = the supervised part is a random forest (``forest``)
# and each group's tail bits count beyond its mean (``tails`` offsets); 3 = the supervised part reads the "blocked
# vs good" log-likelihood ratio (``llr``); 2 = grouped tail bits (``tails``), blend validated on per-event peaks;
# 1 = plain sum.
FORMAT = 6
# Which tail is anomalous, from each feature's meaning (fixed before any measurement): +1 high, -1 low.
DIRECTIONS: tuple[int, ...] = (1, 1, 1, 1, 1, -1, 1, 1, -1, -1)
# One fact, counted once (``tails``: max within a group, sum across), grouped by meaning before any measurement:
# the transitions; the session's size (total bits, events, duration: a long session is long in all three); its
# pace (events per minute, gap regularity, sub-second gaps); its outcomes; its diversity; the user's visit rhythm.
GROUPS: tuple[tuple[int, ...], ...] = ((0,), (1, 3, 4), (2, 5, 6), (7,), (8,), (9,))
BUDGET = settings.DEFAULT_ALERT_BUDGET  # the default; a model's own is ``model.params.alert_budget``
TRIM, ROUNDS = 0.02, 2


@dataclass(frozen=True)
class Detector:
    tables: TailTables
    threshold: float  # flag when the (blended) score is above it
    blend: BlendFit | None  # None: no labels, or refused
    budget: float
    sessions: int  # training sessions the tables were fitted on
    operating: dict[str, Any] | None = None  # how the cut was placed (``operating``), for the model's stats
    chain: BlockedChain | None = None  # the blocked users' chain (``llr``), kept with a blend

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": list(FEATURES),
            "tables": self.tables.as_dict(),
            "threshold": self.threshold,
            "blend": self.blend.as_dict() if self.blend else None,
            "budget": self.budget,
            "sessions": self.sessions,
            "operating": self.operating,
            "chain": self.chain.as_dict() if self.chain else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detector:
        if data.get("format", 1) != FORMAT:
            raise ValueError(
                f"detector format {data.get('format', 1)} is not this release's {FORMAT} (its score would not match "
                "its threshold): retrain the model with this release"
            )
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"detector features {data.get('features')} are not this release's {list(FEATURES)}")
        blend = BlendFit.from_dict(data["blend"]) if data.get("blend") else None
        return cls(
            TailTables.from_dict(data["tables"]),
            float(data["threshold"]),
            blend,
            float(data["budget"]),
            int(data["sessions"]),
            data.get("operating"),
            BlockedChain.from_dict(data["chain"]) if data.get("chain") else None,
        )


@dataclass(frozen=True)
class Sessions:
    """A window's sessions as the consumer cuts them: per on-time event its session and vocabulary state, and
    per session long enough to judge (``judged``) its owner and its features at its end."""

    names: list[str]  # user key per user code
    owner: np.ndarray  # user code of each judged session
    features: np.ndarray  # (judged sessions, FEATURES)
    judged: np.ndarray  # session index (into the window's sessions) of each judged session
    seg: np.ndarray  # session index of each on-time event
    states: np.ndarray  # vocabulary state of each on-time event
    n_tokens: int
    prev: np.ndarray  # previous state of each on-time event (START where it opens a session)
    user: np.ndarray  # user code of each on-time event

    def llr_totals(self, llr: np.ndarray | None) -> np.ndarray:
        """Per judged session, the sum of ``llr`` (micro-bits) over its transitions (zeros without a table)."""
        if llr is None:
            return np.zeros(len(self.judged), dtype=np.int64)
        n = int(self.seg.max()) + 1 if len(self.seg) else 0
        total = np.bincount(self.seg, weights=llr[self.prev, self.states], minlength=n)
        out: np.ndarray = np.rint(total).astype(np.int64)[self.judged]
        return out


@dataclass(frozen=True)
class _Cut:
    """What ``sessions_of`` reads of a window before the counts: the consumer's sessions of its on-time events and
    every judged session's features but the two Markov ones. The same for every model of one vocabulary and
    parameters, so the robust refit's rounds, the detector and the groups cut a window once."""

    names: list[str]
    user: np.ndarray
    states: np.ndarray
    prev: np.ndarray
    starts: np.ndarray
    seg: np.ndarray
    n_sessions: int
    kept: np.ndarray  # the judged sessions
    short: np.ndarray  # per judged session: shorter than min_events (its session features are NaN)
    x: np.ndarray  # per judged session, its features with the two Markov ones (columns 0 and 1) still to fill


def _cut(events: EventSeries, tokens: tuple[str, ...], p: ModelParams) -> _Cut:
    ucode, names = factorize(events.users)
    tcode, distinct = factorize(events.tokens)
    scode, sids = factorize(events.session_ids)
    order = np.argsort(ucode, kind="stable")
    user, ts = ucode[order], np.asarray(events.ts_ms, dtype=np.int64)[order]
    on_time = ~late_events(user, ts, p.gap_ms)
    order, user, ts = order[on_time], user[on_time], ts[on_time]
    no_sid = np.array([s is None for s in sids], dtype=bool)
    sid = np.where(no_sid[scode[order]], -1, scode[order])
    starts = session_starts(user, ts, sid, p.gap_ms)
    tok = tcode[order]
    states = encode(distinct, index_of(tokens))[tok]
    prev = previous_states(states, starts, START_INDEX)
    seg = np.cumsum(starts) - 1
    n = int(starts.sum())
    length = np.bincount(seg, minlength=n)
    fail = np.array([is_fail(t) for t in distinct], dtype=bool)[tok]
    signals = feature_matrix(fold_batch(seg, ts, fail, token_bits(distinct)[tok], n))
    user_first = np.ones(len(user), dtype=bool)
    user_first[1:] = user[1:] != user[:-1]
    at_start = np.flatnonzero(starts)
    visits = visit_prefix(user_first, starts, ts)  # a session's rhythm is set at its start
    visits = visits.take(at_start)
    kept = np.flatnonzero(judged(length, visits.gaps, p.min_events))
    markov = np.zeros((n, 2))  # filled per model: the features are row by row, so the judged rows suffice
    x = feature_rows(np.column_stack([markov, signals]), length, visits, p.min_events)[kept]
    names = [str(u) for u in names]
    return _Cut(names, user, states, prev, starts, seg, n, kept, length[kept] < p.min_events, x)


# The last window cut (``_cut``), with what it was cut for: the events object itself (held, so that its id is not
# reused while cached), its columns, the vocabulary and the parameters. Do not mutate a window's columns after
# passing them (as for ``codes.factorize``).
_last_cut: list[tuple[EventSeries, tuple[Any, ...], _Cut]] = []


def _window_cut(events: EventSeries, tokens: tuple[str, ...], p: ModelParams) -> _Cut:
    columns = (events.users, events.tokens, events.ts_ms, events.session_ids)
    key = (*map(id, columns), len(events.users), tokens, p)
    if _last_cut and _last_cut[0][0] is events and _last_cut[0][1] == key:
        return _last_cut[0][2]
    cut = _cut(events, tokens, p)
    _last_cut[:] = [(events, key, cut)]
    return cut


def forget_window() -> None:
    """Drop the cached window cut (its arrays are the size of the window)."""
    _last_cut.clear()


def sessions_of(model: Model, events: EventSeries) -> Sessions:
    """Every user's sessions as the consumer cuts them, with their features (those long enough to judge)."""
    p = model.params
    cut = _window_cut(events, model.tokens, p)
    ub = model.microbits[cut.prev, cut.states]
    total_bits = np.bincount(cut.seg, weights=ub, minlength=cut.n_sessions) / settings.MICROBITS_PER_BIT
    peak = peak_running_mean(ub, cut.starts, p.min_events) / settings.MICROBITS_PER_BIT
    x = cut.x.copy()
    x[:, 0], x[:, 1] = peak[cut.kept], total_bits[cut.kept]
    x[cut.short, :2] = np.nan
    owner = cut.user[cut.starts][cut.kept]
    return Sessions(cut.names, owner, x, cut.kept, cut.seg, cut.states, len(model.tokens), cut.prev, cut.user)


@dataclass(frozen=True)
class Worst:
    """Per user, their worst session at its end under the tail tables (0 / NaN with no judged session)."""

    score: np.ndarray
    bits: np.ndarray  # that session's bits per feature: what drove the score
    values: np.ndarray  # that session's features
    row: np.ndarray  # that session's judged row (-1: none)


def worst_sessions(tables: TailTables, sess: Sessions) -> Worst:
    n_users = len(sess.names)
    best = np.zeros(n_users)
    bits_out = np.zeros((n_users, len(FEATURES)))
    values = np.full((n_users, len(FEATURES)), np.nan)
    row = np.full(n_users, -1, dtype=np.int64)
    if len(sess.owner):
        bits = feature_bits(tables, sess.features)
        total = score_groups(tables, group_max(tables, bits))  # ``tails.score``, from the bits at hand
        order = np.lexsort((total, sess.owner))
        last = order[np.r_[np.flatnonzero(np.diff(sess.owner[order])), len(order) - 1]]
        best[sess.owner[last]] = total[last]
        bits_out[sess.owner[last]] = bits[last]
        values[sess.owner[last]] = sess.features[last]
        row[sess.owner[last]] = last
    return Worst(best, bits_out, values, row)


def supervised_inputs(sess: Sessions, worst: Worst, llr_totals: np.ndarray | None = None) -> np.ndarray:
    """Per user: the worst session's feature bits, log(1 + events) and, given each judged session's LLR total
    (micro-bits), that session's LLR total and mean in bits (``live.SUPERVISED_EXTRA``); zeros with no judged
    session."""
    f = len(FEATURES)
    x = np.zeros((len(sess.names), f + len(SUPERVISED_EXTRA)))
    has = worst.row >= 0
    x[:, :f] = worst.bits
    events = np.nan_to_num(worst.values[has, FEATURES.index("events")])  # NaN: judged on its rhythm alone
    x[has, f] = np.log1p(events)
    if llr_totals is not None and has.any():
        total = llr_totals[worst.row[has]] / settings.MICROBITS_PER_BIT
        x[has, f + 1] = total
        x[has, f + 2] = total / np.maximum(events, 1.0)
    return x


@dataclass(frozen=True)
class Supervision:
    """What the supervised part learns from, given which users count as blocked: the blocked users' chain, its LLR
    table (micro-bits, for scoring) and every user's inputs under it."""

    chain: BlockedChain
    llr: np.ndarray
    inputs: np.ndarray


def supervision(model: Model, sess: Sessions, worst: Worst, blocked_users: np.ndarray) -> Supervision:
    """The supervision that ``blocked_users`` (a mask over ``sess.names``) imply: their transitions make the blocked
    chain (cross-fitting passes each fold's complement, so no user's inputs come from a chain that counted them)."""
    mine = blocked_users[sess.user]
    chain = BlockedChain.count(sess.prev[mine], sess.states[mine], len(model.tokens), model.params.smoothing)
    llr = chain.llr_microbits(model.surprisal)
    return Supervision(chain, llr, supervised_inputs(sess, worst, sess.llr_totals(llr)))


def live(detector: Detector, model: Model) -> LiveDetector:
    """The detector compiled for per-event scoring against ``model``'s vocabulary."""
    return LiveDetector(FEATURES, detector.tables, detector.blend, detector.threshold)


def scoring_table(model: Model) -> ScoringTable:
    """The consumer's scoring table for ``model``: its Markov surprisal and detector v2. Raises ValueError when the
    model carries no detector or one this release cannot read (the consumer then keeps its last good model)."""
    if model.detector is None:
        raise ValueError(f"model {model.version} has no detector v2 (trained by an older release): retrain it")
    fitted = Detector.from_dict(model.detector)
    llr = fitted.chain.llr_microbits(model.surprisal) if fitted.chain is not None else None
    return ScoringTable.from_model(model, live(fitted, model), llr)


def peak_scores(table: ScoringTable, gap_ms: int, events: EventSeries) -> tuple[list[str], np.ndarray]:
    """Per user (first appearance order), the highest score the consumer would see after any of their events:
    ``score_batch`` itself over the window, whole users per call (late events must already be dropped)."""
    ucode, names = factorize(events.users)
    best = np.full(len(names), -np.inf)
    users, tokens = np.asarray(events.users, dtype=object), np.asarray(events.tokens, dtype=object)
    ts, sids = np.asarray(events.ts_ms, dtype=np.int64), np.asarray(events.session_ids, dtype=object)
    for idx in user_chunks(ucode, len(names)):
        batch = EventBatch(users[idx].tolist(), tokens[idx].tolist(), ts[idx].tolist(), sids[idx].tolist())
        np.maximum.at(best, ucode[idx], batch_scores(table, gap_ms, batch, {}))
    return [str(u) for u in names], best


def on_time(model: Model, events: EventSeries) -> EventBatch:
    """The events the consumer would apply: late ones (``sessions.late_events``) dropped, arrival order kept."""
    ucode, _ = factorize(events.users)
    order = np.argsort(ucode, kind="stable")
    late = np.zeros(len(order), dtype=bool)
    late[order] = late_events(ucode[order], np.asarray(events.ts_ms, dtype=np.int64)[order], model.params.gap_ms)
    keep = np.flatnonzero(~late)
    if len(keep) == len(late):  # the usual window, nothing late: its columns as they are (their codes are cached)
        return EventBatch(events.users, events.tokens, events.ts_ms, events.session_ids)
    rows = keep.tolist()
    return EventBatch(
        [events.users[i] for i in rows],
        [events.tokens[i] for i in rows],
        [events.ts_ms[i] for i in rows],
        [events.session_ids[i] for i in rows],
    )


def table_rows(features: np.ndarray, owner: np.ndarray, clean: np.ndarray, max_user_share: float) -> np.ndarray:
    """The rows the tail tables are fitted on: the clean users' judged sessions, each user's first sessions up to
    the cap (``user_cap``). One definition for the single pass, the robust refit and the distributed trainer."""
    capped, _ = cap_runs(owner[clean], max_user_share)
    rows: np.ndarray = features[clean] if capped is None else features[clean][capped]
    return rows


def fit(model: Model, events: EventSeries, blocked: Collection[str] = (), seed: int = 0) -> Detector:
    """Fit on the window's events; ``blocked`` users are left out of the tables and are the supervised positives.
    The cut (``operating``): with labels, the lowest that meets ``params.target_precision`` on out-of-fold
    scores; otherwise (or when no cut meets it) the alert budget. Raises ValueError when the window has no session
    long enough to judge."""
    sess = sessions_of(model, events)
    left_out = frozenset(blocked)
    positive = np.array([u in left_out for u in sess.names], dtype=bool)
    rows = table_rows(sess.features, sess.owner, ~positive[sess.owner], model.params.max_user_share)
    if not len(rows):
        raise ValueError("no session in the window is long enough to fit detector v2")
    tables = fit_robust(rows, DIRECTIONS, trim=TRIM, rounds=ROUNDS, groups=GROUPS)
    window = WindowEvents.of(on_time(model, events), sess.names)

    @functools.cache
    def plain_peaks() -> np.ndarray:
        """Per user, the peak of the unsupervised score over the window (scored once, however many ask)."""
        scorer = LiveDetector(FEATURES, tables, None)
        return peak_per_user(window_scores(model, scorer, window), window.owner, len(sess.names))

    blend, chain, validated = _fit_blend(model, window, tables, sess, positive, seed, plain_peaks)
    llr = chain.llr_microbits(model.surprisal) if chain is not None else None
    p = model.params
    by_precision = precision_cut(validated, positive, p.target_precision, p.max_flag_share) if positive.any() else None
    cut = by_precision
    if cut is None:  # no labels, or none that show the target precision: the alert budget
        peaks = plain_peaks()
        if blend is not None:
            scorer = live(Detector(tables, float("inf"), blend, p.alert_budget, len(rows)), model)
            peaks = peak_per_user(window_scores(model, scorer, window, llr=llr), window.owner, len(sess.names))
        cut = threshold_for_budget(peaks[~positive], p.alert_budget)
    operating = operating_summary(validated, positive, cut, by_precision is None, p)
    return Detector(tables, float(cut), blend, p.alert_budget, len(rows), operating, chain)


def _fit_blend(
    model: Model,
    window: WindowEvents,
    tables: TailTables,
    sess: Sessions,
    positive: np.ndarray,
    seed: int,
    plain_peaks: Callable[[], np.ndarray],
) -> tuple[BlendFit | None, BlockedChain | None, np.ndarray]:
    """The supervised part and the blocked chain it reads (None: too few labels, or refused by the cross-fitted
    validation) and each user's out-of-fold peak score under what was kept (``crossfit``)."""
    worst = worst_sessions(tables, sess)

    def unsupervised_only() -> tuple[None, None, np.ndarray]:
        return None, None, plain_peaks()

    if positive.sum() < FOLDS or (~positive).sum() < FOLDS:
        return unsupervised_only()

    def supervision_of(blocked_users: np.ndarray) -> Supervision:
        return supervision(model, sess, worst, blocked_users)

    try:
        oof = out_of_fold(model, window, FEATURES, tables, supervision_of, worst.score, positive, seed)
    except NothingToLearn:  # a fold's labelled users with a judged session were all of one class
        return unsupervised_only()
    choice = oof.choose(window.owner, positive)
    full = supervision_of(positive)
    blend = final_blend(full.inputs, positive, worst.score, choice)
    peaks = oof.peaks(window.owner, choice.weight, len(sess.names))
    return (None, None, peaks) if blend.refused else (blend, full.chain, peaks)


@dataclass(frozen=True)
class UserVerdicts:
    names: list[str]
    scores: np.ndarray  # per user: the highest score after any of their events (what the consumer flags on)
    flagged: np.ndarray
    bits: np.ndarray  # per user, the worst session's bits per feature at its end: what drove the score
    values: np.ndarray  # per user, the worst session's features (NaN: no session long enough to judge)


def apply(detector: Detector, model: Model, events: EventSeries) -> UserVerdicts:
    """Every user of ``events`` scored as the consumer scores them (``score_batch`` with the live detector)."""
    llr = detector.chain.llr_microbits(model.surprisal) if detector.chain is not None else None
    table = ScoringTable.from_model(model, live(detector, model), llr)
    names, scores = peak_scores(table, model.params.gap_ms, on_time(model, events))
    sess = sessions_of(model, events)
    worst = worst_sessions(detector.tables, sess)
    where = {u: i for i, u in enumerate(sess.names)}
    pick = np.array([where[u] for u in names], dtype=np.int64)
    return UserVerdicts(names, scores, scores > detector.threshold, worst.bits[pick], worst.values[pick])


__all__ = [
    "BUDGET",
    "DIRECTIONS",
    "FEATURES",
    "GROUPS",
    "Detector",
    "UserVerdicts",
    "apply",
    "fit",
    "live",
    "scoring_table",
]
