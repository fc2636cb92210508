"""``clickguard demo``: the main job. The whole stack on the embedded emulator, simulated (or your) traffic,
flags read from the queue, a quality table against the ground truth, and ``report.html``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from clickguard.cli import producer_formats
from clickguard.cli.common import (
    EVENT_FILE_FORMS,
    fail,
    fail_unreadable,
    input_file,
    read_labels_file,
    seed,
    sim_users,
)
from clickguard.files import open_binary

if TYPE_CHECKING:
    from clickguard.local.demo import DemoResult


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole system locally on simulated or your own events")
    p.add_argument("--out", default="demo-out", help="directory for report.html, flags and the assembly")
    p.add_argument("--users", type=sim_users, default=2000, help="simulated ordinary users (default 2000)")
    p.add_argument("--seed", type=seed, default=7)
    p.add_argument(
        "--blocked-share",
        type=float,
        default=1.0,
        help="share of day 1's abusers already on the block list that training leaves out (default 1)",
    )
    p.add_argument("--events-day1", type=Path, help=f"your events for day 1 (training): {EVENT_FILE_FORMS}")
    p.add_argument("--events-day2", type=Path, help="your events for day 2 (scored), in the same forms")
    p.add_argument(
        "--labels-day1",
        type=Path,
        help="labels (CSV user_id,user_type, or a data set's names): day 1's abusers are blocked",
    )
    p.add_argument("--labels-day2", type=Path, help="labels, the same way: ground truth for the quality table")
    p.add_argument(
        "--format",
        choices=producer_formats.FORMATS,
        default=producer_formats.DEFAULT,
        help="put days 1 and 2 on the stream as this producer would (as `clickguard produce --format`)",
    )
    p.add_argument(
        "--campaign",
        type=int,
        default=60,
        metavar="N",
        help="simulated traffic: a ring of N new accounts acting alike within an hour of day 2, which the consumer's "
        "behaviour groups should raise one campaign alert for (default 60; 0: none)",
    )
    p.add_argument(
        "--social-share",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="simulated traffic: share of ordinary users who befriend and buy with amounts, for seed 003's "
        "purchases-in-a-network rule (default 0.1; 0: none)",
    )
    p.add_argument("--flags-out", type=Path, help="write every flag message received as JSON lines")
    p.add_argument("--report", type=Path, help="report path (default OUT/report.html)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of tables")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if bool(args.events_day1) != bool(args.events_day2):
        fail("give both --events-day1 and --events-day2 (or neither, to simulate)")
    for opt in ("events_day1", "events_day2", "labels_day1", "labels_day2"):
        path = getattr(args, opt)
        if path is not None:  # the demo reads its files more than once: a pipe is refused, by name
            input_file(f"--{opt.replace('_', '-')}", path, streams=False)
    for opt in ("events_day1", "events_day2"):  # a workbook or a Parquet file is named here, not minutes in
        if getattr(args, opt) is not None:
            try:
                with open_binary(getattr(args, opt)):
                    pass
            except (OSError, EOFError) as exc:
                fail_unreadable(f"--{opt.replace('_', '-')}", getattr(args, opt), exc)
    if (args.labels_day1 or args.labels_day2) and not args.events_day1:
        fail("--labels-day1/--labels-day2 go with --events-day1/--events-day2")
    for opt in ("labels_day1", "labels_day2"):  # a header without a user or a label fails here, not minutes in
        if getattr(args, opt) is not None:
            read_labels_file(f"--{opt.replace('_', '-')}", getattr(args, opt))
    if args.campaign < 0:
        fail(f"--campaign {args.campaign}: must be 0 or more")
    if not 0 <= args.social_share <= 1:
        fail(f"--social-share {args.social_share}: must be between 0 and 1")
    if not 0 <= args.blocked_share <= 1:
        fail(f"--blocked-share {args.blocked_share}: must be between 0 and 1")


def _signals(flag: dict[str, Any], n: int = 3) -> str:
    """The flag's strongest signals in one line, e.g. ``fail_share 0.5 (0), 6.6 b``."""
    parts = []
    for g in flag.get("signals", [])[:n]:
        value = "-" if g.get("value") is None else f"{g['value']:.3g}"
        typical = "-" if g.get("typical") is None else f"{g['typical']:.3g}"
        parts.append(f"{g['name']} {value} ({typical}), {g['bits']:.1f} b")
    return "; ".join(parts)


