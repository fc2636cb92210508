"""The demo: the whole system on the embedded emulator, on simulated (or the user's own) traffic.

1. start the local stack  2. produce day 1 (the consumer runs, unscored: no model yet)  3. archive and run the
scheduled trainer  4. produce day 2 while the event source mapping feeds the consumer  5. read the flag queue as
a reviewer  6. measure against the ground truth  7. write report.html.

Before training, the marketplace's existing block list (the thesis's blocked users: scammers, spammers, fraud) is
written to ``labels/`` as reviewers' decisions: the trainer leaves those users out and learns from good users, as
the thesis did. With simulated data the block list is day 1's ground truth (``blocked_share`` of its abusers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from clickguard.events import RejectedRecord, format_ms, parse_record
from clickguard.files import open_binary
from clickguard.local.runtime import LocalRuntime
from clickguard.model import artifact
from clickguard.sim import quality
from clickguard.sim.catalog import is_abnormal
from clickguard.sim.output import ndjson_lines, read_labels
from clickguard.store import flag_reader, labels
from clickguard.store.blobs import S3Store
from clickguard.store.stream import produce
from clickguard.training.dataset import EventColumns

Log = Callable[[str], None]


@dataclass
class DemoOptions:
    out_dir: Path
    users: int = 3000
    seed: int = 7
    blocked_share: float = 1.0
    day1_file: Path | None = None
    day2_file: Path | None = None
    labels_day1: Path | None = None  # user_id,user_type: abnormal types become the block list
    labels_day2: Path | None = None  # ground truth for the quality table
    flags_out: Path | None = None
    report_path: Path | None = None


@dataclass
class DemoResult:
    model_version: str
    thresholds: dict[str, Any]
    training: dict[str, Any]
    flags: list[dict[str, Any]]
    day1_records: int
    day2_records: int
    seconds: dict[str, float]
    throughput: dict[str, float]
    per_type: dict[str, dict[str, int]] = field(default_factory=dict)
    precision: float | None = None
    recall: float | None = None
    report_path: Path | None = None
    consumer_stats: dict[str, Any] = field(default_factory=dict)


def _entries(lines: Iterable[str | bytes]) -> list[dict[str, Any]]:
    """PutRecords entries with partition key = user key. Unparseable lines still go on the stream (keyed by a
    placeholder) so the consumer's rejected-records sink shows what happens to them."""
    out = []
    for line in lines:
        data = line.encode() if isinstance(line, str) else line
        if not data.strip():
            continue
        try:
            key = parse_record(data).user_key
        except RejectedRecord:
            key = "unparsed"
        out.append({"Data": data, "PartitionKey": key})
    return out


def _read_file(path: Path) -> list[bytes]:
    with open_binary(path) as fh:
        return fh.read().splitlines()


# The thesis's block statuses (scammer, spammer, fraud, offensive, other) for the simulator's abuse types.
_BLOCK_STATUS = {"spammer": "spammer", "scraper": "other", "account_takeover": "fraud", "credential_stuffer": "fraud"}


def _decision(kind: str) -> str:
    """What a reviewer records for a user of this true type: a block status, or cleared."""
    return _BLOCK_STATUS.get(kind, "blocked") if is_abnormal(kind) else "cleared"


def _flagged_quality(flags: Sequence[dict[str, Any]], truth: dict[str, str]):
    per_type, tp, fp, fn = quality.tally({f["user_key"] for f in flags}, truth)
    rows = {kind: {"flagged": c.flagged, "total": c.total} for kind, c in per_type.items()}
    return rows, quality.precision(tp, fp), quality.recall(tp, fn)


