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
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.cli import producer_formats
from clickguard.consumer.buckets import KIND as GROUP_KIND
from clickguard.decoding import Decoder
from clickguard.events import Event
from clickguard.files import event_lines, open_binary
from clickguard.local.runtime import LocalRuntime
from clickguard.model import artifact
from clickguard.network.flags import RULE as NETWORK_KIND
from clickguard.rejections import RejectedRecord
from clickguard.review.decision import Verdict, for_flag
from clickguard.review.stats import DayTally, overall, per_day
from clickguard.sim import quality
from clickguard.sim.campaign import with_campaign
from clickguard.sim.catalog import is_abnormal, label_reading
from clickguard.sim.output import ndjson_lines, read_label_table
from clickguard.sim.social import merged, social_day
from clickguard.store import flag_reader, labels
from clickguard.store.blobs import S3Store
from clickguard.store.decisions import SqsDecisionQueue, read_decisions
from clickguard.store.stream import produce
from clickguard.timestamps import DAY_MS, format_ms
from clickguard.training.dataset import EventColumns

Log = Callable[[str], None]


class DemoError(RuntimeError):
    """The demo cannot go on with the data it was given (the message says why, in one line)."""


@dataclass
class DemoOptions:
    out_dir: Path
    users: int = 2000  # the emulator serializes every call in Python: 2,000 users keep `make demo` near 2.5 minutes
    seed: int = 7
    blocked_share: float = 1.0
    day1_file: Path | None = None
    day2_file: Path | None = None
    labels_day1: Path | None = None  # user_id,user_type: abnormal types become the block list
    labels_day2: Path | None = None  # ground truth for the quality table
    flags_out: Path | None = None
    report_path: Path | None = None
    producer_format: str = producer_formats.DEFAULT  # how the events go on the stream (`clickguard produce --format`)
    campaign_users: int = 0  # simulated only: a ring of new accounts on day 2 (``sim.campaign``), for the group alert
    social_share: float = 0.1  # simulated only: share of ordinary users who befriend and buy (``sim.social``, seed 003)


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
    review: dict[str, float] = field(default_factory=dict)  # decisions, share confirmed, the allow-list at work
    decision_days: list[DayTally] = field(default_factory=list)
    group_flags: list[dict[str, Any]] = field(default_factory=list)  # campaign alerts (``consumer.campaign``)
    purchase_flags: list[dict[str, Any]] = field(default_factory=list)  # seed 003's rule (``consumer.network_step``)
    score_answers: list[dict[str, Any]] = field(default_factory=list)  # POST /score for a few users (seed 002)
    network: dict[str, float] = field(default_factory=dict)  # friendships, purchases, flags, outliers flagged


def _entries(lines: Iterable[str | bytes], fmt: str = producer_formats.DEFAULT) -> list[dict[str, Any]]:
    """PutRecords entries with partition key = user key, or the events as another producer would put them
    (``fmt``: ``clickguard produce --format``, the same encoders). Unparseable lines still go on the stream as they
    are (keyed by a placeholder) so the consumer's rejected-records sink shows what happens to them."""
    out = []
    events = []
    for line in lines:
        data = line.encode() if isinstance(line, str) else line
        if not data.strip():
            continue
        ev = _event_of(data)
        if ev is None:
            out.append({"Data": data, "PartitionKey": "unparsed"})
            continue
        if fmt == producer_formats.DEFAULT:
            out.append({"Data": data, "PartitionKey": ev.user_key})
        else:
            events.append(ev)
    return out + producer_formats.encode(fmt, events) if events else out


def _read_file(path: Path) -> list[bytes]:
    """The file's events as train reads them (``files.event_lines``: NDJSON lines, CSV / TSV rows as JSON), put in
    the order they happened, as train reads a file (``EventColumns.in_time_order``: a stable sort by time; a line
    without one event keeps the time of the line before it)."""
    with open_binary(path) as fh:
        lines = [line.rstrip(b"\r\n") for line in event_lines(fh, path)]
    times, last = [], 0
    for line in lines:
        ev = _event_of(line)
        last = ev.ts_ms if ev is not None else last
        times.append(last)
    return [lines[i] for i in sorted(range(len(lines)), key=times.__getitem__)]


