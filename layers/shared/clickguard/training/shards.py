"""The shard side of distributed training (issue 13): every pass that needs all of a user's events, run on one user
shard of the window at a time.

A shard holds every event of its users (``partials.shard_of``), concatenated from its block of each partition in
the window's archive order: each user's events are exactly the subsequence the single-pass trainer sees, so
duplicates across partitions, late events, sessions that span partitions and per-user caps come out exactly as they
do there, as the consumer's carried state makes any split of a stream into batches give the same sessions. Users are
named by ``first_seen`` (the place of their first event in the window): the reduce orders them by it, which is the
single pass's order of first appearance.

``prepare`` does the model-free part once (duplicates, blocked users, per-user order, late events); each pass then
takes a request (what the reduce has decided so far: the cap, the vocabulary, a model's counts, the users the robust
refit leaves out, the detector's tables) and returns what the reduce sums or gathers. Every pass calls the trainer's
own functions on the shard's events (``pipeline``, ``detector.sessions_of``, ``crossfit.window_scores``), so a shard
computes per user exactly what the single pass computes; only the decisions that need every user are the reduce's
(``training.mapreduce``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model import detector, group_fit
from clickguard.model.codes import factorize
from clickguard.model.crossfit import WindowEvents, window_scores
from clickguard.model.groups import Groups, signatures
from clickguard.model.live import SUPERVISED_EXTRA, LiveDetector
from clickguard.model.model import Model, ModelParams, Thresholds
from clickguard.model.sessions import previous_states, session_starts
from clickguard.model.supervised import WEIGHTS, BlendFit, blend_z
from clickguard.model.tails import TailTables
from clickguard.model.transitions import count_transitions, smoothed_probabilities, surprisal_bits
from clickguard.model.user_cap import rank_within_runs
from clickguard.model.vocabulary import START_INDEX, index_of
from clickguard.training.dataset import EventColumns
from clickguard.training.partials import Block, first_seen
from clickguard.training.pipeline import (
    OrderedEvents,
    Transitions,
    first_occurrences,
    order_and_cap,
    score_sessions,
    split_sessions,
)

NO_CAP = 1.0  # ``order_and_cap`` with a share of 1 caps nobody: the reduce decides the cap from every user


def markov_model(tokens: Sequence[str], counts: np.ndarray, params: ModelParams) -> Model:
    """A model of ``counts`` as the trainer smooths them (``pipeline.fit_markov``), for scoring while it is still
    being fitted: the vocabulary, surprisal and parameters are final, the thresholds not yet measured."""
    probs = smoothed_probabilities(counts, params.smoothing)
    unmeasured = Thresholds(0.0, 0.0, params.min_events, 0.0, 0.0, 0, 0.0, 0.0, 0.0)
    return Model(
        version="provisional",
        created_at="",
        window_start="",
        window_end="",
        tokens=tuple(tokens),
        params=params,
        thresholds=unmeasured,
        stats={},
        counts=counts,
        surprisal=surprisal_bits(probs),
        start_distribution=probs[START_INDEX].astype(np.float32),
    )


def _column(table: list[Any], codes: np.ndarray) -> list[Any]:
    """Codes into a table as the values themselves (-1: None)."""
    return list(map([*table, None].__getitem__, codes.tolist()))


def load(blocks: Sequence[tuple[int, Block]]) -> tuple[EventColumns, np.ndarray]:
    """The shard's events from its blocks, given in the window's partition order with each partition's ordinal:
    columns as the trainer reads them, and each event's ``first_seen`` place."""
    cols = EventColumns()
    places = []
    for ordinal, block in blocks:
        cols.users.extend(_column(block.users, block.user))
        cols.tokens.extend(_column(block.tokens, block.token))
        cols.ts_ms.extend(block.ts_ms.tolist())
        cols.session_ids.extend(_column(block.sids, block.sid))
        cols.event_ids.extend(_column(block.eids, block.eid))
        places.append(first_seen(ordinal, block.row))
    return cols, (np.concatenate(places) if places else np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class Prepared:
    """A shard's window once the model-free steps are done (as ``pipeline.clean_window`` and ``order_and_cap``)."""

    params: ModelParams
    with_blocked: EventColumns  # repeats dropped, blocked users kept (the detector's window)
    clean: EventColumns  # blocked users dropped too (the Markov model's window)
    events: OrderedEvents  # clean, grouped by user in arrival order, late events dropped, not capped
    user_seen: np.ndarray  # first_seen of each user code of ``clean`` (``events.users`` codes)
    blocked_seen: np.ndarray  # first_seen of each user of ``with_blocked``, in its first-appearance order
    blocked_names: list[str]  # those users
    duplicates: int
    excluded_events: int


def _first_seen_per_user(users: list[str], places: np.ndarray) -> tuple[np.ndarray, list[str]]:
    codes, names = factorize(users)
    first = np.zeros(len(names), dtype=np.int64)
    if len(codes):
        _, at = np.unique(codes, return_index=True)
        first = places[at]
    return first, names


def prepare(cols: EventColumns, places: np.ndarray, blocked: Collection[str], params: ModelParams) -> Prepared:
    """Drop repeats of an event id (across partitions now) and blocked users, group by user, drop late events."""
    keep = first_occurrences(cols)
    with_blocked = cols if keep is None else cols.subset(keep)
    wb_places = places if keep is None else places[np.asarray(keep, dtype=np.int64)]
    left_out = frozenset(blocked)
    clean, clean_places = with_blocked, wb_places
    if left_out:
        rows = [i for i, u in enumerate(with_blocked.users) if u not in left_out]
        clean, clean_places = with_blocked.subset(rows), wb_places[np.asarray(rows, dtype=np.int64)]
    user_seen, _ = _first_seen_per_user(clean.users, clean_places)
    blocked_seen, blocked_names = _first_seen_per_user(with_blocked.users, wb_places)
    return Prepared(
        params=params,
        with_blocked=with_blocked,
        clean=clean,
        events=order_and_cap(clean, NO_CAP, params.gap_ms),
        user_seen=user_seen,
        blocked_seen=blocked_seen,
        blocked_names=[str(u) for u in blocked_names],
        duplicates=len(cols) - len(with_blocked),
        excluded_events=len(with_blocked) - len(clean),
    )


def _histogram(amounts: np.ndarray) -> dict[str, np.ndarray]:
    values, counts = np.unique(amounts[amounts > 0], return_counts=True)
    return {"values": values.astype(np.int64), "counts": counts.astype(np.int64)}


def _capped(p: Prepared, cap: int | None) -> OrderedEvents:
    """The shard's events with each user's first ``cap`` kept (``user_cap.cap_runs`` with the window's cap)."""
    ev = p.events
    if cap is None:
        return ev
    keep = rank_within_runs(ev.users) < cap
    if keep.all():
        return ev
    return replace(ev, users=ev.users[keep], ts_ms=ev.ts_ms[keep], sids=ev.sids[keep], token_codes=ev.token_codes[keep])


def window_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """What the cap needs (on-time events per user), and the window's counts for the model's stats."""
    ev = p.events
    n_users = len(p.user_seen)
    return {
        "events": len(p.clean),
        "users": n_users,
        "duplicates": p.duplicates,
        "excluded_events": p.excluded_events,
        "late": ev.late,
        "tokens": dict(Counter(p.clean.tokens)),
        "amounts": _histogram(np.bincount(ev.users, minlength=n_users)),
    }


def counts_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Token counts of the capped events (the vocabulary's input) and their transitions between tokens, each
    session opening from START (the reduce maps tokens to states once the vocabulary is known)."""
    ev = _capped(p, request["cap"])
    codes, tokens = factorize(ev.tokens)
    starts = session_starts(ev.users, ev.ts_ms, ev.sids, p.params.gap_ms)
    prev = previous_states(codes + 1, starts, 0)  # 0 = START, a token is its code + 1
    pair, n = np.unique(prev * (len(tokens) + 1) + codes + 1, return_counts=True)
    return {
        "token_names": [str(t) for t in tokens],
        "token_counts": np.bincount(codes, minlength=len(tokens)).astype(np.int64),
        "pair_from": (pair // (len(tokens) + 1)).astype(np.int64),
        "pair_to": (pair % (len(tokens) + 1)).astype(np.int64),
        "pair_counts": n.astype(np.int64),
        "sessions": int(starts.sum()),
    }


def _model(p: Prepared, request: dict[str, Any]) -> Model:
    return markov_model(request["tokens"], request["counts"], p.params)


def features_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Every judged session of the unblocked users under the request's model (``detector.sessions_of`` on the
    window the robust refit scores): its features and its user."""
    sess = detector.sessions_of(_model(p, request), p.clean)
    return {"features": sess.features, "owner": p.user_seen[sess.owner]}


def _moves(p: Prepared, request: dict[str, Any]) -> tuple[OrderedEvents, Transitions]:
    ev = _capped(p, request["cap"])
    return ev, split_sessions(ev, index_of(request["tokens"]), p.params.gap_ms)


def recount_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """The capped events' transition counts without the users the robust refit leaves out."""
    ev, moves = _moves(p, request)
    out = np.isin(p.user_seen, request["left_out"])[ev.users]
    counts = count_transitions(moves.prev[~out], moves.states[~out], len(request["tokens"]))
    return {"counts": counts, "left_out_transitions": int(out.sum())}


def final_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Under the final counts: every training session long enough to calibrate on, scored
    (``pipeline.score_sessions``); every judged session of the detector's window (blocked users included) with its
    user; whether each user of that window is blocked, and the blocked users' transitions."""
    model = _model(p, request)
    ev, moves = _moves(p, request)
    sess = score_sessions(moves, ev, model.surprisal, p.params.min_events)
    assert sess.peak_mean_ubits is not None
    eligible = sess.transitions >= p.params.min_events  # the calibration reads no other session
    judged = detector.sessions_of(model, p.with_blocked)
    blocked = frozenset(request["blocked"])
    positive = np.array([u in blocked for u in p.blocked_names], dtype=bool)
    return {
        "calibration_owner": p.user_seen[sess.user_codes[eligible]],
        "transitions": sess.transitions[eligible],
        "total_ubits": sess.total_ubits[eligible],
        "peak_mean_ubits": sess.peak_mean_ubits[eligible],
        "features": judged.features,
        "owner": p.blocked_seen[judged.owner],
        "users": p.blocked_seen,
        "names": p.blocked_names,
        "positive": positive,
        **_blocked_cells(judged, positive, p.blocked_seen),
    }


def _blocked_cells(sess: detector.Sessions, positive: np.ndarray, seen: np.ndarray) -> dict[str, np.ndarray]:
    """Each blocked user's transitions (on-time events, the final model's states) as counted cells: what the
    blocked chain of any set of them sums (``llr.BlockedChain``)."""
    mine = positive[sess.user]
    v = np.int64(sess.n_tokens)
    keys, n = np.unique((sess.user[mine] * v + sess.prev[mine]) * v + sess.states[mine], return_counts=True)
    return {
        "cell_user": seen[keys // (v * v)],
        "cell_from": (keys // v) % v,
        "cell_to": keys % v,
        "cell_count": n.astype(np.int64),
    }


def _window(p: Prepared, model: Model) -> WindowEvents:
    return WindowEvents.of(detector.on_time(model, p.with_blocked), p.blocked_names)


def _per_user_max(values: np.ndarray, window: WindowEvents) -> np.ndarray:
    """Per user (-inf: no event, or never judged), the highest of their events' values. Raw: the reduce puts the
    never-judged on the window's floor (``supervised.peak_per_user``)."""
    best = np.full(len(window.names), -np.inf)
    if len(window.owner):
        np.maximum.at(best, window.owner, values)
    return best


def _scorer(model: Model, request: dict[str, Any], blend: dict[str, Any] | None = None) -> LiveDetector:
    tables = TailTables.from_dict(request["tables"])
    fit = BlendFit.from_dict(blend) if blend is not None else None
    return LiveDetector(detector.FEATURES, tables, fit)


def peaks_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Each user's peak score, as the consumer scores them (``crossfit.window_scores``), under the detector's tables
    and the request's blend (with its LLR table) if any."""
    model = _model(p, request)
    window = _window(p, model)
    scores = window_scores(model, _scorer(model, request, request.get("blend")), window, llr=request.get("llr"))
    return {"users": p.blocked_seen, "peak": _per_user_max(scores, window)}


# The supervised inputs' columns that read the LLR table (``live.SUPERVISED_EXTRA``): all a fold's inputs change.
LLR_COLUMNS = [SUPERVISED_EXTRA.index(c) - len(SUPERVISED_EXTRA) for c in ("llr_total_bits", "llr_mean_bits")]


def inputs_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Per user: the supervised part's inputs (``detector.supervised_inputs``) under the full blocked chain's LLR
    table, their LLR columns under each fold's, the worst session's unsupervised score and the peak one."""
    model = _model(p, request)
    tables = TailTables.from_dict(request["tables"])
    sess = detector.sessions_of(model, p.with_blocked)
    worst = detector.worst_sessions(tables, sess)
    full, *folds = (detector.supervised_inputs(sess, worst, sess.llr_totals(llr)) for llr in request["llr"])
    window = _window(p, model)
    unsupervised = window_scores(model, _scorer(model, request), window)
    return {
        "users": p.blocked_seen,
        "inputs": full,
        "fold_llr": np.stack([x[:, LLR_COLUMNS] for x in folds]),
        "worst": worst.score,
        "peak": _per_user_max(unsupervised, window),
    }


def folds_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Cross-fitting (``crossfit.out_of_fold``): each user's events scored by the supervised model of the folds that did
    not learn them, under their fold's LLR table; per user, the peak blend at each of ``supervised.WEIGHTS``."""
    model = _model(p, request)
    window = _window(p, model)
    unsupervised = window_scores(model, _scorer(model, request), window)
    fold = request["fold"][np.searchsorted(request["fold_users"], p.blocked_seen)][window.owner]
    z_u = np.full(len(unsupervised), np.nan)
    z_l = np.full(len(unsupervised), np.nan)
    for k, (fit, llr) in enumerate(zip(request["fold_fits"], request["fold_llr"], strict=True)):
        rows = np.flatnonzero(fold == k)
        if not len(rows):
            continue
        z_l[rows] = window_scores(model, _scorer(model, request, fit), window, rows, llr)
        scale = BlendFit.from_dict(fit).scale
        z_u[rows] = (unsupervised[rows] - scale.unsupervised_center) / scale.unsupervised_scale
    peaks = [_per_user_max(blend_z(z_u, z_l, w), window) for w in WEIGHTS]
    return {"users": p.blocked_seen, "peaks": np.stack(peaks)}


@dataclass(frozen=True)
class _GroupWindow:
    """The behaviour groups' view of the shard (``group_fit.fit_groups``): sessions, each user's longest judged
    session (unblocked users': ``ordinary``; blocked users': ``flagged_out``) and the checkpoints of the judged
    sessions of unblocked users."""

    model: Model
    ws: group_fit.WindowSessions
    ordinary: np.ndarray
    flagged_out: np.ndarray
    judged: np.ndarray


def _group_window(p: Prepared, request: dict[str, Any]) -> _GroupWindow:
    model = _model(p, request)
    ws = group_fit.WindowSessions.of(model, p.with_blocked)
    longest = ws.longest(settings.PROFILE_MIN_EVENTS)
    left_out = frozenset(request["blocked"])
    is_blocked = np.array([ws.names[o] in left_out for o in ws.owner.tolist()], dtype=bool)
    judged = np.flatnonzero((ws.length >= settings.PROFILE_MIN_EVENTS) & ~is_blocked)  # both per session
    return _GroupWindow(model, ws, longest[~is_blocked[longest]], longest[is_blocked[longest]], judged)


def groups_profile_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """The background's mass over the ordinary users' longest sessions, and the shard's first ``MAX_PROFILES``
    of them by the digest of the user's key (the window's sample is among them): their digest, user and events."""
    gw = _group_window(p, request)
    ws = gw.ws
    digests = [group_fit._digest(ws.names[o]) for o in ws.owner[gw.ordinary].tolist()]
    sample = gw.ordinary[np.argsort(digests, kind="stable")[: group_fit.MAX_PROFILES]] if digests else gw.ordinary
    spans = [np.arange(ws.first[s], ws.first[s] + ws.length[s], dtype=np.int64) for s in sample.tolist()]
    events = np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)
    return {
        "ordinary": len(gw.ordinary),
        "mass": group_fit.background_mass(ws, gw.ordinary, gw.model.n_states),
        "digests": [group_fit._digest(ws.names[o]) for o in ws.owner[sample].tolist()],
        "users": p.blocked_seen[ws.owner[sample]],
        "lengths": ws.length[sample],
        "states": ws.states[events],
        "bits": ws.bits[events],
    }


def _checkpoint_distances(gw: _GroupWindow, groups: Groups) -> tuple[group_fit.Checkpoints, np.ndarray]:
    cks = group_fit.Checkpoints.of(gw.ws, gw.judged, groups.first_checkpoint, gw.model.n_states)
    return cks, groups.place(cks.prof)[1]


def groups_limit_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Per user whose longest session fits a group: the farthest any of their checkpoints lies from every group
    (``group_fit.fit_limit``'s input)."""
    gw = _group_window(p, request)
    groups = Groups.from_dict(request["stored"], gw.model.tokens)
    cks, distance = _checkpoint_distances(gw, groups)
    fits = group_fit.place_users(groups, gw.ws, gw.ordinary).fits
    mine = np.isin(cks.owner, gw.ws.owner[gw.ordinary[fits]])
    worst = np.full(len(gw.ws.names), -np.inf)
    np.maximum.at(worst, cks.owner[mine], distance[mine])
    owners = np.unique(cks.owner[mine])
    return {"users": p.blocked_seen[owners], "worst": worst[owners]}


def groups_describe_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    """Under the groups at their final limit: each group's users, blocked users and transitions, the emerging
    checkpoints' users per (signature, hour), and the shares of users and checkpoints that fit."""
    gw = _group_window(p, request)
    ws, v = gw.ws, gw.model.n_states
    groups = Groups.from_dict(request["stored"], gw.model.tokens)
    k = len(groups.ids)
    placed = group_fit.place_users(groups, ws, gw.ordinary)
    held = group_fit.place_users(groups, ws, gw.flagged_out)
    group_of = np.full(len(ws.first), -1, dtype=np.int64)
    group_of[placed.sessions[placed.fits]] = placed.group[placed.fits]
    event_group = group_of[ws.seg]
    member = event_group >= 0
    keys, n = np.unique((event_group[member] * v + ws.prev[member]) * v + ws.states[member], return_counts=True)
    cks, distance = _checkpoint_distances(gw, groups)
    out = np.flatnonzero(distance > groups.limit)
    signature = signatures(cks.prof.subset(out), list(range(len(out))), groups.tokens)
    seen: dict[tuple[str, int], set[int]] = {}
    for sig, hour, owner in zip(signature, cks.hour[out].tolist(), cks.owner[out].tolist(), strict=True):
        seen.setdefault((sig, hour), set()).add(owner)
    return {
        "users": np.bincount(placed.group[placed.fits], minlength=k),
        "blocked": np.bincount(held.group[held.fits], minlength=k),
        "pair_group": keys // (v * v),
        "pair_from": (keys // v) % v,
        "pair_to": keys % v,
        "pair_count": n.astype(np.int64),
        "signatures": [sig for sig, _ in seen],
        "hours": np.array([hour for _, hour in seen], dtype=np.int64),
        "signature_users": np.array([len(users) for users in seen.values()], dtype=np.int64),
        "fits": int(placed.fits.sum()),
        "profiled": len(gw.ordinary),
        "ungrouped_checkpoints": len(out),
        "checkpoints": len(distance),
    }


PASSES: dict[str, Callable[[Prepared, dict[str, Any]], dict[str, Any]]] = {
    "window": window_pass,
    "counts": counts_pass,
    "features": features_pass,
    "recount": recount_pass,
    "final": final_pass,
    "peaks": peaks_pass,
    "inputs": inputs_pass,
    "folds": folds_pass,
    "budget": peaks_pass,
    "groups_profile": groups_profile_pass,
    "groups_limit": groups_limit_pass,
    "groups_describe": groups_describe_pass,
}


def run_pass(p: Prepared, request: dict[str, Any]) -> dict[str, Any]:
    return PASSES[request["pass"]](p, request)