def run_demo(opts: DemoOptions, log: Log = print) -> DemoResult:
    from clickguard.sim.population import SimConfig

    opts.out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    # --- the traffic ------------------------------------------------------------------------------------------
    truth1: dict[str, str] = {}
    truth2: dict[str, str] | None = None
    if opts.day1_file:
        day1_lines, day2_lines = _read_file(opts.day1_file), _read_file(opts.day2_file)  # type: ignore[arg-type]
        if opts.labels_day1:
            truth1 = read_labels(opts.labels_day1)
        if opts.labels_day2:
            truth2 = read_labels(opts.labels_day2)
        sim_days = None
        log(f"events: {len(day1_lines):,} lines on day 1, {len(day2_lines):,} on day 2 (your files)")
    else:
        from clickguard.sim.generator import simulate

        # Simulated days end yesterday, so no event is from the future when it reaches the consumer.
        start = date.today() - timedelta(days=2)
        sim_days = simulate(SimConfig(users=opts.users, seed=opts.seed, start_date=start.isoformat()).validate())
        day1_lines, day2_lines = list(ndjson_lines(sim_days[0])), list(ndjson_lines(sim_days[1]))
        truth1, truth2 = sim_days[0].labels, sim_days[1].labels
        n_bad = sum(is_abnormal(t) for t in truth2.values())
        log(f"simulated {opts.users:,} users (seed {opts.seed}): {len(day1_lines):,} events on {sim_days[0].date}, "
            f"{len(day2_lines):,} on {sim_days[1].date}; day 2 has {len(truth2):,} users, {n_bad} abnormal")
    seconds["simulate"] = time.perf_counter() - t0

    # --- 1. the local stack ------------------------------------------------------------------------------------
    t = time.perf_counter()
    log("starting the embedded AWS emulator and deploying the synthesized CDK stack into its CloudFormation ...")
    rt = LocalRuntime(opts.out_dir / "stack").start()
    try:
        seconds["stack_up"] = time.perf_counter() - t
        h = rt.handles
        log(f"  endpoint {rt.emulator.endpoint_url}, stack {rt.stack.name} ({seconds['stack_up']:.1f} s)")
        kinesis, s3, sqs = rt.client("kinesis"), rt.client("s3"), rt.client("sqs")
        rt.start_polling(interval_s=0.1)

        # --- 2. day 1 ------------------------------------------------------------------------------------------
        t = time.perf_counter()
        stats1 = produce(kinesis, h.stream_name, _entries(day1_lines))
        rt.wait_until_caught_up()
        seconds["day1"] = time.perf_counter() - t
        log(f"day 1: {stats1.records:,} records put and consumed (no model yet: state kept, nothing flagged) "
            f"in {seconds['day1']:.1f} s")

        # --- 3. archive, block list, scheduled training ---------------------------------------------------------
        t = time.perf_counter()
        archived = rt.archive()
        blocked = quality.blocked_users(truth1, opts.blocked_share, opts.seed) if truth1 else []
        if blocked:
            now_iso = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            decisions = [{"user_key": u, "decision": _decision(truth1[u]), "decided_at": now_iso} for u in blocked]
            labels.put_decisions(s3, h.model_bucket, decisions, "blocklist/day-1")
        report = rt.run_training(datetime.now(UTC) + timedelta(minutes=1))
        seconds["train"] = time.perf_counter() - t
        if report["status"] != "published":
            raise RuntimeError(f"training did not publish a model: {report['reason']}")
        model = artifact.load_latest(S3Store(s3, h.model_bucket))
        time.sleep(rt.model_refresh_seconds + 0.5)  # the consumer picks the new model up on its next check
        log(f"archive: {archived:,} records under events/YYYY/MM/DD/HH/; block list: {len(blocked)} users; "
            f"trainer published {model.version} ({model.n_states} states, thresholds mean "
            f"{model.thresholds.mean_bits:.2f} bits / total {model.thresholds.total_bits:.1f} bits) "
            f"in {seconds['train']:.1f} s")

        # --- 4. day 2, streamed while the consumer runs --------------------------------------------------------
        t = time.perf_counter()
        before = rt.esm.stats.records_delivered
        stats2 = produce(kinesis, h.stream_name, _entries(day2_lines))
        t_produced = time.perf_counter() - t
        rt.wait_until_caught_up()
        seconds["day2"] = time.perf_counter() - t
        delivered = rt.esm.stats.records_delivered - before
        throughput = {
            "producer records/s (PutRecords)": stats2.records / t_produced if t_produced else 0.0,
            "pipeline records/s (put -> scored -> state -> flags)": delivered / seconds["day2"],
            "consumer handler records/s": delivered / max(rt.esm.stats.seconds_in_handler, 1e-9),
        }
        log(f"day 2: {stats2.records:,} records through the pipeline in {seconds['day2']:.1f} s "
            f"({throughput['pipeline records/s (put -> scored -> state -> flags)']:,.0f} records/s)")

        # --- 5. the flag queue, as a reviewer ------------------------------------------------------------------
        messages: list[flag_reader.FlagMessage] = []
        while True:
            got = flag_reader.receive(sqs, h.flag_queue_url, 1000, wait_s=1.0)
            if not got:
                break
            messages.extend(got)
            flag_reader.delete(sqs, h.flag_queue_url, got)
        flags = sorted((m.body for m in messages if m.body), key=lambda f: (f["flagged_at"], f["flag_id"]))
        if opts.flags_out:
            opts.flags_out.parent.mkdir(parents=True, exist_ok=True)
            opts.flags_out.write_text("".join(json.dumps(f, sort_keys=True) + "\n" for f in flags))
        # The reviewer's decisions go back to labels/ for the next training (here from the ground truth).
        if truth2 is not None and flags:
            now_iso = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            decisions = [{"user_key": f["user_key"], "decision": _decision(truth2.get(f["user_key"], "buyer")),
                          "decided_at": now_iso} for f in flags]
            labels.put_decisions(s3, h.model_bucket, decisions, "reviews/day-2")

        result = DemoResult(
            model_version=model.version,
            thresholds={"mean_bits": model.thresholds.mean_bits, "total_bits": model.thresholds.total_bits,
                        "min_events": model.thresholds.min_events, "training flag rate": model.thresholds.flag_rate},
            training=report,
            flags=flags,
            day1_records=stats1.records,
            day2_records=stats2.records,
            seconds=seconds,
            throughput=throughput,
            consumer_stats={k: v for k, v in vars(rt.esm.stats).items() if k != "lock"},
        )
        if truth2 is not None:
            result.per_type, result.precision, result.recall = _flagged_quality(flags, truth2)

        # --- 7. the report ---------------------------------------------------------------------------------------
        result.report_path = _write_report(opts, result, model, day2_lines, truth2 or {})
    finally:
        rt.stop()
    seconds["total"] = time.perf_counter() - t0
    return result


