"""Pure training: event columns -> vocabulary -> counts -> smoothed surprisal -> calibrated model. No AWS here.

``train`` reads as its steps: clean the window (drop producer duplicates and users reviewers blocked), group it by
user in arrival order and drop late events (the consumer's session rule, ``model.sessions``), cap any one user's
share (``clickguard.model.user_cap``), build the vocabulary, split sessions, count transitions, score every training
session, calibrate (with the same cap on sessions), then refit the counts without the window's most anomalous users
(``clickguard.model.robust``, twice: the abusers nobody labelled yet are not learnt as normal), and name the model
by a digest of everything it was learnt from, so two runs on the same window publish the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from clickguard.events import copy_key
from clickguard.model import detector, robust
from clickguard.model.calibration import calibrate, peak_running_mean
from clickguard.model.codes import factorize, factorize_optional
from clickguard.model.group_fit import with_groups
from clickguard.model.model import Model, ModelParams, Thresholds
from clickguard.model.sessions import late_events, previous_states, session_starts
from clickguard.model.transitions import (
    count_transitions,
    smoothed_probabilities,
    surprisal_bits,
    to_microbits,
)
from clickguard.model.user_cap import CapReport, cap_runs
from clickguard.model.vocabulary import OTHER_INDEX, START_INDEX, build_vocabulary, encode, index_of
from clickguard.training.dataset import EventColumns


class InsufficientData(Exception):
    """The window holds too little data to publish a trustworthy model; the previous model stays. ``min_sessions``:
    the refusal is the sessions' minimum, which a caller may lower."""

    def __init__(self, message: str, *, min_sessions: bool = False) -> None:
        super().__init__(message)
        self.min_sessions = min_sessions


@dataclass(frozen=True)
class TrainingSessions:
    """Every training session with its length and total micro-bits (for calibration and reports)."""

    user_codes: np.ndarray
    transitions: np.ndarray
    total_ubits: np.ndarray
    peak_mean_ubits: np.ndarray | None = None  # highest running mean over prefixes of >= min_events transitions


@dataclass(frozen=True)
class CleanWindow:
    """The window's events once producer duplicates and blocked users are gone, and how many went."""

    cols: EventColumns
    duplicates: int
    excluded_users: int
    excluded_events: int
    with_blocked: EventColumns  # duplicates gone, blocked users kept: detector v2's supervised positives


@dataclass(frozen=True)
class OrderedEvents:
    """The kept events grouped by user, each user's in arrival order, as parallel arrays."""

    users: np.ndarray  # int64 user code
    ts_ms: np.ndarray  # int64
    sids: np.ndarray  # int64 session-id code, -1 where none
    token_codes: np.ndarray  # int64 code of each event's token into ``token_names``
    token_names: list[str]  # may hold tokens no kept event has
    cap: CapReport  # what the per-user cap dropped
    late: int = 0  # events dropped as late (their session had closed), as the consumer skips them

    @cached_property
    def tokens(self) -> list[str]:
        """Each event's token (built on demand: the single pass reads only the codes)."""
        names = self.token_names
        return [names[c] for c in self.token_codes.tolist()]


@dataclass(frozen=True)
class Transitions:
    """Sessions split and every event's transition into the counts."""

    starts: np.ndarray  # bool: the event opens a session
    prev: np.ndarray  # state transitioned from
    states: np.ndarray  # state transitioned to
    n_sessions: int


def token_counts(events: OrderedEvents) -> Counter[str]:
    """How often each token of the kept events occurs (the vocabulary's input), from the tokens' codes."""
    n = np.bincount(events.token_codes, minlength=len(events.token_names)).tolist()
    return Counter({name: k for name, k in zip(events.token_names, n, strict=True) if k})


def first_occurrences(cols: EventColumns) -> list[int] | None:
    """The rows left once copies of an event that carries a producer-assigned ``event_id`` are dropped (a retried
    PutRecords creates them; ``events.copy_key``, the consumer's rule): each user's first, in order; None when no
    event carries an id."""
    if not any(cols.event_ids):
        return None
    seen: set[tuple[str, str]] = set()
    keep = []
    rows = zip(cols.users, cols.event_ids, cols.ts_ms, cols.tokens, strict=True)
    for i, (user, eid, ts, token) in enumerate(rows):
        if eid is not None:
            key = (user, copy_key(eid, ts, token))
            if key in seen:
                continue
            seen.add(key)
        keep.append(i)
    return keep