def _labels(path: Path, lines: list[bytes], *, evaluating: bool) -> dict[str, str]:
    """A labels file for the demo's own events; ``DemoError`` when it can tell nothing about them
    (``LabelTable.refusal``)."""
    table = read_label_table(path)
    users = {ev.user_key for line in lines if (ev := _event_of(line)) is not None}
    if why := table.refusal(users, evaluating=evaluating):
        raise DemoError(f"{path}: {why}")
    return table.by_user


# The thesis's block statuses (scammer, spammer, fraud, offensive, other) for the simulator's abuse types.
_BLOCK_STATUS = {"spammer": "spammer", "scraper": "other", "account_takeover": "fraud", "credential_stuffer": "fraud"}


def _decision(kind: str) -> str:
    """What a reviewer records for a user of this true type: a block status, or cleared."""
    return _BLOCK_STATUS.get(kind, "blocked") if is_abnormal(kind) else "cleared"


def _flagged_quality(
    flags: Sequence[dict[str, Any]], truth: dict[str, str]
) -> tuple[dict[str, dict[str, int]], float, float]:
    per_type, tp, fp, fn = quality.tally({f["user_key"] for f in flags}, truth)
    rows = {kind: {"flagged": c.flagged, "total": c.total} for kind, c in per_type.items()}
    return rows, quality.precision(tp, fp), quality.recall(tp, fn)


@dataclass
class Traffic:
    day1_lines: list[bytes]
    day2_lines: list[bytes]
    truth1: dict[str, str]  # user -> type on day 1 (abnormal types become the block list)
    truth2: dict[str, str] | None  # ground truth of day 2, when known
    producer_format: str = producer_formats.DEFAULT  # how days 1 and 2 are put on the stream
    social: dict[str, float] = field(default_factory=dict)  # friendships and purchases added (``sim.social``)
    outliers: set[tuple[str, str]] = field(default_factory=set)  # (user, time) of the purchases far above


@dataclass
class _Run:
    """What every step of the demo shares: the running stack, its clients, the clock and the log."""

    rt: LocalRuntime
    log: Log
    seconds: dict[str, float]
    purchase_flags: list[dict[str, Any]] = field(default_factory=list)  # read off the flag queue in ``_review``

    def __post_init__(self) -> None:
        assert self.rt.esm is not None, "start() first"
        self.esm = self.rt.esm
        self.h = self.rt.handles
        self.kinesis, self.s3, self.sqs = self.rt.client("kinesis"), self.rt.client("s3"), self.rt.client("sqs")


def run_demo(opts: DemoOptions, log: Log = print) -> DemoResult:
    """The main job as named steps: traffic, stack, day 1, training, day 2, the reviewer's queue, the report."""
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    traffic = replace(_traffic(opts, log), producer_format=opts.producer_format)
    seconds = {"simulate": time.perf_counter() - t0}
    run = _start_stack(opts, log, seconds)
    try:
        day1_records = _stream_day1(run, traffic)
        model, report = _train(run, opts, traffic)
        day2_records, throughput = _stream_day2(run, traffic)
        answers = _ask_score_api(run, traffic)
        flags, group_flags = _review(run, opts, traffic)
        allow_loop = _replay_allowed(run, traffic, flags) if traffic.truth2 is not None else {}
        result = DemoResult(
            model_version=model.version,
            thresholds=quality.detector_summary(model),
            training=report,
            flags=flags,
            day1_records=day1_records,
            day2_records=day2_records,
            seconds=seconds,
            throughput=throughput,
            consumer_stats={k: v for k, v in vars(run.esm.stats).items() if k != "lock"},
            decision_days=(days := _decision_days(run)),
            review={**_decision_tally(days), **allow_loop},
            group_flags=group_flags,
            purchase_flags=run.purchase_flags,
            score_answers=answers,
            network=_network_summary(run, traffic),
        )
        if traffic.truth2 is not None:
            result.per_type, result.precision, result.recall = _flagged_quality(flags, traffic.truth2)
        result.report_path = _write_report(opts, result, model, traffic.day2_lines, traffic.truth2 or {})
    finally:
        run.rt.stop()
    seconds["total"] = time.perf_counter() - t0
    return result