def _write_report(opts: DemoOptions, result: DemoResult, model: Any, day2_lines: list, truth: dict[str, str]):
    from clickguard.report.data import ReportData
    from clickguard.report.html import write

    # Session scores per user type (the thesis's two bells): day 2 re-scored with the published model.
    cols = EventColumns()
    cols.add_lines(day2_lines)
    ts = np.asarray(cols.ts_ms, dtype=np.int64)
    order = np.argsort(ts, kind="stable").tolist()
    _, sessions, _ = quality.score_stream(model, [cols.users[i] for i in order], [cols.tokens[i] for i in order],
                                          ts[order], [cols.session_ids[i] for i in order])
    scores: dict[str, list[float]] = {}
    for user, n, mean_bits, _total in sessions:
        if n >= model.thresholds.min_events:
            scores.setdefault(truth.get(user, "all users"), []).append(mean_bits)
    per_hour: dict[str, int] = {}
    for f in result.flags:
        hour = f["flagged_at"][11:13] + ":00"
        per_hour[hour] = per_hour.get(hour, 0) + 1
    counts = model.counts.astype(float)
    probs = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    top = sorted(result.flags, key=lambda f: -f["mean_bits"])[:15]
    data = ReportData(
        title="clickguard demo: the stack on the embedded emulator",
        model_version=result.model_version,
        thresholds=result.thresholds,
        tokens=list(model.tokens),
        probabilities=probs,
        session_scores=scores,
        flags_over_time=sorted(per_hour.items()),
        top_flagged=[{"user": f["user_key"], "user_type": truth.get(f["user_key"], "?"), "reasons": f["reasons"],
                      "mean_bits": f["mean_bits"], "total_bits": f["total_bits"],
                      "top": [(t["from"], t["to"], round(t["bits"], 2)) for t in f["top_transitions"]]}
                     for f in top],
        quality=({"per_type": result.per_type, "precision": result.precision, "recall": result.recall}
                 if result.precision is not None else None),
        throughput=result.throughput,
        notes=[f"day 1: {result.day1_records:,} records; day 2: {result.day2_records:,} records; "
               f"{len(result.flags)} flags; first event {format_ms(int(ts.min())) if len(ts) else '-'}"],
    )
    return write(data, opts.report_path or opts.out_dir / "report.html")