def deduplicate(cols: EventColumns) -> EventColumns:
    """Drop copies of events that carry a producer-assigned ``event_id`` (``first_occurrences``)."""
    keep = first_occurrences(cols)
    return cols if keep is None else cols.subset(keep)


def clean_window(cols: EventColumns, exclude_users: Collection[str]) -> CleanWindow:
    """Drop duplicates, then the events of users reviewers blocked; refuse a window with nothing left."""
    n_in = len(cols)
    cols = with_blocked = deduplicate(cols)
    duplicates = n_in - len(cols)
    excluded = frozenset(exclude_users)
    excluded_events = 0
    if excluded:
        keep = [i for i, u in enumerate(cols.users) if u not in excluded]
        excluded_events = len(cols) - len(keep)
        cols = cols.subset(keep)
    if len(cols) == 0:
        raise InsufficientData("the training window holds no valid events")
    return CleanWindow(cols, duplicates, len(excluded), excluded_events, with_blocked)


def order_and_cap(cols: EventColumns, max_user_share: float, gap_ms: int) -> OrderedEvents:
    """Group by user keeping arrival order (the consumer's order, see ``model.sessions``), drop late events as the
    consumer skips them, and keep each user's first ``cap`` events.

    Every event is one transition (``START -> first`` opens a session), so capping events per user caps their
    transitions; keeping a prefix per user leaves the kept events' sessions exactly as they were."""
    ucode, _ = factorize(cols.users)
    ts = np.asarray(cols.ts_ms, dtype=np.int64)
    order = np.argsort(ucode, kind="stable")
    late = late_events(ucode[order], ts[order], gap_ms)
    if late.any():
        order = order[~late]
    users = ucode[order]
    keep, report = cap_runs(users, max_user_share)
    if keep is not None:
        order, users = order[keep], users[keep]
    tcode, tnames = factorize(cols.tokens)  # the window's column: cached for the stats and the detector
    return OrderedEvents(
        users=users,
        ts_ms=ts[order],
        sids=factorize_optional(cols.session_ids)[0][order],
        token_codes=tcode[order],
        token_names=tnames,
        cap=report,
        late=int(late.sum()),
    )


def split_sessions(events: OrderedEvents, index: dict[str, int], gap_ms: int) -> Transitions:
    states = encode(events.token_names, index)[events.token_codes]
    starts = session_starts(events.users, events.ts_ms, events.sids, gap_ms)
    return Transitions(starts, previous_states(states, starts, START_INDEX), states, int(starts.sum()))


def score_sessions(moves: Transitions, events: OrderedEvents, bits: np.ndarray, min_events: int) -> TrainingSessions:
    """Every training session scored by the model it trained: length, total and peak running mean micro-bits."""
    ub = to_microbits(bits)[moves.prev, moves.states]
    seg = np.cumsum(moves.starts) - 1
    return TrainingSessions(
        user_codes=events.users[moves.starts],
        transitions=np.bincount(seg, minlength=moves.n_sessions).astype(np.int64),
        total_ubits=np.bincount(seg, weights=ub, minlength=moves.n_sessions).astype(np.int64),
        peak_mean_ubits=peak_running_mean(ub, moves.starts, min_events),
    )


def calibrate_capped(sess: TrainingSessions, params: ModelParams) -> tuple[Thresholds, CapReport]:
    """Thresholds from the sessions long enough to judge, each user contributing at most the capped number of them
    (their earliest), so nobody's sessions set the cut-offs that judge them."""
    eligible = sess.transitions >= params.min_events
    if not eligible.any():
        raise InsufficientData(f"no session in the window has at least {params.min_events} events to calibrate on")
    keep = np.ones(len(sess.transitions), dtype=bool)
    capped, report = cap_runs(sess.user_codes[eligible], params.max_user_share)
    if capped is not None:
        keep[np.flatnonzero(eligible)[~capped]] = False
    peak = sess.peak_mean_ubits[keep] if sess.peak_mean_ubits is not None else None
    thresholds = calibrate(
        sess.transitions[keep],
        sess.total_ubits[keep],
        params.min_events,
        params.mean_bits_quantile,
        params.total_bits_quantile,
        peak_mean_ubits=peak,
    )
    return thresholds, report