def _traffic(opts: DemoOptions, log: Log) -> Traffic:
    if opts.day1_file and opts.day2_file:
        day1_lines, day2_lines = _read_file(opts.day1_file), _read_file(opts.day2_file)
        log(f"events: {len(day1_lines):,} lines on day 1, {len(day2_lines):,} on day 2 (your files)")
        truth1 = _labels(opts.labels_day1, day1_lines, evaluating=False) if opts.labels_day1 else {}
        truth2 = _labels(opts.labels_day2, day2_lines, evaluating=True) if opts.labels_day2 else None
        for name, truth in (("day-1", truth1), ("day-2", truth2 or {})):
            if truth:
                read_as = label_reading(truth.values())
                log(f"{name} labels read as benign: {read_as['benign']}; as abusers: {read_as['abnormal']}")
        return Traffic(day1_lines, day2_lines, truth1, truth2)
    from clickguard.sim.generator import simulate
    from clickguard.sim.population import SimConfig

    # Simulated days end two days ago and the allow-list's day-3 replay (a day later) yesterday: no event is from the
    # future when it reaches the consumer, which would clamp it to its arrival time (a burst of sub-second gaps).
    start = date.today() - timedelta(days=3)
    days = simulate(SimConfig(users=opts.users, seed=opts.seed, start_date=start.isoformat()).validate())
    days[1] = with_campaign(days[1], opts.campaign_users, opts.seed)
    lines, social = _with_social([list(ndjson_lines(d)) for d in days], days, opts)
    traffic = Traffic(lines[0], lines[1], days[0].labels, days[1].labels, social=social.pop("_", {}), **social)
    n_bad = sum(is_abnormal(t) for t in days[1].labels.values())
    log(
        f"simulated {opts.users:,} users (seed {opts.seed}): {len(traffic.day1_lines):,} events on {days[0].date}, "
        f"{len(traffic.day2_lines):,} on {days[1].date}; day 2 has {len(days[1].labels):,} users, {n_bad} abnormal"
    )
    return traffic


def _with_social(
    lines: list[list[Any]], days: Sequence[Any], opts: DemoOptions
) -> tuple[list[list[Any]], dict[str, Any]]:
    """Each day's lines with a social marketplace's friendships and purchases among a share of its ordinary users
    (``sim.social``); the purchases far above their network on day 2 are what seed 003's rule should flag."""
    out, outliers, stats = [], set(), {"friendships": 0.0, "purchases": 0.0}
    for day_lines, day in zip(lines, days, strict=True):
        ordinary = sorted(u for u, t in day.labels.items() if not is_abnormal(t))
        members = ordinary[: int(len(ordinary) * opts.social_share)]
        start_ms = int(datetime.fromisoformat(day.date).replace(tzinfo=UTC).timestamp() * 1000)
        social = social_day(members, start_ms, opts.seed + day.day, outliers=5 if day.day == 2 else 0)
        out.append(merged(day_lines, social.lines))
        outliers |= social.outliers
        stats["friendships"] += social.friendships
        stats["purchases"] += social.purchases
    return out, {"outliers": outliers, "_": stats}


def _start_stack(opts: DemoOptions, log: Log, seconds: dict[str, float]) -> _Run:
    t = time.perf_counter()
    log("starting the embedded AWS emulator and deploying the synthesized CDK stack into its CloudFormation ...")
    rt = LocalRuntime(opts.out_dir / "stack").start()
    try:
        run = _Run(rt, log, seconds)
        seconds["stack_up"] = time.perf_counter() - t
        log(f"  endpoint {rt.emulator.endpoint_url}, stack {rt.stack_name} ({seconds['stack_up']:.1f} s)")
        rt.start_polling(interval_s=0.1)
    except BaseException:
        rt.stop()
        raise
    return run


