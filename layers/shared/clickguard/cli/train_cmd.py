"""``clickguard train``: bootstrap a model from an export file of events (NDJSON, canonical or envelope)."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from clickguard import settings
from clickguard.cli.common import fail, open_store, positive_int, quantile
from clickguard.events import UserKeySource, format_ms
from clickguard.model.model import ModelParams
from clickguard.training.dataset import EventColumns
from clickguard.training.job import fit_and_publish
from clickguard.training.pipeline import InsufficientData


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from NDJSON event files and publish it to a directory or S3")
    p.add_argument("--input", "-i", action="append", required=True, help="NDJSON file (.gz ok); repeatable")
    p.add_argument("--out", "-o", required=True, help="directory or s3://BUCKET to publish the model to")
    p.add_argument("--endpoint-url", help="S3 endpoint (for a local emulator)")
    p.add_argument("--region", default=None)
    p.add_argument("--user-key", choices=[s.value for s in UserKeySource], default=UserKeySource.SESSION_USER_ID)
    p.add_argument("--min-sessions", type=positive_int, default=settings.DEFAULT_MIN_SESSIONS)
    p.add_argument("--max-states", type=positive_int, default=settings.DEFAULT_MAX_STATES)
    p.add_argument("--min-token-count", type=positive_int, default=settings.DEFAULT_MIN_TOKEN_COUNT)
    p.add_argument("--smoothing", type=float, default=settings.DEFAULT_SMOOTHING)
    p.add_argument("--session-gap-seconds", type=positive_int, default=settings.DEFAULT_SESSION_GAP_SECONDS)
    p.add_argument("--min-events", type=positive_int, default=settings.DEFAULT_MIN_EVENTS)
    p.add_argument("--mean-quantile", type=quantile, default=settings.DEFAULT_MEAN_BITS_QUANTILE)
    p.add_argument("--total-quantile", type=quantile, default=settings.DEFAULT_TOTAL_BITS_QUANTILE)
    p.set_defaults(func=run)


def read_files(paths: list[str], source: UserKeySource) -> EventColumns:
    cols = EventColumns()
    for name in paths:
        path = Path(name)
        if not path.is_file():
            fail(f"--input {name}: no such file")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            cols.add_lines(fh, source)
    return cols


def run(args: argparse.Namespace) -> int:
    try:
        params = ModelParams(
            max_states=args.max_states,
            min_token_count=args.min_token_count,
            smoothing=args.smoothing,
            session_gap_seconds=args.session_gap_seconds,
            min_events=args.min_events,
            mean_bits_quantile=args.mean_quantile,
            total_bits_quantile=args.total_quantile,
        ).validate()
    except ValueError as exc:
        fail(str(exc))
    store = open_store(args.out, args.endpoint_url, args.region)
    cols = read_files(args.input, UserKeySource(args.user_key))
    if not len(cols):
        fail(f"no valid events in {', '.join(args.input)} (rejected: {dict(cols.rejected) or 'none'})")
    start, end = format_ms(min(cols.ts_ms)), format_ms(max(cols.ts_ms) + 1)
    try:
        model = fit_and_publish(
            cols, store, params, window_start=start, window_end=end, created_at=end, min_sessions=args.min_sessions
        )
    except InsufficientData as exc:
        fail(f"not publishing: {exc}")
    summary = {
        "version": model.version,
        "published_to": store.describe(),
        "events": model.stats["events"],
        "rejected": model.stats["rejected"],
        "sessions": model.stats["sessions"],
        "vocabulary_size": model.stats["vocabulary_size"],
        "thresholds": {"mean_bits": model.thresholds.mean_bits, "total_bits": model.thresholds.total_bits},
        "training_flag_rate": model.thresholds.flag_rate,
    }
    print(json.dumps(summary, indent=2))
    return 0
