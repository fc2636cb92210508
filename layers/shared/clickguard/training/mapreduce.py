"""The reduce side of distributed training (issue 13): a run of passes over user shards, each decision taken on
everything the shards returned, so that the model equals the single-pass trainer's (``pipeline.train``) bit for bit.

The run, as its stages (``advance`` takes the shards' results of one pass and returns the next request):

1. ``window``: per shard, on-time events per user (after duplicates across partitions, blocked users and late
   events are dropped) -> the per-user cap (``user_cap.user_cap`` on every user's amount) and the window's stats;
2. ``counts``: each shard's capped token counts and token-to-token transitions -> the vocabulary
   (``build_vocabulary`` on the summed counts) and the transition counts (summed, mapped to its states);
3. ``features`` then ``recount``, ``robust.ROUNDS`` times: every judged session's features under the current counts
   -> the tail tables fitted on all of them and each user's score (as ``robust.user_scores``), the most anomalous
   users (``robust.most_anomalous``, ties in order of first appearance) -> the counts without them, summed;
4. ``final``: under the final counts, every training session's length, total and peak micro-bits -> the thresholds
   (``pipeline.calibrate_capped`` on all of them); every judged session of the detector's window -> its tail tables;
5. ``peaks``: each user's highest per-event score under those tables -> the cut (``operating``), detector v2.

What the reduce holds is one row per judged session (its features: 9 floats) and a few numbers per user, never the
events: about 100 bytes per judged session and 30 per user (``README``, "Training at scale").

Exactness: every per-user quantity is computed by the trainer's own functions on all of the user's events in their
order (``training.shards``); every decision that needs all users is taken by the trainer's functions on the gathered
per-user or per-session values, in the single pass's order of first appearance wherever order matters (ties in a
ranking, the calibration cap's prefixes); sums are of integers. So no histogram is involved and the model is the
same bytes as the single pass (``tests/unit/test_mapreduce_equality.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from clickguard.model import detector, group_fit, robust
from clickguard.model.crossfit import user_folds
from clickguard.model.llr import BlockedChain
from clickguard.model.model import Model, ModelParams, Thresholds
from clickguard.model.operating import precision_cut
from clickguard.model.operating import summary as operating_summary
from clickguard.model.supervised import (
    FOLDS,
    WEIGHTS,
    BlendFit,
    NothingToLearn,
    blend_scale,
    choose_from_peaks,
    final_blend,
    fit_supervised,
    peak_per_user,
    predict_logit,
)
from clickguard.model.tails import TailTables, fit_robust, score, threshold_for_budget
from clickguard.model.user_cap import CapReport, user_cap
from clickguard.model.vocabulary import OTHER_INDEX, START_INDEX, build_vocabulary, index_of
from clickguard.training import group_reduce
from clickguard.training.partials import Layout, Partition, Summary
from clickguard.training.pipeline import (
    InsufficientData,
    TrainingSessions,
    attach_detector,
    calibrate_capped,
    named,
)
from clickguard.training.shards import LLR_COLUMNS, markov_model

STAGES = (
    "window", "counts", "features", "recount", "final", "peaks", "inputs", "folds", "budget",
    "groups_profile", "groups_limit", "groups_describe", "done",
)  # fmt: skip
SEED = 0  # ``pipeline.with_detector``'s: the cross-fitting folds


@dataclass(frozen=True)
class RunSpec:
    """What a run trains on: the window, its partitions (in archive order), the layout of their partials, the
    parameters and the users reviewers blocked."""

    window_start: str
    window_end: str
    created_at: str
    params: ModelParams
    min_sessions: int
    layout: Layout
    partitions: tuple[Partition, ...]
    blocked: tuple[str, ...] = ()
    robust_rounds: int = robust.ROUNDS

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "created_at": self.created_at,
            "params": vars(self.params).copy(),
            "min_sessions": self.min_sessions,
            "shards": self.layout.shards,
            "user_key_source": self.layout.user_key_source.value,
            "prefix": self.layout.prefix,
            "partitions": [p.as_dict() for p in self.partitions],
            "blocked": list(self.blocked),
            "robust_rounds": self.robust_rounds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        from clickguard.events import UserKeySource

        return cls(
            window_start=data["window_start"],
            window_end=data["window_end"],
            created_at=data["created_at"],
            params=ModelParams(**data["params"]),
            min_sessions=int(data["min_sessions"]),
            layout=Layout(int(data["shards"]), UserKeySource(data["user_key_source"]), data["prefix"]),
            partitions=tuple(Partition.from_dict(p) for p in data["partitions"]),
            blocked=tuple(data["blocked"]),
            robust_rounds=int(data["robust_rounds"]),
        )


@dataclass
class RunState:
    """Everything the reduce has decided so far (serialisable: the Step Functions run keeps it in S3 between
    steps). ``stage`` names the pass whose results ``advance`` expects next."""

    spec: RunSpec
    stage: str = "window"
    round: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    cap: int | None = None
    tokens: list[str] = field(default_factory=list)
    counts: np.ndarray | None = None
    left_out: np.ndarray | None = None
    refit: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    users: np.ndarray | None = None  # the detector window's users (first_seen), in order of first appearance
    positive: np.ndarray | None = None  # blocked, per user
    detector_rows: int = 0
    # the supervised part (``detector._fit_blend``), where the window has labels
    fold: np.ndarray | None = None  # per user
    chains: list[dict[str, Any]] = field(default_factory=list)  # the blocked chain: every blocked user's, each fold's
    inputs: np.ndarray | None = None  # per user, under the full chain
    worst: np.ndarray | None = None  # per user, the worst session's unsupervised score
    unsupervised: np.ndarray | None = None  # per user, the raw peak unsupervised score
    blend: dict[str, Any] | None = None
    validated: np.ndarray | None = None
    # the behaviour groups (``group_reduce``): as stored so far, the sample's radius and size, or why not fitted
    groups: dict[str, Any] = field(default_factory=dict)
    groups_fit: dict[str, Any] = field(default_factory=dict)
    groups_reason: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)  # the detector (as_dict) or why it was not fitted

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in vars(self).items() if k != "spec"}, "spec": self.spec.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        return cls(**{**data, "spec": RunSpec.from_dict(data["spec"])})


def first_request(state: RunState) -> dict[str, Any]:
    return {"pass": "window"}


def _merged_histogram(results: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """Every user's amount, from the shards' histograms (values, how many users have each)."""
    values = np.concatenate([r[key]["values"] for r in results]) if results else np.zeros(0, np.int64)
    counts = np.concatenate([r[key]["counts"] for r in results]) if results else np.zeros(0, np.int64)
    return np.repeat(values, counts)


def _cap_report(amounts: np.ndarray, max_share: float) -> CapReport:
    """What ``user_cap.cap_runs`` reports for items of users with these ``amounts``."""
    cap = user_cap(amounts, max_share)
    if cap is None:
        return CapReport(None, 0, 0)
    over = amounts > cap
    return CapReport(cap, int(over.sum()), int((amounts[over] - cap).sum()))


def _on_window(state: RunState, results: Sequence[dict[str, Any]], summaries: Sequence[Summary]) -> dict[str, Any]:
    spec, p = state.spec, state.spec.params
    events = sum(int(r["events"]) for r in results)
    if events == 0:
        raise InsufficientData("the training window holds no valid events")
    report = _cap_report(_merged_histogram(results, "amounts"), p.max_user_share)
    rejected: Counter[str] = Counter()
    for s in summaries:
        rejected.update(s.rejected)
    tokens: set[str] = set()
    for r in results:
        tokens.update(r["tokens"])
    state.cap = report.cap
    state.stats = {
        "lines": sum(s.lines for s in summaries),
        "events": events,
        "duplicates_dropped": sum(s.duplicates for s in summaries) + sum(int(r["duplicates"]) for r in results),
        "excluded_users": len(frozenset(spec.blocked)),
        "excluded_events": sum(int(r["excluded_events"]) for r in results),
        "rejected": dict(sorted(rejected.items())),
        "late_events": sum(int(r["late"]) for r in results),
        "users": sum(int(r["users"]) for r in results),
        "distinct_tokens": len(tokens),
        "transition_cap": report.as_dict(),
    }
    state.stage = "counts"
    return {"pass": "counts", "cap": state.cap}


def _on_counts(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    p = state.spec.params
    token_counts: Counter[str] = Counter()
    for r in results:
        token_counts.update(dict(zip(r["token_names"], r["token_counts"].tolist(), strict=True)))
    tokens = build_vocabulary(token_counts, p.max_states, p.min_token_count)
    index = index_of(tokens)
    v = len(tokens)
    counts = np.zeros(v * v, dtype=np.int64)
    for r in results:
        state_of = np.array([START_INDEX] + [index.get(t, OTHER_INDEX) for t in r["token_names"]], dtype=np.int64)
        np.add.at(counts, state_of[r["pair_from"]] * v + state_of[r["pair_to"]], r["pair_counts"])
    sessions = sum(int(r["sessions"]) for r in results)
    if sessions < state.spec.min_sessions:
        raise InsufficientData(
            f"{sessions} sessions in the window, fewer than the minimum of {state.spec.min_sessions}", min_sessions=True
        )
    state.tokens, state.counts = list(tokens), counts.reshape(v, v)
    transitions = int(state.counts.sum())
    state.stats.update(
        sessions=sessions,
        transitions=transitions,
        other_share=round(float(state.counts[:, OTHER_INDEX].sum()) / transitions, 6),
    )
    state.refit = {"counts_users_left_out": 0, "transitions_left_out": 0}
    return _next_round(state)


def _model_request(state: RunState, name: str) -> dict[str, Any]:
    return {"pass": name, "tokens": state.tokens, "counts": state.counts, "cap": state.cap}


def _next_round(state: RunState) -> dict[str, Any]:
    if state.round < state.spec.robust_rounds:
        state.stage = "features"
        return _model_request(state, "features")
    state.stage = "final"
    return {**_model_request(state, "final"), "blocked": list(state.spec.blocked)}


def _user_codes(owner_seen: np.ndarray, users: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Owners (first_seen) as codes in order of first appearance, and the users they code (sorted first_seen)."""
    if users is None:
        users, codes = np.unique(owner_seen, return_inverse=True)
        return codes.astype(np.int64), users
    return np.searchsorted(users, owner_seen).astype(np.int64), users