def _stream_day1(run: _Run, traffic: Traffic) -> int:
    t = time.perf_counter()
    stats = produce(run.kinesis, run.h.stream_name, _entries(traffic.day1_lines, traffic.producer_format))
    run.rt.wait_until_caught_up()
    run.seconds["day1"] = time.perf_counter() - t
    run.log(
        f"day 1: {stats.records:,} records ({traffic.producer_format}) put and consumed (no model yet: state kept, "
        f"nothing flagged) in {run.seconds['day1']:.1f} s"
    )
    return stats.records


def _train(run: _Run, opts: DemoOptions, traffic: Traffic) -> tuple[Any, dict[str, Any]]:
    """Archive the stream, write the block list to labels/, invoke the trainer as the schedule would."""
    t = time.perf_counter()
    archived = run.rt.archive()
    truth1 = traffic.truth1
    blocked = quality.sample_block_list(truth1, opts.blocked_share, opts.seed) if truth1 else []
    if blocked:
        now_iso = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        decisions = [{"user_key": u, "decision": _decision(truth1[u]), "decided_at": now_iso} for u in blocked]
        labels.put_decisions(run.s3, run.h.model_bucket, decisions, "blocklist/day-1")
    report = run.rt.run_training(datetime.now(UTC) + timedelta(minutes=1))
    run.seconds["train"] = time.perf_counter() - t
    if report["status"] != "published":
        raise DemoError(f"training did not publish a model: {report['reason']}")
    model = artifact.load_latest(S3Store(run.s3, run.h.model_bucket))
    time.sleep(run.rt.model_refresh_seconds + 0.5)  # the consumer picks the new model up on its next check
    run.log(
        f"archive: {archived:,} records under events/YYYY/MM/DD/HH/; block list: {len(blocked)} users; "
        f"trainer published {model.version} ({model.n_states} states; detector v2: "
        + ", ".join(f"{k} {v}" for k, v in quality.detector_summary(model).items())
        + f") in {run.seconds['train']:.1f} s"
    )
    return model, report


def _stream_day2(run: _Run, traffic: Traffic) -> tuple[int, dict[str, float]]:
    t = time.perf_counter()
    stats = run.esm.stats
    before = stats.records_delivered
    produced = produce(run.kinesis, run.h.stream_name, _entries(traffic.day2_lines, traffic.producer_format))
    t_produced = time.perf_counter() - t
    run.rt.wait_until_caught_up()
    run.seconds["day2"] = time.perf_counter() - t
    delivered = stats.records_delivered - before
    pipeline = "pipeline records/s (put -> scored -> state -> flags)"
    throughput = {
        "producer records/s (PutRecords)": produced.records / t_produced if t_produced else 0.0,
        pipeline: delivered / run.seconds["day2"],
        "consumer handler records/s": delivered / max(stats.seconds_in_handler, 1e-9),
    }
    run.log(
        f"day 2: {produced.records:,} records through the pipeline in {run.seconds['day2']:.1f} s "
        f"({throughput[pipeline]:,.0f} records/s)"
    )
    return produced.records, throughput


