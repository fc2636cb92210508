"""``clickguard simulate``: write simulated days of marketplace events (NDJSON) with their labels (CSV)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from clickguard.cli.common import fail, output_dir, positive_int, seed, sim_users, writing
from clickguard.sim import Population, SimConfig, simulate_day
from clickguard.sim.output import write_day


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="write simulated days of labelled marketplace clickstream")
    p.add_argument("--days", type=positive_int, default=2)
    p.add_argument("--users", type=sim_users, default=SimConfig.users, help="ordinary users in the population")
    p.add_argument("--seed", type=seed, default=SimConfig.seed)
    p.add_argument(
        "--abnormal-share",
        type=float,
        default=SimConfig.abnormal_share,
        help="share of each day's active users that are abnormal (0 to 0.5)",
    )
    p.add_argument("--start-date", default=SimConfig.start_date, help="first day, YYYY-MM-DD")
    p.add_argument("--out", "-o", required=True, help="directory for day-NN.events.ndjson and day-NN.labels.csv")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        time.strptime(args.start_date, "%Y-%m-%d")
    except ValueError:
        fail(f"--start-date {args.start_date!r}: expected YYYY-MM-DD")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        fail(f"--out {args.out}: exists and is not a directory")
    output_dir("--out", out)
    try:
        population = Population(
            SimConfig(
                users=args.users,
                days=args.days,
                seed=args.seed,
                abnormal_share=args.abnormal_share,
                start_date=args.start_date,
            )
        )
    except ValueError as exc:
        fail(str(exc))
    with writing("--out", args.out):
        return _write(args, population, out)


def _write(args: argparse.Namespace, population: Population, out: Path) -> int:
    """Each day's events and labels, then the manifest, written last: a run cut short has none."""
    days = []
    for d in range(1, args.days + 1):
        started = time.perf_counter()
        day = simulate_day(population, d)
        events, labels = write_day(day, out)
        kinds: dict[str, int] = {}
        for kind in day.labels.values():
            kinds[kind] = kinds.get(kind, 0) + 1
        days.append(
            {
                "day": d,
                "date": day.date,
                "events": len(day),
                "users": len(day.labels),
                "user_types": kinds,
                "events_file": str(events),
                "labels_file": str(labels),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
    manifest = {"seed": args.seed, "users": args.users, "abnormal_share": args.abnormal_share, "days": days}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(manifest, indent=2))
    return 0