def model_version(model: Model) -> str:
    """``<compact window end>-<digest>``: a digest of all the model holds but its name and when it was made (the
    vocabulary, counts, parameters, window, thresholds, stats, detector and groups). The same window, data and
    parameters always give the same version, and two models that score differently never share one: the blocked
    users' events shape the detector, not the counts."""
    content = {
        "tokens": model.tokens,
        "params": asdict(model.params),
        "window": [model.window_start, model.window_end],
        "thresholds": asdict(model.thresholds),
        "stats": model.stats,
        "detector": model.detector,
        "groups": model.groups,
    }
    digest = hashlib.sha256(model.counts.tobytes())
    digest.update(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())
    compact_end = model.window_end.replace("-", "").replace(":", "")[:15]
    return f"{compact_end}-{digest.hexdigest()[:10]}"


def named(model: Model) -> Model:
    """The finished model under its version (``model_version``)."""
    return replace(model, version=model_version(model))


def window_stats(
    window: CleanWindow,
    events: OrderedEvents,
    moves: Transitions,
    n_states: int,
    calibration_cap: CapReport,
    max_user_share: float,
) -> dict[str, Any]:
    cols = window.cols
    n_transitions = len(moves.states)
    return {
        "lines": cols.lines,
        "events": len(cols),
        "duplicates_dropped": window.duplicates,
        "excluded_users": window.excluded_users,
        "excluded_events": window.excluded_events,
        "rejected": dict(sorted(cols.rejected.items())),
        "late_events": events.late,
        "users": len(factorize(cols.users)[1]),
        "sessions": moves.n_sessions,
        "transitions": n_transitions,
        "vocabulary_size": n_states,
        "distinct_tokens": len(factorize(cols.tokens)[1]),
        "other_share": round(float((moves.states == OTHER_INDEX).mean()), 6),
        "mean_session_length": round(n_transitions / moves.n_sessions, 3),
        "user_cap": {
            "max_user_share": max_user_share,
            "transitions": events.cap.as_dict(),
            "calibration_sessions": calibration_cap.as_dict(),
        },
    }


@dataclass(frozen=True)
class Window:
    """What ``train`` names a model by: the window's bounds and when it was made."""

    start: str
    end: str
    created_at: str


def fit_markov(
    window: CleanWindow,
    events: OrderedEvents,
    moves: Transitions,
    tokens: tuple[str, ...],
    counts: np.ndarray,
    params: ModelParams,
    when: Window,
) -> tuple[Model, TrainingSessions]:
    """The model of ``counts``: smoothed surprisal, every training session scored by it, thresholds calibrated on
    them (each user capped); unnamed until finished (``named``)."""
    probs = smoothed_probabilities(counts, params.smoothing)
    bits = surprisal_bits(probs)
    sess = score_sessions(moves, events, bits, params.min_events)
    thresholds, calibration_cap = calibrate_capped(sess, params)
    model = Model(
        version="",  # named when finished (``named``)
        created_at=when.created_at,
        window_start=when.start,
        window_end=when.end,
        tokens=tokens,
        params=params,
        thresholds=thresholds,
        stats=window_stats(window, events, moves, len(tokens), calibration_cap, params.max_user_share),
        counts=counts,
        surprisal=bits,
        start_distribution=probs[START_INDEX].astype(np.float32),
    )
    return model, sess


@dataclass(frozen=True)
class RobustRefit:
    """The counts of one robust round and what it left out."""

    counts: np.ndarray
    users_left_out: int
    transitions_left_out: int

    def as_dict(self, rounds: int) -> dict[str, Any]:
        return {
            "trim_users": robust.TRIM_USERS,
            "rounds": rounds,
            "users_left_out": self.users_left_out,
            "transitions_left_out": self.transitions_left_out,
        }