def _review(run: _Run, opts: DemoOptions, traffic: Traffic) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read the flag queue as a reviewer and decide each flag (here from the ground truth) through the real
    decisions queue and function, as ``clickguard review`` would: blocks feed the next training, allows go on the
    allow-list the consumer consults."""
    messages: list[flag_reader.FlagMessage] = []
    while got := flag_reader.receive(run.sqs, run.h.flag_queue_url, 1000, wait_s=1.0):
        messages.extend(got)
        flag_reader.delete(run.sqs, run.h.flag_queue_url, got)
    bodies = [m.body for m in messages if m.body]
    # Campaign alerts name a group of users, not one: read, never decided (each member's own flags are).
    group_flags = [b for b in bodies if b.get("kind") == GROUP_KIND]
    if group_flags:
        run.log("campaign alerts: " + "; ".join(f"{g['members']} users, {g['signature']}" for g in group_flags))
    # Seed 003's flags are about one purchase, not a user's behaviour: reported apart (``_network_summary``).
    run.purchase_flags = [b for b in bodies if b.get("kind") == NETWORK_KIND]
    others = (GROUP_KIND, NETWORK_KIND)
    flags = sorted((b for b in bodies if b.get("kind") not in others), key=lambda f: (f["flagged_at"], f["flag_id"]))
    if opts.flags_out:
        opts.flags_out.parent.mkdir(parents=True, exist_ok=True)
        opts.flags_out.write_text("".join(json.dumps(f, sort_keys=True) + "\n" for f in flags))
    truth2 = traffic.truth2
    if truth2 is not None and flags:
        queue = SqsDecisionQueue(run.sqs, run.h.decision_queue_url)
        now_ms = int(time.time() * 1000)
        for f in flags:
            kind = truth2.get(f["user_key"], "buyer")
            verdict = Verdict.BLOCK if is_abnormal(kind) else Verdict.ALLOW
            queue.send(for_flag(f, verdict, f"simulated reviewer: {kind}", "demo", now_ms))
        run.rt.record_decisions()
        tally = overall(_decision_days(run))
        run.log(
            f"review: {tally.decided} decisions through the decisions queue ({tally.block} block, {tally.allow} "
            f"allow): the share of flags confirmed, {tally.confirmed_share or 0:.3f}, is the precision reviewers see"
        )
    return flags, group_flags


def flagged_before(answer: dict[str, Any]) -> str:
    """What a ``POST /score`` answer says of the user's last flag: the score is the session as it stands now (an
    abuser flagged this morning may be browsing quietly), the flag is what the stream already decided."""
    last = answer["decision"].get("last_flag")
    if not last:
        return "never flagged"
    return f"flagged at {last['flagged_at'][11:16]} UTC ({', '.join(last['reasons']) or '-'})"


def _ask_score_api(run: _Run, traffic: Traffic, per_kind: int = 2) -> list[dict[str, Any]]:
    """Seed 002's synchronous question, asked of the local stack's ``POST /score`` over HTTP for a few day-2 users
    of each kind (abusers first when the truth is known): what a support tool would see before acting."""
    truth = traffic.truth2 or {}
    users = sorted(truth) if truth else sorted({u for line in traffic.day2_lines[:2000] if (u := _user_of(line))})
    bad = [u for u in users if is_abnormal(truth.get(u, "buyer"))][:per_kind]
    good = [u for u in users if not is_abnormal(truth.get(u, "buyer"))][:per_kind]
    answers = []
    for user in [*bad, *good]:
        body = json.dumps({"user_key": user}).encode()
        req = urllib.request.Request(run.rt.score_url, body, {"content-type": "application/json"}, method="POST")  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the local stack, on 127.0.0.1
            answer = json.loads(resp.read())
        answers.append({"user_key": user, "user_type": truth.get(user, "?"), **answer})
    run.log(
        "score API (POST /score): "
        + "; ".join(
            f"{a['user_key']} ({a['user_type']}) score {a['score'] if a['score'] is None else round(a['score'], 1)}"
            f", fires {a['decision']['fires']}, {flagged_before(a)}"
            for a in answers
        )
    )
    return answers


def _network_summary(run: _Run, traffic: Traffic) -> dict[str, float]:
    """What seed 003's rule did with the simulated marketplace: its flags, and which injected outliers they caught."""
    if not traffic.social:
        return {}
    flagged = {(f["user_key"], f["event_time"]) for f in run.purchase_flags}
    caught = len(traffic.outliers & flagged)
    summary = {
        **traffic.social,
        "purchase flags": float(len(run.purchase_flags)),
        "outliers injected": float(len(traffic.outliers)),
        "outliers flagged": float(caught),
    }
    run.log(
        f"network (seed 003): {int(traffic.social['friendships'])} friendships, {int(traffic.social['purchases'])} "
        f"purchases; {len(run.purchase_flags)} purchase flags, {caught} of {len(traffic.outliers)} injected outliers"
    )
    return summary


