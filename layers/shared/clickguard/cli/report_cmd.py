"""``clickguard report``: offline evaluation (train on day 1, score day 2) and its self-contained HTML report.

Either simulates the two days or reads them (canonical NDJSON) with the day-2 ground truth (a labels file, as
``train --labels`` reads it).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from clickguard import settings
from clickguard.cli.common import (
    EVENT_FILE_FORMS,
    check_labels,
    fail,
    output_file,
    positive_int,
    quantile,
    read_events,
    read_labels_file,
    seed,
    sim_users,
    writing,
)
from clickguard.events import UserKeySource
from clickguard.model.model import ModelParams
from clickguard.report import from_quality, write
from clickguard.sim import SimConfig, simulate
from clickguard.sim.catalog import is_abnormal, label_reading
from clickguard.sim.quality import columns_of, evaluate_columns, sample_block_list
from clickguard.training.pipeline import InsufficientData


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="offline quality evaluation (train day 1, score day 2) + report.html")
    p.add_argument("--day1", help=f"training events: {EVENT_FILE_FORMS}; default: simulate")
    p.add_argument("--day2", help="events to score, in the same forms; needs --labels")
    p.add_argument(
        "--labels",
        help="ground truth of day 2 (CSV: user_id,user_type, or the names labelled data sets use, as train --labels"
        " reads it)",
    )
    p.add_argument(
        "--labels-day1",
        help="with --day1: the users reviewers judged on day 1 (read as train --labels reads them); its abusers are the"
        " block list, left out of the normal model, the supervised part's positives",
    )
    p.add_argument("--users", type=sim_users, default=SimConfig.users)
    p.add_argument("--seed", type=seed, default=SimConfig.seed)
    p.add_argument(
        "--blocked-share",
        type=float,
        default=1.0,
        help="simulation only: share of day-1 abusers reviewers already blocked (left out of training)",
    )
    p.add_argument("--batch-seconds", type=float, default=10.0, help="scoring micro-batch window (event time)")
    p.add_argument("--min-events", type=positive_int, default=settings.DEFAULT_MIN_EVENTS)
    p.add_argument("--mean-quantile", type=quantile, default=settings.DEFAULT_MEAN_BITS_QUANTILE)
    p.add_argument("--total-quantile", type=quantile, default=settings.DEFAULT_TOTAL_BITS_QUANTILE)
    p.add_argument("--out", "-o", default="report.html")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files = [args.day1, args.day2, args.labels]
    if any(files) and not all(files):
        fail("give all of --day1, --day2 and --labels, or none of them (to simulate)")
    if args.labels_day1 and not all(files):
        fail("--labels-day1 goes with --day1, --day2 and --labels")
    if not 0 <= args.blocked_share <= 1:
        fail(f"--blocked-share {args.blocked_share}: must be between 0 and 1")
    if args.batch_seconds <= 0:
        fail(f"--batch-seconds {args.batch_seconds}: must be > 0")
    output_file("--out", Path(args.out), [*files, args.labels_day1], kind="HTML file", makes_dirs=True)
    params = ModelParams(
        min_events=args.min_events, mean_bits_quantile=args.mean_quantile, total_bits_quantile=args.total_quantile
    )
    if all(files):
        table = read_labels_file("--labels", Path(args.labels))
        train_cols = read_events("--day1", [Path(args.day1)], UserKeySource.SESSION_USER_ID, takes_mapping=False)
        score_cols = read_events("--day2", [Path(args.day2)], UserKeySource.SESSION_USER_ID, takes_mapping=False)
        table = check_labels("--labels", Path(args.labels), table, set(score_cols.users), evaluating=True)
        truth = table.by_user
        title = f"clickguard report: {Path(args.day1).name} -> {Path(args.day2).name}"
        exclude = _blocked(args.labels_day1, train_cols.users) if args.labels_day1 else []
    else:
        d1, d2 = simulate(SimConfig(users=args.users, seed=args.seed, days=2))
        train_cols, score_cols, truth = columns_of(d1), columns_of(d2), d2.labels
        exclude = sample_block_list(d1.labels, args.blocked_share, args.seed)
        title = f"clickguard offline evaluation (simulation: users={args.users}, seed={args.seed})"
    started = time.perf_counter()
    try:
        q = evaluate_columns(
            train_cols, score_cols, truth, params, batch_seconds=args.batch_seconds, exclude_users=exclude
        )
    except InsufficientData as exc:
        fail(f"cannot train on day 1: {exc}")
    seconds = time.perf_counter() - started
    data = from_quality(
        q, title, throughput={"offline train + score, events/s": (len(train_cols) + len(score_cols)) / seconds}
    )
    with writing("--out", args.out):
        path = write(data, args.out)
    read_as: dict[str, Any] = {"labels_read_as": label_reading(truth.values())} if all(files) else {}
    if args.labels_day1:
        read_as["blocked_on_day1"] = len(exclude)
    print(json.dumps(finite({**q.summary(), **read_as, "report": str(path)}), indent=2, allow_nan=False))
    return 0


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity as None: JSON has no NaN (``json.dumps`` writes a bare ``NaN`` that
    ``jq`` and ``JSON.parse`` refuse); a measure that cannot be taken is null, as ``score --labels`` prints it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _blocked(path: str, users: list[str]) -> list[str]:
    """Day 1's block list: the abusers of its labels file, which must tell something about day 1's events."""
    table = read_labels_file("--labels-day1", Path(path))
    table = check_labels("--labels-day1", Path(path), table, set(users), evaluating=False)
    return sorted(u for u, label in table.by_user.items() if is_abnormal(label))
