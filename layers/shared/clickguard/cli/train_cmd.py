"""``clickguard train``: train now. From files of events (any form ``files.event_lines`` reads), with a labels file's
abusers as the block list, to a directory or S3, as the thesis bootstrapped its model; or on a stack's archive:
``--stack`` starts the deployed training run, ``--local`` runs the same training job against the embedded
emulator's archive."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clickguard import settings
from clickguard.cli import target
from clickguard.cli.common import (
    COLUMNS_HELP,
    DATE_ORDER_HELP,
    DATE_ORDERS,
    EVENT_FILE_FORMS,
    FIELD_MAPPING_HELP,
    check_labels,
    column_names,
    eprint,
    fail,
    field_mapping,
    first_rejections,
    open_store,
    output_dir,
    positive_int,
    quantile,
    read_events,
    read_labels_file,
    writing,
)
from clickguard.cli.read_as import fields_read
from clickguard.cli.score_cmd import rare_actions_note
from clickguard.events import UserKeySource
from clickguard.model.model import Model, ModelParams
from clickguard.sim.catalog import is_abnormal, label_reading
from clickguard.timestamps import DateOrder, format_ms
from clickguard.training.dataset import EventColumns
from clickguard.training.job import fit_and_publish
from clickguard.training.pipeline import InsufficientData


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train a model from event files and publish it to a directory or S3")
    p.add_argument(
        "--input",
        "--events",
        "-i",
        dest="input",
        action="append",
        help=f"{EVENT_FILE_FORMS}; repeatable (--events: the same, as score spells it)",
    )
    p.add_argument("--out", "-o", help="directory or s3://BUCKET to publish the model to (with --input)")
    p.add_argument("--stack", help="invoke this deployed stack's trainer now (its archive window)")
    p.add_argument("--local", action="store_true", help="train on the running local stack's archive now")
    p.add_argument("--endpoint-url", help="AWS endpoint (for an emulator)")
    p.add_argument("--region", default=None)
    p.add_argument("--user-key", choices=[s.value for s in UserKeySource], default=UserKeySource.SESSION_USER_ID)
    p.add_argument("--field-mapping", type=field_mapping, help=f"with --input: {FIELD_MAPPING_HELP}")
    p.add_argument("--date-order", choices=DATE_ORDERS, help=f"with --input: {DATE_ORDER_HELP}")
    p.add_argument("--columns", type=column_names, default=(), help=f"with --input: {COLUMNS_HELP}")
    p.add_argument(
        "--labels",
        help="with --input: the users reviewers judged (CSV: user_id,user_type, or the names labelled data sets use;"
        " as report --labels reads it); those labelled abusers are the block list: left out of the normal model,"
        " and the supervised part learns from them",
    )
    p.add_argument("--min-sessions", type=positive_int, default=settings.DEFAULT_MIN_SESSIONS)
    p.add_argument("--max-states", type=positive_int, default=settings.DEFAULT_MAX_STATES)
    p.add_argument("--min-token-count", type=positive_int, default=settings.DEFAULT_MIN_TOKEN_COUNT)
    p.add_argument("--smoothing", type=float, default=settings.DEFAULT_SMOOTHING)
    p.add_argument("--session-gap-seconds", type=positive_int, default=settings.DEFAULT_SESSION_GAP_SECONDS)
    p.add_argument("--min-events", type=positive_int, default=settings.DEFAULT_MIN_EVENTS)
    p.add_argument("--mean-quantile", type=quantile, default=settings.DEFAULT_MEAN_BITS_QUANTILE)
    p.add_argument("--total-quantile", type=quantile, default=settings.DEFAULT_TOTAL_BITS_QUANTILE)
    p.add_argument(
        "--max-user-share",
        type=share,
        default=settings.DEFAULT_MAX_USER_SHARE,
        help="largest share of the counts and of the calibration one user may hold (1 = no cap)",
    )
    p.add_argument(
        "--alert-budget",
        type=ranged("alert_budget"),
        default=settings.DEFAULT_ALERT_BUDGET,
        help="without labels: the share of the window's users detector v2 flags",
    )
    p.add_argument(
        "--target-precision",
        type=ranged("target_precision"),
        default=settings.DEFAULT_TARGET_PRECISION,
        help="with labels: the held-out precision the cut must reach",
    )
    p.set_defaults(func=run, model_defaults={dest: p.get_default(dest) for dest in MODEL_OPTIONS})


# The model's parameters on the command line: they shape a model trained from --input files; a stack's trainer reads
# its own (its CDK context), so given with --local or --stack they would be ignored.
# Option's dest -> the CDK context key of the same parameter.
MODEL_OPTIONS = {
    "min_sessions": "min_sessions", "max_states": "max_states", "min_token_count": "min_token_count",
    "smoothing": "smoothing", "session_gap_seconds": "session_gap_seconds", "min_events": "min_events",
    "mean_quantile": "mean_bits_quantile", "total_quantile": "total_bits_quantile",
    "max_user_share": "max_user_share", "alert_budget": "alert_budget", "target_precision": "target_precision",
}  # fmt: skip


def ranged(name: str) -> Callable[[str], float]:
    """An argument type: a number within the parameter's ``settings.MODEL_PARAM_RANGES`` range."""
    low, high = settings.MODEL_PARAM_RANGES[name]

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} must be in [{low:g}, {high:g}]")
        return value

    return parse