def _replay_allowed(run: _Run, traffic: Traffic, flags: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Day 3: the users reviewers allowed come back and do what they did on day 2 (their events a day later).
    The consumer consults the allow-list: the same behaviour stays silent (``FlagsSuppressed``)."""
    truth2 = traffic.truth2 or {}
    allowed = {f["user_key"] for f in flags if not is_abnormal(truth2.get(f["user_key"], "buyer"))}
    if not allowed:
        return {}
    lines = [_shifted(line) for line in traffic.day2_lines if _user_of(line) in allowed]
    before = _suppressed_so_far(run)
    produce(run.kinesis, run.h.stream_name, _entries(line for line in lines if line is not None))
    run.rt.wait_until_caught_up()
    again: list[flag_reader.FlagMessage] = []
    while got := flag_reader.receive(run.sqs, run.h.flag_queue_url, 1000, wait_s=1.0):
        again.extend(got)
        flag_reader.delete(run.sqs, run.h.flag_queue_url, got)
    suppressed = _suppressed_so_far(run) - before
    run.log(
        f"day 3: the {len(allowed)} users reviewers allowed came back with the same behaviour: "
        f"{int(suppressed)} flags silenced by the allow-list, {len(again)} sent"
    )
    return {"allowed users": float(len(allowed)), "flags suppressed": suppressed, "flags sent again": float(len(again))}


def _suppressed_so_far(run: _Run) -> float:
    """``FlagsSuppressed`` over every consumer invocation so far (the handlers' metrics output)."""
    return run.rt.output.metric_total(settings.METRIC_FLAGS_SUPPRESSED) if run.rt.output else 0.0


def _decision_days(run: _Run) -> list[DayTally]:
    """Reviewers' decisions per day, from the decision log the decisions function wrote."""
    return per_day(read_decisions(run.s3, run.h.model_bucket))


def _decision_tally(days: Sequence[DayTally]) -> dict[str, float]:
    tally = overall(days)
    if not tally.decided:
        return {}
    return {"decisions": float(tally.decided), "share of flags confirmed": tally.confirmed_share or 0.0}


_DECODER = Decoder()  # the consumer's: a line of the user's own file reads here as it will on the stream


def _event_of(line: str | bytes) -> Event | None:
    """The line's one event as the consumer decodes it (any format it reads), None when it holds none or several."""
    data = line.encode() if isinstance(line, str) else line
    try:
        result = _DECODER.decode(data)
    except RejectedRecord:
        return None
    if isinstance(result, list):
        return result[0].result if len(result) == 1 and isinstance(result[0].result, Event) else None
    return result


def _user_of(line: str | bytes) -> str | None:
    ev = _event_of(line)
    return ev.user_key if ev is not None else None


def _shifted(line: str | bytes) -> str | None:
    """The event one day later (canonical JSON, the same session under a day-3 id: the sessions replay as they
    were), or None for a line that does not parse."""
    ev = _event_of(line)
    if ev is None:
        return None
    outcome = "fail" if ev.token.endswith("#fail") else "success"
    event_type = ev.token.removesuffix("#fail")
    doc = {
        "user_id": ev.user_key,
        "event_type": event_type,
        "outcome": outcome,
        "timestamp": format_ms(ev.ts_ms + DAY_MS),
    }
    if ev.session_id is not None:
        doc["session_id"] = f"{ev.session_id}-day3"
    return json.dumps(doc)


def _score_users(
    model: Any, cols: EventColumns, truth: dict[str, str]
) -> tuple[dict[str, list[float]], list[tuple[float, float]], float | None]:
    """Every day-2 user's score (``consumer.offline``) by user type, and its precision-recall curve where known."""
    from clickguard.consumer.offline import score_users

    scores = score_users(model, cols)
    by_type: dict[str, list[float]] = {}
    for s in scores:
        if np.isfinite(s.score):
            by_type.setdefault(truth.get(s.user_key, "all users"), []).append(s.score)
    if not truth:
        return by_type, [], None
    labels = [is_abnormal(truth.get(s.user_key, "")) for s in scores]
    finite = [s.score for s in scores if np.isfinite(s.score)]
    floor = (min(finite) if finite else 0.0) - 1.0  # never judged (too short): ranked below everyone judged
    values = [s.score if np.isfinite(s.score) else floor for s in scores]
    return by_type, quality.precision_recall_curve(labels, values), quality.average_precision(labels, values)


def _write_report(
    opts: DemoOptions, result: DemoResult, model: Any, day2_lines: list[bytes], truth: dict[str, str]
) -> Path:
    from clickguard.report.data import ReportData, signal_values
    from clickguard.report.groups import behaviour_groups
    from clickguard.report.html import write

    # Day 2 read as the consumer read it (a producer format may change the events: an access log line's action is a
    # page).
    cols = EventColumns()
    cols.add_lines(entry["Data"] for entry in _entries(day2_lines, opts.producer_format))
    ts = np.asarray(cols.ts_ms, dtype=np.int64)
    scores = _session_scores(model, cols, truth)
    user_scores, curve, ap = _score_users(model, cols, truth)
    per_hour = Counter(f["flagged_at"][11:13] + ":00" for f in result.flags)
    counts = model.counts.astype(float)
    probs = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    data = ReportData(
        title="clickguard demo: the stack on the embedded emulator",
        model_version=result.model_version,
        thresholds=result.thresholds,
        tokens=list(model.tokens),
        probabilities=probs,
        session_scores=scores,
        flags_over_time=sorted(per_hour.items()),
        top_flagged=_top_flagged(result.flags, truth),
        quality=(
            {"per_type": result.per_type, "precision": result.precision, "recall": result.recall}
            if result.precision is not None
            else None
        ),
        throughput=result.throughput,
        user_scores=user_scores,
        score_threshold=result.thresholds.get("threshold"),
        signal_values=signal_values(model, cols, truth),
        pr_curve=curve,
        average_precision=ap,
        decisions=result.decision_days,
        behaviour_groups=behaviour_groups(model.groups, [*result.flags, *result.group_flags]),
        notes=[
            f"day 1: {result.day1_records:,} records; day 2: {result.day2_records:,} records; "
            f"{len(result.flags)} flags; first event {format_ms(int(ts.min())) if len(ts) else '-'}"
        ],
    )
    return write(data, opts.report_path or opts.out_dir / "report.html")


def _session_scores(model: Any, cols: EventColumns, truth: dict[str, str]) -> dict[str, list[float]]:
    """Each judged session's mean bits per user type (the thesis's two bells), the events scored as a stream."""
    ts = np.asarray(cols.ts_ms, dtype=np.int64)
    order = np.argsort(ts, kind="stable").tolist()
    _, sessions, _ = quality.score_stream(
        model,
        [cols.users[i] for i in order],
        [cols.tokens[i] for i in order],
        ts[order],
        [cols.session_ids[i] for i in order],
    )
    scores: dict[str, list[float]] = {}
    for user, n, mean_bits, _total in sessions:
        if n >= model.params.min_events:
            scores.setdefault(truth.get(user, "all users"), []).append(mean_bits)
    return scores


def _top_flagged(flags: list[dict[str, Any]], truth: dict[str, str], n: int = 15) -> list[dict[str, Any]]:
    """The report's table of the strongest flags: each with its reasons' signals and top transitions."""
    top = sorted(flags, key=lambda f: (-f["score"], f["flag_id"]))[:n]
    return [
        {
            "user": f["user_key"],
            "user_type": truth.get(f["user_key"], "?"),
            "score": f["score"],
            "reasons": f["reasons"],
            "signals": [(g["name"], g["value"], g["bits"]) for g in f["signals"] if g["name"] in f["reasons"]],
            "top": [(t["from"], t["to"], round(t["bits"], 2)) for t in f["top_transitions"]],
        }
        for f in top
    ]