def _tables(features: np.ndarray, owner: np.ndarray, clean: np.ndarray, params: ModelParams) -> np.ndarray:
    """The rows the tail tables are fitted on (``detector.table_rows``)."""
    return detector.table_rows(features, owner, clean, params.max_user_share)


def _on_features(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``robust.user_scores`` and ``robust.most_anomalous`` on every judged session of the window."""
    features = np.concatenate([r["features"] for r in results]) if results else np.zeros((0, 0))
    owner, users = _user_codes(np.concatenate([r["owner"] for r in results]) if results else np.zeros(0, np.int64))
    rows = _tables(features, owner, np.ones(len(owner), dtype=bool), state.spec.params) if len(owner) else owner
    left_out: list[str] = []
    if len(rows):
        tables = fit_robust(rows, detector.DIRECTIONS, detector.TRIM, detector.ROUNDS, groups=detector.GROUPS)
        best = np.full(len(users), -np.inf)
        np.maximum.at(best, owner, score(tables, features))
        left_out = robust.most_anomalous([str(u) for u in users.tolist()], best, robust.TRIM_USERS)
    state.left_out = np.array(sorted(int(u) for u in left_out), dtype=np.int64)
    state.stage = "recount"
    return {**_model_request(state, "recount"), "left_out": state.left_out}


def _on_recount(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    v = len(state.tokens)
    state.counts = sum((r["counts"] for r in results), np.zeros((v, v), dtype=np.int64))
    assert state.left_out is not None
    state.refit = {
        "counts_users_left_out": len(state.left_out),
        "transitions_left_out": sum(int(r["left_out_transitions"]) for r in results),
    }
    state.round += 1
    return _next_round(state)


def _calibrate(state: RunState, results: Sequence[dict[str, Any]]) -> CapReport:
    owner, _ = _user_codes(np.concatenate([r["calibration_owner"] for r in results]))
    sess = TrainingSessions(
        user_codes=owner,
        transitions=np.concatenate([r["transitions"] for r in results]),
        total_ubits=np.concatenate([r["total_ubits"] for r in results]),
        peak_mean_ubits=np.concatenate([r["peak_mean_ubits"] for r in results]),
    )
    thresholds, report = calibrate_capped(sess, state.spec.params)
    state.thresholds = vars(thresholds).copy()
    return report


def _on_final(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    calibration_cap = _calibrate(state, results)
    state.stats["calibration_cap"] = calibration_cap.as_dict()
    users = np.concatenate([r["users"] for r in results])
    order = np.argsort(users)
    state.users = users[order]
    state.positive = np.concatenate([r["positive"] for r in results])[order]
    features = np.concatenate([r["features"] for r in results])
    owner, _ = _user_codes(np.concatenate([r["owner"] for r in results]), state.users)
    rows = _tables(features, owner, ~state.positive[owner], state.spec.params) if len(owner) else features
    if not len(rows):
        state.outcome = {"reason": "no session in the window is long enough to fit detector v2"}
        return _groups_request(state, "groups_profile")
    tables = fit_robust(rows, detector.DIRECTIONS, trim=detector.TRIM, rounds=detector.ROUNDS, groups=detector.GROUPS)
    state.tables, state.detector_rows = tables.as_dict(), len(rows)
    request = {**_model_request(state, "peaks"), "tables": state.tables}
    if state.positive.sum() < FOLDS or (~state.positive).sum() < FOLDS:
        state.stage = "peaks"
        return request
    names = [n for r in results for n in r["names"]]
    state.fold = user_folds([names[i] for i in order.tolist()], state.positive, SEED)
    state.chains = _chains(state, results)
    state.stage = "inputs"
    return {**request, "pass": "inputs", "llr": _llr_tables(state)}


def _chains(state: RunState, results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocked chain of every blocked user, then of each fold's complement (``detector.supervision``)."""
    assert state.users is not None and state.fold is not None
    user = np.searchsorted(state.users, np.concatenate([r["cell_user"] for r in results]))
    cells = [np.concatenate([r[k] for r in results]) for k in ("cell_from", "cell_to", "cell_count")]
    v, smoothing = len(state.tokens), state.spec.params.smoothing
    chains = []
    for k in (None, *range(FOLDS)):
        mine = np.ones(len(user), dtype=bool) if k is None else state.fold[user] != k
        prev, cur = (np.repeat(c[mine], cells[2][mine]) for c in cells[:2])
        chains.append(BlockedChain.count(prev, cur, v, smoothing).as_dict())
    return chains


def _llr_tables(state: RunState) -> list[np.ndarray]:
    surprisal = markov_model(state.tokens, state.counts, state.spec.params).surprisal  # type: ignore[arg-type]
    return [BlockedChain.from_dict(c).llr_microbits(surprisal) for c in state.chains]


def _by_user(state: RunState, results: Sequence[dict[str, Any]], key: str, axis: int = 0) -> np.ndarray:
    """A per-user result of every shard, in the window's order of users."""
    users = np.concatenate([r["users"] for r in results])
    values = np.concatenate([r[key] for r in results], axis=axis)
    return np.take(values, np.argsort(users), axis=axis)


def _on_inputs(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each fold's supervised model and scale, fitted on the other folds (``crossfit.out_of_fold``)."""
    assert state.fold is not None and state.positive is not None and state.users is not None
    state.inputs = _by_user(state, results, "inputs")
    fold_llr = _by_user(state, results, "fold_llr", axis=1)
    state.worst = _by_user(state, results, "worst")
    state.unsupervised = _by_user(state, results, "peak")
    fits = []
    for k in range(FOLDS):
        train = state.fold != k
        inputs = state.inputs.copy()
        inputs[:, LLR_COLUMNS] = fold_llr[k]
        try:
            learnt = fit_supervised(inputs[train], state.positive[train])
        except NothingToLearn:  # as ``detector._fit_blend``: no supervised part, the unsupervised peaks decide
            state.stage = "peaks"
            return {**_model_request(state, "peaks"), "tables": state.tables}
        scale = blend_scale(state.worst[train], predict_logit(learnt, inputs[train]))
        fits.append(BlendFit(learnt, scale, 1.0, False, np.nan, np.nan, 0, 0).as_dict())
    state.stage = "folds"
    llr = _llr_tables(state)
    return {
        **_model_request(state, "folds"),
        "tables": state.tables,
        "fold_users": state.users,
        "fold": state.fold,
        "fold_fits": fits,
        "fold_llr": llr[1:],
    }


def _on_folds(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The weight that validates best, the final blend (``supervised.final_blend``) and the cut."""
    assert state.positive is not None and state.inputs is not None and state.worst is not None
    assert state.unsupervised is not None
    peaks = _by_user(state, results, "peaks", axis=1)
    n = len(state.positive)
    floor = [peak_per_user(x, np.arange(n), n) for x in (state.unsupervised, *peaks)]
    choice = choose_from_peaks(floor[0], floor[1:], state.positive)
    blend = final_blend(state.inputs, state.positive, state.worst, choice)
    validated = floor[0] if choice.weight == 0.0 else floor[1 + WEIGHTS.index(choice.weight)]
    state.blend = None if blend.refused else blend.as_dict()
    return _operating_point(state, validated)


def _operating_point(state: RunState, validated: np.ndarray) -> dict[str, Any] | None:
    """``detector.fit``'s cut: the target precision on the validated peaks, else the budget on every user's peak
    under the final detector (the unsupervised peaks when no blend is kept, else one more pass)."""
    assert state.positive is not None and state.unsupervised is not None
    p, positive = state.spec.params, state.positive
    state.validated = validated
    by_precision = precision_cut(validated, positive, p.target_precision, p.max_flag_share) if positive.any() else None
    if by_precision is not None or state.blend is None:
        budget = peak_per_user(state.unsupervised, np.arange(len(positive)), len(positive))
        cut = by_precision if by_precision is not None else threshold_for_budget(budget[~positive], p.alert_budget)
        return _finish(state, cut, by_precision is None)
    state.stage = "budget"
    llr = _llr_tables(state)[0]
    return {**_model_request(state, "budget"), "tables": state.tables, "blend": state.blend, "llr": llr}


def _on_budget(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    assert state.positive is not None
    raw = _by_user(state, results, "peak")
    n = len(raw)
    cut = threshold_for_budget(peak_per_user(raw, np.arange(n), n)[~state.positive], state.spec.params.alert_budget)
    return _finish(state, cut, True)


def _on_peaks(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Without a supervised part the peaks are the validated scores (``detector._fit_blend``)."""
    state.unsupervised = _by_user(state, results, "peak")
    n = len(state.unsupervised)
    return _operating_point(state, peak_per_user(state.unsupervised, np.arange(n), n))


def _finish(state: RunState, cut: float, by_budget: bool) -> dict[str, Any]:
    assert state.positive is not None and state.validated is not None
    p = state.spec.params
    operating = operating_summary(state.validated, state.positive, cut, by_budget, p)
    tables = TailTables.from_dict(state.tables)
    blend = BlendFit.from_dict(state.blend) if state.blend is not None else None
    chain = BlockedChain.from_dict(state.chains[0]) if blend is not None else None
    fitted = detector.Detector(tables, float(cut), blend, p.alert_budget, state.detector_rows, operating, chain)
    state.outcome = {"detector": fitted.as_dict()}
    return _groups_request(state, "groups_profile")


def _groups_request(state: RunState, stage: str) -> dict[str, Any]:
    """The next of the behaviour groups' passes (``group_reduce``), under the final model."""
    state.stage = stage
    return {**_model_request(state, stage), "blocked": list(state.spec.blocked), "stored": state.groups}


def _final_model(state: RunState) -> Model:
    assert state.counts is not None
    return markov_model(state.tokens, state.counts, state.spec.params)


def _on_groups(state: RunState, results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """``group_fit.fit_groups``, its window spread over the shards (``group_reduce``)."""
    model = _final_model(state)
    if state.stage == "groups_profile":
        state.groups_reason = group_reduce.too_few(model, results)
        if state.groups_reason is not None:
            state.stage = "done"
            return None
        state.groups, state.groups_fit = group_reduce.first_groups(model, results)
        return _groups_request(state, "groups_limit")
    if state.stage == "groups_limit":
        state.groups = group_reduce.widened(state.groups, state.groups_fit, results)
        return _groups_request(state, "groups_describe")
    state.groups = group_reduce.final(model, state.groups, state.groups_fit, results)
    state.stage = "done"
    return None


def advance(
    state: RunState, results: Sequence[dict[str, Any]], summaries: Sequence[Summary] = ()
) -> dict[str, Any] | None:
    """Take one pass's results (one per shard; ``summaries``: the partitions', with the window pass) and decide
    what the next pass computes; None when the model is complete (``model_of``)."""
    stage = state.stage
    if stage == "window":
        return _on_window(state, results, summaries)
    if stage == "counts":
        return _on_counts(state, results)
    if stage == "features":
        return _on_features(state, results)
    if stage == "recount":
        return _on_recount(state, results)
    if stage == "final":
        return _on_final(state, results)
    if stage == "peaks":
        return _on_peaks(state, results)
    if stage == "inputs":
        return _on_inputs(state, results)
    if stage == "folds":
        return _on_folds(state, results)
    if stage == "budget":
        return _on_budget(state, results)
    if stage.startswith("groups_"):
        return _on_groups(state, results)
    raise ValueError(f"no pass follows stage {stage!r}")


def model_of(state: RunState) -> Model:
    """The trained model once ``advance`` returned None: as ``pipeline.train`` names and describes it."""
    if state.stage != "done" or state.counts is None:
        raise ValueError(f"the run is at stage {state.stage!r}, not done")
    spec, p = state.spec, state.spec.params
    base = markov_model(state.tokens, state.counts, p)
    st = state.stats
    stats = {
        **{k: st[k] for k in ("lines", "events", "duplicates_dropped", "excluded_users", "excluded_events")},
        "rejected": st["rejected"],
        "late_events": st["late_events"],
        "users": st["users"],
        "sessions": st["sessions"],
        "transitions": st["transitions"],
        "vocabulary_size": len(state.tokens),
        "distinct_tokens": st["distinct_tokens"],
        "other_share": st["other_share"],
        "mean_session_length": round(st["transitions"] / st["sessions"], 3),
        "user_cap": {
            "max_user_share": p.max_user_share,
            "transitions": st["transition_cap"],
            "calibration_sessions": st["calibration_cap"],
        },
        "robust": {
            "trim_users": robust.TRIM_USERS,
            "rounds": spec.robust_rounds,
            "users_left_out": state.refit["counts_users_left_out"],
            "transitions_left_out": state.refit["transitions_left_out"],
        },
    }
    model = replace(
        base,
        created_at=spec.created_at,
        window_start=spec.window_start,
        window_end=spec.window_end,
        thresholds=Thresholds(**state.thresholds),
        stats=stats,
    )
    if "detector" in state.outcome:
        model = attach_detector(model, detector.Detector.from_dict(state.outcome["detector"]))
    else:
        model = attach_detector(model, str(state.outcome["reason"]))
    return named(
        group_fit.attach_groups(model, state.groups_reason if state.groups_reason is not None else state.groups)
    )