def robust_counts(model: Model, window: CleanWindow, events: OrderedEvents, moves: Transitions) -> RobustRefit:
    """One round of ``model.robust``: the counts without the transitions of the window's most anomalous users
    under ``model`` (``robust.TRIM_USERS`` of them)."""
    names, scores = robust.user_scores(model, window.cols)
    out = robust.most_anomalous(names, scores, robust.TRIM_USERS)
    code = {u: i for i, u in enumerate(factorize(window.cols.users)[1])}  # ``events.users``' codes, cached
    left_out = np.zeros(len(code), dtype=bool)
    left_out[[code[u] for u in out]] = True
    keep = ~left_out[events.users]
    counts = count_transitions(moves.prev[keep], moves.states[keep], model.n_states)
    return RobustRefit(counts, len(out), int((~keep).sum()))


def train(
    cols: EventColumns,
    params: ModelParams,
    *,
    window_start: str,
    window_end: str,
    created_at: str,
    min_sessions: int,
    exclude_users: Collection[str] = (),
    robust_rounds: int = robust.ROUNDS,
) -> tuple[Model, TrainingSessions]:
    """``robust_rounds`` robust refits of the counts (``model.robust``; 0 = counts of every unblocked user)."""
    params.validate()
    when = Window(window_start, window_end, created_at)
    try:
        return _train(cols, params, when, min_sessions, exclude_users, robust_rounds)
    finally:
        detector.forget_window()  # the window's cut, cached while the fits share it, is the window's size


def _train(
    cols: EventColumns,
    params: ModelParams,
    when: Window,
    min_sessions: int,
    exclude_users: Collection[str],
    robust_rounds: int,
) -> tuple[Model, TrainingSessions]:
    window = clean_window(cols, exclude_users)
    events = order_and_cap(window.cols, params.max_user_share, params.gap_ms)
    tokens = build_vocabulary(token_counts(events), params.max_states, params.min_token_count)
    moves = split_sessions(events, index_of(tokens), params.gap_ms)
    if moves.n_sessions < min_sessions:
        raise InsufficientData(
            f"{moves.n_sessions} sessions in the window, fewer than the minimum of {min_sessions}", min_sessions=True
        )
    counts = count_transitions(moves.prev, moves.states, len(tokens))
    model, sess = fit_markov(window, events, moves, tokens, counts, params, when)
    refit = RobustRefit(counts, 0, 0)
    for _ in range(robust_rounds):
        refit = robust_counts(model, window, events, moves)
        model, sess = fit_markov(window, events, moves, tokens, refit.counts, params, when)
    model = replace(model, stats={**model.stats, "robust": refit.as_dict(robust_rounds)})
    model = with_groups(with_detector(model, window, exclude_users), window.with_blocked, exclude_users)
    return named(model), sess


def with_detector(model: Model, window: CleanWindow, blocked: Collection[str]) -> Model:
    """The model with detector v2 fitted on the same window (``model.detector``); a window it cannot be fitted on
    (no session long enough) publishes without it, and the stats say why."""
    try:
        fitted = detector.fit(model, window.with_blocked, frozenset(blocked), seed=0)
    except ValueError as exc:
        return attach_detector(model, str(exc))
    return attach_detector(model, fitted)


def attach_detector(model: Model, fitted: detector.Detector | str) -> Model:
    """The model with its fitted detector and the summary in its stats, or, given why it could not be fitted, with
    that reason in the stats."""
    if isinstance(fitted, str):
        return replace(model, stats={**model.stats, "detector": {"fitted": False, "reason": fitted}})
    summary: dict[str, Any] = {
        "fitted": True,
        "sessions": fitted.sessions,
        "threshold": fitted.threshold,
        "budget": fitted.budget,
        "supervised": fitted.blend is not None,
        "operating": fitted.operating,
    }
    if fitted.blend is not None:
        summary["validation_ap"] = {"unsupervised": fitted.blend.ap_unsupervised, "blend": fitted.blend.ap_blend}
    return replace(model, stats={**model.stats, "detector": summary}, detector=fitted.as_dict())
