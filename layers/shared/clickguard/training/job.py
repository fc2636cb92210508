"""One training run: read the archive window, train, publish (or refuse and keep the previous model).

The run only talks to the outside world through ``TrainerPorts`` (archive, reviewer labels, model store), so the
Lambda handler, ``clickguard train --local`` and the tests wire different adapters around the same logic.

A run ends in one of three states:

* ``published``: the model is written and ``latest.json`` names it (it may already have);
* ``superseded``: the model is written but ``latest.json`` stays on a model whose window ends no earlier (a late
  or concurrent run lost to a newer one; see ``clickguard.model.artifact``);
* ``skipped``: the window was too thin to train on; nothing is written and the previous model stays.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickguard import settings
from clickguard.envconfig import ConfigError, number, required, user_key_source
from clickguard.events import UserKeySource
from clickguard.model import artifact
from clickguard.model.model import Model, ModelParams
from clickguard.model.ports import BlobStore
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import InsufficientData, train
from clickguard.training.ports import ArchiveStats, TrainerPorts

__all__ = [
    "ConfigError",
    "TrainingConfig",
    "TrainingReport",
    "fit_and_publish",
    "iso",
    "params_from_env",
    "run_training",
]


@dataclass(frozen=True)
class TrainingConfig:
    data_bucket: str
    model_bucket: str
    archive_prefix: str = settings.ARCHIVE_PREFIX
    window_days: int = settings.DEFAULT_WINDOW_DAYS
    min_sessions: int = settings.DEFAULT_MIN_SESSIONS
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID
    params: ModelParams = field(default_factory=ModelParams)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrainingConfig:
        data_bucket = required(env, settings.ENV_DATA_BUCKET)
        config = cls(
            data_bucket=data_bucket,
            model_bucket=env.get(settings.ENV_MODEL_BUCKET, "").strip() or data_bucket,
            archive_prefix=env.get(settings.ENV_ARCHIVE_PREFIX, settings.ARCHIVE_PREFIX),
            window_days=number(env, settings.ENV_WINDOW_DAYS, settings.DEFAULT_WINDOW_DAYS, int),
            min_sessions=number(env, settings.ENV_MIN_SESSIONS, settings.DEFAULT_MIN_SESSIONS, int),
            user_key_source=user_key_source(env, settings.ENV_USER_KEY_SOURCE),
            params=params_from_env(env),
        )
        if config.window_days < 1:
            raise ConfigError(f"{settings.ENV_WINDOW_DAYS} must be >= 1, got {config.window_days}")
        if config.min_sessions < 1:
            raise ConfigError(f"{settings.ENV_MIN_SESSIONS} must be >= 1, got {config.min_sessions}")
        return config


def params_from_env(env: Mapping[str, str]) -> ModelParams:
    """The model parameters from the environment (defaults from ``settings``), validated."""
    try:
        return ModelParams(
            max_states=number(env, settings.ENV_MAX_STATES, settings.DEFAULT_MAX_STATES, int),
            min_token_count=number(env, settings.ENV_MIN_TOKEN_COUNT, settings.DEFAULT_MIN_TOKEN_COUNT, int),
            smoothing=number(env, settings.ENV_SMOOTHING, settings.DEFAULT_SMOOTHING, float),
            session_gap_seconds=number(
                env, settings.ENV_SESSION_GAP_SECONDS, settings.DEFAULT_SESSION_GAP_SECONDS, int
            ),
            min_events=number(env, settings.ENV_MIN_EVENTS, settings.DEFAULT_MIN_EVENTS, int),
            mean_bits_quantile=number(env, settings.ENV_MEAN_BITS_QUANTILE, settings.DEFAULT_MEAN_BITS_QUANTILE, float),
            total_bits_quantile=number(
                env, settings.ENV_TOTAL_BITS_QUANTILE, settings.DEFAULT_TOTAL_BITS_QUANTILE, float
            ),
            max_user_share=number(env, settings.ENV_MAX_USER_SHARE, settings.DEFAULT_MAX_USER_SHARE, float),
            alert_budget=number(env, settings.ENV_ALERT_BUDGET, settings.DEFAULT_ALERT_BUDGET, float),
            target_precision=number(env, settings.ENV_TARGET_PRECISION, settings.DEFAULT_TARGET_PRECISION, float),
            max_flag_share=number(env, settings.ENV_MAX_FLAG_SHARE, settings.DEFAULT_MAX_FLAG_SHARE, float),
        ).validate()
    except ValueError as exc:  # ConfigError is a ValueError too: its message already names the variable
        raise ConfigError(str(exc)) from None


@dataclass
class TrainingReport:
    status: str  # "published", "superseded" or "skipped"
    reason: str
    version: str | None  # the model this run wrote
    window_start: str
    window_end: str
    objects_read: int
    bad_objects: int
    cut_objects: int
    lines: int
    events: int
    rejected: dict[str, int]
    stats: dict[str, Any]
    thresholds: dict[str, Any] | None
    seconds: dict[str, float]
    latest: str | None = None  # the version latest.json names after the run
    distributed: dict[str, Any] | None = None  # a distributed run's partitions, shards and passes (issue 13)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def outcome_metrics(report: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The counts every trainer Lambda publishes of a run (``TrainingReport.as_dict`` form: the single pass's and
    the distributed run's reduce alike): events read, lines rejected, and the model published or not."""
    out: list[tuple[str, float]] = [
        (settings.METRIC_EVENTS_READ, report["events"]),
        (settings.METRIC_LINES_REJECTED, sum(report["rejected"].values())),
    ]
    if report["status"] == "published":
        out.append((settings.METRIC_MODEL_PUBLISHED, 1))
        out.append((settings.METRIC_SESSIONS, report["stats"]["sessions"]))
        out.append((settings.METRIC_VOCABULARY_SIZE, report["stats"]["vocabulary_size"]))
    else:
        out.append((settings.METRIC_MODEL_SKIPPED, 1))
    return out


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fit_and_publish(
    cols: EventColumns,
    store: BlobStore,
    params: ModelParams,
    *,
    window_start: str,
    window_end: str,
    created_at: str,
    min_sessions: int,
    exclude_users: Collection[str] = frozenset(),
) -> tuple[Model, artifact.PublishOutcome]:
    """Train on ``cols`` and publish; ``latest.json`` moves only if this window ends later than the current one."""
    model, _ = train(
        cols,
        params,
        window_start=window_start,
        window_end=window_end,
        created_at=created_at,
        min_sessions=min_sessions,
        exclude_users=exclude_users,
    )
    return model, artifact.publish(store, model)