share = ranged("max_user_share")


def run(args: argparse.Namespace) -> int:
    modes = sum(bool(x) for x in (args.input, args.stack, args.local))
    if modes != 1:
        fail("give exactly one of --input FILE (with --out), --stack NAME or --local")
    if args.input and not args.out:
        fail("--input needs --out DIR or --out s3://BUCKET")
    if args.field_mapping is not None and not args.input:
        fail("--field-mapping reads --input files; a stack's archive is canonical already (its field_mapping)")
    if args.labels is not None and not args.input:
        fail("--labels goes with --input files; a stack reads its reviewers' decisions from its labels/ prefix")
    given = [d for d in MODEL_OPTIONS if getattr(args, d) != args.model_defaults[d]]
    if given and not args.input:
        options = ", ".join("--" + d.replace("_", "-") for d in given)
        fail(
            f"{options}: the model's parameters for --input files; a stack's trainer reads its own (the CDK context"
            f" keys {', '.join(MODEL_OPTIONS[d] for d in given)}: see README, Configuration)"
        )
    if not args.input:
        target.refuse_local_endpoint(args)
        return run_on_stack(args)
    params = params_from_args(args)
    table = read_labels_file("--labels", Path(args.labels)) if args.labels else None
    store = open_store(args.out, args.endpoint_url, args.region)
    if not args.out.startswith("s3://"):
        output_dir("--out", Path(args.out))
    cols = read_events(
        "--input",
        list(map(Path, args.input)),
        UserKeySource(args.user_key),
        args.field_mapping,
        order=args.date_order and DateOrder(args.date_order),
        columns=args.columns,
    )
    first = Path(args.input[0])
    if (read := fields_read(first, UserKeySource(args.user_key), args.field_mapping, args.columns)) is not None:
        eprint(f"--input {first}: read {read}")  # before any refusal to publish: what was read is why, often
    if table is not None:
        table = check_labels("--labels", Path(args.labels), table, set(cols.users), evaluating=False)
    labels = table.by_user if table else {}
    blocked = frozenset(user for user, label in labels.items() if is_abnormal(label))
    start, end = format_ms(min(cols.ts_ms)), format_ms(max(cols.ts_ms) + 1)
    try:
        with writing("--out", args.out):
            model, outcome = fit_and_publish(
                cols, store, params, window_start=start, window_end=end, created_at=end,
                min_sessions=args.min_sessions, exclude_users=blocked,
            )  # fmt: skip
    except InsufficientData as exc:
        lower = " (--min-sessions N publishes from fewer)" if exc.min_sessions else ""
        fail(f"not publishing: {exc}{lower}{_rejected_note(cols)}")
    summary = {
        "version": model.version,
        "published_to": store.describe(),
        "latest": outcome.latest,
        "latest_note": outcome.reason,
        "events": model.stats["events"],
        "duplicates_dropped": model.stats.get("duplicates_dropped", 0),  # an event id again, on the same event
        "rejected": model.stats["rejected"],
        "rejected_first": first_rejections(cols),  # why, in each reason's first detail (no payload)
        "sessions": model.stats["sessions"],
        "vocabulary_size": model.stats["vocabulary_size"],
        "thresholds": {"mean_bits": model.thresholds.mean_bits, "total_bits": model.thresholds.total_bits},
        "training_flag_rate": model.thresholds.flag_rate,
        "user_cap": model.stats["user_cap"],
        "detector": model.stats.get("detector"),
    }
    if args.labels:
        summary["labels"] = {
            "users": len(labels),
            "blocked": len(blocked),
            "events_left_out": model.stats.get("excluded_events", 0),  # the blocked users': not in "events"
            "column": table.column if table else None,
            "read_as": label_reading(labels.values()),
        }
    print(json.dumps(summary, indent=2))
    if (rare := rare_actions_note(model)) is not None:
        print(f"warning: {rare}", file=sys.stderr)
    if blocked and (budgeted := budget_note(model)) is not None:
        eprint(f"note: {budgeted}")
    return 0