def print_summary(result: DemoResult, out: TextIO = sys.stdout) -> None:
    w = out.write
    first_flag: dict[str, dict[str, Any]] = {}
    for f in result.flags:
        first_flag.setdefault(f["user_key"], f)
    w(f"\n{len(result.flags)} flags for {len(first_flag)} users; the first 20 users, each with its first flag:\n")
    w(f"  {'user':<14} {'score':>6} {'events':>6}  strongest signals: value (typical), bits\n")
    for f in list(first_flag.values())[:20]:
        w(f"  {f['user_key']:<14} {f['score']:>6.1f} {f['transitions']:>6}  {_signals(f)}\n")
    if result.per_type:
        w("\nquality against the ground truth (users flagged / users):\n")
        for kind, row in sorted(result.per_type.items()):
            w(f"  {kind:<20} {row['flagged']:>5} / {row['total']:<5}\n")
        w(f"  precision {result.precision:.3f}   recall {result.recall:.3f}\n")
    if getattr(result, "review", None):
        w("\nthe reviewer's loop:\n")
        for name, value in result.review.items():
            w(f"  {name:<30} {value:>10,.3f}\n" if value % 1 else f"  {name:<30} {int(value):>10,}\n")
    if getattr(result, "score_answers", None):
        from clickguard.local.demo import flagged_before

        w("\nPOST /score (seed 002's synchronous question, over HTTP to the local stack):\n")
        for a in result.score_answers:
            score = "-" if a.get("score") is None else f"{a['score']:.1f}"
            why = ",".join(a.get("reasons") or []) or "-"
            fires = str(a["decision"]["fires"]).lower()
            w(f"  {a['user_key']:<16} {a.get('user_type', '?'):<20} score {score:>6}  fires {fires:<5}  {why}")
            w(f"  {flagged_before(a)}\n")
    if getattr(result, "network", None):
        n = result.network
        w(
            f"\npurchases far above the buyer's network (seed 003): {int(n['purchase flags'])} flags over "
            f"{int(n['purchases'])} purchases and {int(n['friendships'])} friendships; "
            f"{int(n['outliers flagged'])} of {int(n['outliers injected'])} injected outliers caught\n"
        )
    for g in getattr(result, "group_flags", ()):
        w(
            f"\ncampaign alert: {g['members']} users whose sessions fit no behaviour group, rarest action "
            f"{g['signature']}, from {g['bucket_start']} (threshold {g['threshold']}); e.g. "
            + ", ".join(g["sample_user_keys"][:3])
            + "\n"
        )
    w("\nthroughput:\n")
    for name, value in result.throughput.items():
        w(f"  {name:<55} {value:>10,.0f}\n")
    w(f"\nmodel {result.model_version}: detector v2 " + ", ".join(f"{k} {v}" for k, v in result.thresholds.items()))
    w(f"\nreport: {result.report_path}\n")


def run(args: argparse.Namespace) -> int:
    from clickguard.local.demo import DemoError, DemoOptions, run_demo

    _check(args)
    opts = DemoOptions(
        out_dir=Path(args.out),
        users=args.users,
        seed=args.seed,
        blocked_share=args.blocked_share,
        day1_file=args.events_day1,
        day2_file=args.events_day2,
        labels_day1=args.labels_day1,
        labels_day2=args.labels_day2,
        flags_out=args.flags_out or Path(args.out) / "flags.ndjson",
        report_path=args.report,
        producer_format=args.format,
        campaign_users=args.campaign,
        social_share=args.social_share,
    )
    try:
        result = run_demo(opts, log=lambda m: print(m, file=sys.stderr, flush=True))
    except DemoError as exc:
        fail(str(exc))
    if args.json:
        print(
            json.dumps(
                {
                    "model_version": result.model_version,
                    "format": opts.producer_format,
                    "detector": result.thresholds,
                    "review": result.review,
                    "flags": len(result.flags),
                    "campaign_alerts": result.group_flags,
                    "network": result.network,
                    "per_type": result.per_type,
                    "precision": result.precision,
                    "recall": result.recall,
                    "throughput": result.throughput,
                    "seconds": result.seconds,
                    "report": str(result.report_path),
                },
                indent=2,
            )
        )
    else:
        print_summary(result)
    return 0