def read_window(
    ports: TrainerPorts, config: TrainingConfig, start: datetime, end: datetime
) -> tuple[EventColumns, ArchiveStats]:
    """Every archived event of ``[start, end]``, parsed into columns, with what the archive read met."""
    stats = ArchiveStats()
    cols = EventColumns()
    cols.add_objects(ports.archive.bodies(start, end, stats), config.user_key_source)
    return cols, stats


def run_training(ports: TrainerPorts, config: TrainingConfig, now: datetime) -> TrainingReport:
    """Train on ``[now - window_days, now)`` of the archive and publish; refuse if the window is too thin."""
    now = now.astimezone(UTC)
    start = now - timedelta(days=config.window_days)
    t0 = time.perf_counter()
    cols, astats = read_window(ports, config, start, now)
    t1 = time.perf_counter()
    report = TrainingReport(
        status="skipped",
        reason="",
        version=None,
        window_start=iso(start),
        window_end=iso(now),
        objects_read=astats.objects,
        bad_objects=astats.bad_objects,
        cut_objects=astats.cut_objects,
        lines=cols.lines,
        events=len(cols),
        rejected=dict(cols.rejected),
        stats={},
        thresholds=None,
        seconds={"read": round(t1 - t0, 3)},
    )
    try:
        model, outcome = fit_and_publish(
            cols,
            ports.models,
            config.params,
            window_start=report.window_start,
            window_end=report.window_end,
            created_at=iso(now),
            min_sessions=config.min_sessions,
            exclude_users=ports.labels.blocked_users(),
        )
    except InsufficientData as exc:
        report.reason = str(exc)
    else:
        record_publication(report, model, outcome)
        report.seconds["train_publish"] = round(time.perf_counter() - t1, 3)
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    return report


def record_publication(report: TrainingReport, model: Model, outcome: artifact.PublishOutcome) -> None:
    """The report of a run that wrote ``model`` (published, or superseded by a newer one)."""
    current = outcome.moved or outcome.latest == model.version
    report.status = "published" if current else "superseded"
    report.reason = "ok" if current else outcome.reason
    report.version, report.latest = model.version, outcome.latest
    report.stats, report.thresholds = model.stats, asdict(model.thresholds)
