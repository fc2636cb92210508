"""The report's input: plain data, so the offline evaluation and the demo can both feed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clickguard.review.stats import DayTally


@dataclass
class ReportData:
    title: str
    model_version: str
    thresholds: dict[str, Any]  # the operating point: detector threshold, budget, min_events (+ anything worth showing)
    tokens: list[str]  # state names, matrix order
    probabilities: np.ndarray  # [V, V] row-stochastic transition matrix (or counts; rows are normalised)
    session_scores: dict[str, list[float]]  # user type -> mean bits per session (the "two bells")
    flags_over_time: list[tuple[str, int]]  # (bucket label, flags) in time order
    top_flagged: list[dict[str, Any]]  # user, user_type, score, reasons, signals: [(name, value, bits)], top: [...]
    quality: dict[str, Any] | None = None  # per_type {type: {flagged, total}}, precision, recall
    throughput: dict[str, float] = field(default_factory=dict)  # name -> records per second (or any figure)
    notes: list[str] = field(default_factory=list)
    # Per user type, every user's score (detector v2, ``consumer.offline``: above ``score_threshold`` it flags).
    user_scores: dict[str, list[float]] = field(default_factory=dict)
    score_threshold: float | None = None
    # Per signal (``detector.FEATURES``), per user type, the value of each judged session at its end.
    signal_values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # Where labels exist: the precision-recall curve of that score, (recall, precision) points, and its AP.
    pr_curve: list[tuple[float, float]] = field(default_factory=list)
    average_precision: float | None = None
    # Reviewers' decisions per day and the share of flags they confirmed (``review.stats.per_day`` of the log).
    decisions: list[DayTally] = field(default_factory=list)
    # Behaviour groups (``report.groups.behaviour_groups``): the model's groups with the users flagged in each, the
    # flagged users that fit none, the campaign alerts. Empty: the model has no groups.
    behaviour_groups: dict[str, Any] = field(default_factory=dict)


def from_quality(
    q: Any,
    title: str = "clickguard offline evaluation",
    *,
    throughput: dict[str, float] | None = None,
    bucket_minutes: int = 60,
    top_n: int = 15,
) -> ReportData:
    """Build report data from ``sim.quality.Quality``."""
    from clickguard.timestamps import format_ms

    model = q.model
    counts = model.counts.astype(float)
    probs = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    types = {u: o.user_type or "unknown" for u, o in q.users.items()}
    scores: dict[str, list[float]] = {}
    for user, n, mean_bits, _total in q.sessions:
        if n >= model.params.min_events:
            scores.setdefault(types.get(user, "unknown"), []).append(mean_bits)
    flagged = [o for o in q.users.values() if o.flagged]
    bucket_ms = bucket_minutes * 60_000
    per_bucket: dict[int, int] = {}
    for o in flagged:
        b = o.first_flag_ms // bucket_ms
        per_bucket[b] = per_bucket.get(b, 0) + 1
    over_time = []
    if per_bucket:
        for b in range(min(per_bucket), max(per_bucket) + 1):
            over_time.append((format_ms(b * bucket_ms)[11:16], per_bucket.get(b, 0)))
    top = sorted(flagged, key=lambda o: (-o.score, o.user_id))[:top_n]
    user_scores: dict[str, list[float]] = {}
    for o in q.users.values():
        if np.isfinite(o.score):
            user_scores.setdefault(o.user_type or "unknown", []).append(o.score)
    return ReportData(
        title=title,
        model_version=model.version,
        thresholds=q.summary()["detector"],
        tokens=list(model.tokens),
        probabilities=probs,
        session_scores=scores,
        flags_over_time=over_time,
        top_flagged=[
            {
                "user": o.user_id,
                "user_type": o.user_type,
                "score": o.score,
                "reasons": o.reasons,
                "signals": [(s.name, s.value, s.bits) for s in o.signals],
                "top": o.top,
            }
            for o in top
        ],
        quality=q.summary(),
        throughput=dict(throughput or {}),
        user_scores=user_scores,
        score_threshold=q.summary()["detector"].get("threshold"),
        signal_values=signal_values(q.model, q.scored_columns, types),
    )


def signal_values(model: Any, events: Any, types: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """Per signal, per user type: the value of each session (long enough to judge) at its end."""
    from clickguard.model import detector

    if events is None or not len(events):
        return {}
    sess = detector.sessions_of(model, events)
    kinds = [types.get(sess.names[o], "unknown") for o in sess.owner.tolist()]
    out: dict[str, dict[str, list[float]]] = {}
    for j, name in enumerate(detector.FEATURES):
        per: dict[str, list[float]] = {}
        for kind, v in zip(kinds, sess.features[:, j].tolist(), strict=True):
            if np.isfinite(v):
                per.setdefault(kind, []).append(v)
        out[name] = per
    return out