def budget_note(model: Model) -> str | None:
    """Why a model trained with labels flags by the alert budget (no cut showed the target precision), or None
    when it flags by precision: only ``stats.detector.operating`` said so, and a tester took the cut for the
    labels'."""
    operating = (model.stats.get("detector") or {}).get("operating") or {}
    if operating.get("rule") != "budget" or not operating.get("labelled_users"):
        return None
    at = operating.get("validated_precision")
    return (
        f"no cut flagging at most {operating['max_share']:.0%} of the users showed precision "
        f"{operating['target_precision']:g} on the labelled users' held-out scores"
        + (f" (the budget's cut: {at:.2f})" if at is not None else "")
        + f", so the alert budget ({operating['budget']:.1%} of the users) sets the cut. Users the labels do not"
        " name count as normal there: a partial block list understates precision (--alert-budget sets another"
        " budget, --target-precision another target)"
    )


def _rejected_note(cols: EventColumns) -> str:
    """What else the refusal should say: lines the events lost to rejections (a file of unreadable times looked
    like a window too small), with each reason's first detail."""
    firsts = first_rejections(cols)
    if not firsts:
        return ""
    counts = ", ".join(f"{reason} {cols.rejected[reason]:,} (the first: {detail})" for reason, detail in firsts.items())
    return f"; of {cols.lines:,} lines, these were rejected: {counts}"


def params_from_args(args: argparse.Namespace) -> ModelParams:
    try:
        return ModelParams(
            max_states=args.max_states,
            min_token_count=args.min_token_count,
            smoothing=args.smoothing,
            session_gap_seconds=args.session_gap_seconds,
            min_events=args.min_events,
            mean_bits_quantile=args.mean_quantile,
            total_bits_quantile=args.total_quantile,
            max_user_share=args.max_user_share,
            alert_budget=args.alert_budget,
            target_precision=args.target_precision,
        ).validate()
    except ValueError as exc:
        fail(str(exc))


def run_training_state_machine(args: argparse.Namespace, machine: str, now: str, poll_seconds: float = 10.0) -> int:
    """Start the stack's training run as its schedule does and wait for it; print its output."""
    import time

    import boto3

    sfn = boto3.client("stepfunctions", region_name=args.region, endpoint_url=args.endpoint_url)
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"time": now}))["executionArn"]
    print(f"training run started: {execution}", flush=True)
    while (run := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        time.sleep(poll_seconds)
    if run["status"] != "SUCCEEDED":
        fail(f"training run {execution} ended {run['status']}: {run.get('error', '')} {run.get('cause', '')[:500]}")
    print(run.get("output", "{}"))
    return 0


def run_on_stack(args: argparse.Namespace) -> int:
    """The stack's own trainer: invoked as a Lambda on a real stack; on the emulator (which cannot run Lambda
    code) the same job runs here with the deployed function's environment."""
    from datetime import UTC, datetime

    from clickguard.local import state_file

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": now, "detail": {}}
    if args.stack:
        import boto3

        outputs = target.outputs_of(
            boto3.client("cloudformation", region_name=args.region, endpoint_url=args.endpoint_url), args.stack
        )
        machine = outputs.get("TrainingStateMachineArn")
        if machine:  # what the schedule starts: the single pass for a small window, the distributed run otherwise
            return run_training_state_machine(args, machine, now)
        name = outputs.get("TrainerFunctionName") or fail(f"--stack {args.stack}: no TrainerFunctionName output")
        lam = boto3.client("lambda", region_name=args.region, endpoint_url=args.endpoint_url)
        resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        body = resp["Payload"].read().decode()
        if resp.get("FunctionError"):
            fail(f"trainer {name} failed: {body[:500]}")
        print(body)
        return 0
    from clickguard.local.training_flow import play_training_run
    from clickguard.store.trainer import s3_trainer_ports
    from clickguard.training.job import ConfigError, TrainingConfig, run_training

    local = target.resolve_local(args.region)
    state = state_file.read() or {}
    if not state_file.request_archive(state):  # what was produced a moment ago is on the stream, not archived yet
        eprint("the local stack did not archive its stream on request: training on its archive as it is")
    outputs = target.outputs_of(local.client("cloudformation"), state["stack"])
    name = outputs["TrainingReduceFunctionName"]  # the training run's plan: what the schedule starts
    env = local.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    try:
        config = TrainingConfig.from_env(env)
    except ConfigError as exc:
        fail(f"the local training run's environment is invalid: {exc}")
    s3 = local.client("s3")

    def single_pass(when: datetime) -> dict[str, Any]:
        return run_training(s3_trainer_ports(s3, config), config, when).as_dict()

    report = play_training_run(s3, env, single_pass, datetime.now(UTC))
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["status"] == "published" else 1
