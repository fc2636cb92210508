"""One training run: read the archive window, train, publish (or refuse and keep the previous model)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickguard import settings
from clickguard.envconfig import ConfigError, number, required, user_key_source
from clickguard.events import UserKeySource
from clickguard.model import artifact
from clickguard.model.model import Model, ModelParams
from clickguard.store import archive, labels
from clickguard.store.blobs import BlobStore
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import InsufficientData, train


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
        def num(name: str, default: Any, kind: type) -> Any:
            return number(env, name, default, kind)

        source = user_key_source(env, settings.ENV_USER_KEY_SOURCE)
        try:
            params = ModelParams(
                max_states=num(settings.ENV_MAX_STATES, settings.DEFAULT_MAX_STATES, int),
                min_token_count=num(settings.ENV_MIN_TOKEN_COUNT, settings.DEFAULT_MIN_TOKEN_COUNT, int),
                smoothing=num(settings.ENV_SMOOTHING, settings.DEFAULT_SMOOTHING, float),
                session_gap_seconds=num(settings.ENV_SESSION_GAP_SECONDS, settings.DEFAULT_SESSION_GAP_SECONDS, int),
                min_events=num(settings.ENV_MIN_EVENTS, settings.DEFAULT_MIN_EVENTS, int),
                mean_bits_quantile=num(settings.ENV_MEAN_BITS_QUANTILE, settings.DEFAULT_MEAN_BITS_QUANTILE, float),
                total_bits_quantile=num(
                    settings.ENV_TOTAL_BITS_QUANTILE, settings.DEFAULT_TOTAL_BITS_QUANTILE, float
                ),
            ).validate()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        data_bucket = required(env, settings.ENV_DATA_BUCKET)
        config = cls(
            data_bucket=data_bucket,
            model_bucket=env.get(settings.ENV_MODEL_BUCKET, "").strip() or data_bucket,
            archive_prefix=env.get(settings.ENV_ARCHIVE_PREFIX, settings.ARCHIVE_PREFIX),
            window_days=num(settings.ENV_WINDOW_DAYS, settings.DEFAULT_WINDOW_DAYS, int),
            min_sessions=num(settings.ENV_MIN_SESSIONS, settings.DEFAULT_MIN_SESSIONS, int),
            user_key_source=source,
            params=params,
        )
        if config.window_days < 1:
            raise ConfigError(f"{settings.ENV_WINDOW_DAYS} must be >= 1, got {config.window_days}")
        if config.min_sessions < 1:
            raise ConfigError(f"{settings.ENV_MIN_SESSIONS} must be >= 1, got {config.min_sessions}")
        return config


@dataclass
class TrainingReport:
    status: str  # "published" or "skipped"
    reason: str
    version: str | None
    window_start: str
    window_end: str
    objects_read: int
    bad_objects: int
    lines: int
    events: int
    rejected: dict[str, int]
    stats: dict[str, Any]
    thresholds: dict[str, Any] | None
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    exclude_users: set[str] | frozenset[str] = frozenset(),
) -> Model:
    model, _ = train(
        cols,
        params,
        window_start=window_start,
        window_end=window_end,
        created_at=created_at,
        min_sessions=min_sessions,
        exclude_users=exclude_users,
    )
    artifact.publish(store, model)
    return model


def run_training(s3: Any, config: TrainingConfig, now: datetime, model_store: BlobStore) -> TrainingReport:
    """Train on ``[now - window_days, now)`` of the archive and publish; refuse if the window is too thin."""
    now = now.astimezone(UTC)
    start = now - timedelta(days=config.window_days)
    t0 = time.perf_counter()
    keys = archive.keys_in_window(s3, config.data_bucket, config.archive_prefix, start, now)
    astats = archive.ArchiveStats()
    cols = EventColumns()
    cols.add_objects(archive.iter_objects(s3, config.data_bucket, keys, astats), config.user_key_source)
    t1 = time.perf_counter()
    exclude = labels.blocked_users(s3, config.model_bucket)
    report = TrainingReport(
        status="skipped",
        reason="",
        version=None,
        window_start=iso(start),
        window_end=iso(now),
        objects_read=astats.objects,
        bad_objects=astats.bad_objects,
        lines=cols.lines,
        events=len(cols),
        rejected=dict(cols.rejected),
        stats={},
        thresholds=None,
        seconds={"read": round(t1 - t0, 3)},
    )
    try:
        model = fit_and_publish(
            cols,
            model_store,
            config.params,
            window_start=report.window_start,
            window_end=report.window_end,
            created_at=iso(now),
            min_sessions=config.min_sessions,
            exclude_users=exclude,
        )
    except InsufficientData as exc:
        report.reason = str(exc)
        report.seconds["total"] = round(time.perf_counter() - t0, 3)
        return report
    report.status, report.reason, report.version = "published", "ok", model.version
    report.stats, report.thresholds = model.stats, asdict(model.thresholds)
    report.seconds["train_publish"] = round(time.perf_counter() - t1, 3)
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    return report
