"""``clickguard score``: every user's score, signals and flag decision for a file of events, as CSV, so a team can
rank and audit users offline: the consumer's own detector v2 (``clickguard.consumer.offline``), with the signals at
each user's highest-scoring event and the bits each added; with ``--labels``, the ranking's and the decisions'
quality on the users the labels know."""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from clickguard.cli.common import (
    COLUMNS_HELP,
    DATE_ORDER_HELP,
    DATE_ORDERS,
    EVENT_FILE_FORMS,
    FIELD_MAPPING_HELP,
    check_labels,
    column_names,
    fail,
    field_mapping,
    first_rejections,
    model_store,
    output_file,
    read_events,
    read_labels_file,
    storage_errors,
    writing,
)
from clickguard.cli.read_as import fields_read
from clickguard.consumer.offline import UserScore, score_floor, score_users
from clickguard.events import UserKeySource
from clickguard.model import artifact
from clickguard.model.model import Model
from clickguard.model.ports import BlobStore
from clickguard.rejections import SKIPPED, Reason
from clickguard.sim.catalog import is_abnormal, label_reading
from clickguard.sim.quality import average_precision
from clickguard.timestamps import DateOrder
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import deduplicate


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("score", help="score every user of an event file with a published model, as CSV")
    p.add_argument(
        "--events",
        "--input",
        "-i",
        dest="events",
        type=Path,
        action="append",
        required=True,
        help=f"{EVENT_FILE_FORMS}; repeatable, all read in the order their events happened (--input: the same, as"
        " in train)",
    )
    p.add_argument("--field-mapping", type=field_mapping, help=FIELD_MAPPING_HELP)
    p.add_argument("--date-order", choices=DATE_ORDERS, help=DATE_ORDER_HELP)
    p.add_argument("--columns", type=column_names, default=(), help=COLUMNS_HELP)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", help="directory or s3://BUCKET holding models/ (the published latest.json)")
    where.add_argument("--local", action="store_true", help="the model of the running local stack")
    p.add_argument("--out", type=Path, required=True, help="CSV path ('-' for standard output)")
    p.add_argument(
        "--labels",
        type=Path,
        help="the file's ground truth (CSV: user_id,user_type, or the names labelled data sets use, as train --labels"
        " reads it): prints the average precision of the ranking and the precision and recall of the flags",
    )
    p.add_argument("--endpoint-url")
    p.add_argument("--region")
    p.set_defaults(func=run)


def _store(args: argparse.Namespace) -> BlobStore:
    return model_store(args, args.model)


def _read(args: argparse.Namespace) -> tuple[EventColumns, int]:
    """The files' events, copies dropped (``deduplicate``), and how many copies were."""
    order = args.date_order and DateOrder(args.date_order)
    source = UserKeySource.SESSION_USER_ID
    cols = read_events("--events", args.events, source, args.field_mapping, order=order, columns=args.columns)
    unique = deduplicate(cols)
    return unique, len(cols) - len(unique)


# Past this share of a training window's actions read as OTHER (each seen fewer than ``min_token_count`` times), its
# model has a few states and is said to (``rare_actions_note``).
UNKNOWN_ACTIONS_WARNING = 0.5
# Past this share of events whose action the model never saw (each is its OTHER state) beyond the share its own
# training window read as OTHER, the file was most likely read another way than the training file (another export
# of the same events, another site): a tester's GA4 rows flattened into columns, scored by the model of the same
# events as nested rows, flagged 290 of 306 users; a PostHog CSV export whose page views (42% of its events) all read
# as one action flagged 254 of 300 under a rule of half the events, unwarned.
UNKNOWN_ACTIONS_EXCESS = 0.25
# Fewer events say nothing of an export: one user's dozen events scored for triage are mostly the rare steps of a
# takeover (change_email, register_device), which the model never saw often enough to keep.
UNKNOWN_ACTIONS_MIN_EVENTS = 100


def rare_actions_note(model: Model) -> str | None:
    """What to say of a model that read most of its own training window's actions as OTHER (each seen fewer than
    ``min_token_count`` times: one-off pages, ids or slugs in URLs that ``pages.page_of`` keeps), or None. Such a
    model has a few states, and an unknown action in a file scored by it is no sign of another export."""
    share = float(model.stats.get("other_share", 0.0))
    if share <= UNKNOWN_ACTIONS_WARNING:
        return None
    distinct = int(model.stats.get("distinct_tokens", 0))
    return (
        f"{share:.0%} of the training window's actions were each seen fewer than {model.params.min_token_count} "
        f"times and read as one state, OTHER ({distinct:,} distinct actions, {model.n_states} states kept): one-off "
        "pages (ids or slugs in URLs)? The transitions say little; map a coarser event type (--field-mapping)"
    )


def unknown_actions(model: Model, cols: EventColumns) -> tuple[float, list[str]]:
    """The share of events whose action is not among the model's states, and the commonest such actions."""
    known = frozenset(model.tokens)
    unknown = Counter(t for t in cols.tokens if t not in known)
    return sum(unknown.values()) / max(len(cols), 1), [t for t, _ in unknown.most_common(3)]


def _summary(scores: list[UserScore], model: Model, cols: EventColumns, copies: int) -> str:
    skipped = {r: n for r, n in cols.rejected.items() if Reason(r) in SKIPPED}
    rejected = {r: n for r, n in cols.rejected.items() if r not in skipped}
    return (
        f"{len(scores):,} users scored with model {model.version}: {sum(s.flagged for s in scores):,} flagged; "
        f"{cols.lines:,} lines, {sum(rejected.values()):,} rejected"
        + (f" {rejected}" if rejected else "")
        + (f", {copies:,} copies dropped (an event id seen before on the same time and action)" if copies else "")
        + "".join(f", {n:,} {reason} left out (no user action)" for reason, n in skipped.items())
    )


def _write(scores: list[UserScore], out: Path) -> None:
    with writing("--out", out):
        fh = sys.stdout if str(out) == "-" else out.open("w", newline="")
        try:
            writer = csv.writer(fh)
            writer.writerow(UserScore.CSV_FIELDS)
            floor = score_floor(scores)
            writer.writerows(map(_inert, (s.row(floor) for s in scores)))
        finally:
            if fh is not sys.stdout:
                fh.close()  # where a full disk (/dev/full) shows


# The CSV's text columns: a user id comes from the stream, so an attacker's ``=HYPERLINK(...)`` would be a formula to
# a spreadsheet. The numbers (a score may be negative) stay numbers.
_TEXT_COLUMNS = [UserScore.CSV_FIELDS.index(name) for name in ("user_key", "reasons")]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ESCAPED = str.maketrans({"\\": "\\\\", "\0": "\\0"})


def inert(cell: str) -> str:
    """A text cell of scores.csv, as a spreadsheet shows it rather than runs it (OWASP's advice against CSV
    injection), and as a reader can undo. A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a CR (but a
    plain number: ``-1``, ``-12.5``), that starts with ``'``, or that holds a NUL (which spreadsheets and many CSV
    readers cut a cell at) is written after a ``'``, its backslashes doubled and its NULs as ``\\0``; any other cell
    as it is. A reader undoes it: a cell that starts with ``'`` drops it, then reads ``\\\\`` as ``\\`` and
    ``\\0`` as a NUL."""
    guarded = cell.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell)
    if not (guarded or cell.startswith("'") or "\0" in cell):
        return cell
    return "'" + cell.translate(_ESCAPED)


def _inert(row: list[str]) -> list[str]:
    for i in _TEXT_COLUMNS:
        row[i] = inert(row[i])
    return row


def run(args: argparse.Namespace) -> int:
    output_file("--out", Path(args.out), [*args.events, args.labels], kind="CSV file")
    table = read_labels_file("--labels", args.labels) if args.labels else None
    cols, copies = _read(args)
    if table is not None:
        table = check_labels("--labels", args.labels, table, set(cols.users), evaluating=True)
    store = _store(args)
    try:
        with storage_errors(store.describe()):
            model = artifact.load_latest(store)
    except artifact.NoModelPublished:
        fail(f"no model published in {store.describe()}")
    except artifact.ModelArtifactError as exc:
        fail(f"the published model cannot be used: {exc}")
    try:
        scores = score_users(model, cols)
    except ValueError as exc:
        fail(f"the published model cannot score: {exc}")
    _write(scores, args.out)
    print(_summary(scores, model, cols, copies), file=sys.stderr)
    if read := fields_read(args.events[0], UserKeySource.SESSION_USER_ID, args.field_mapping, args.columns):
        print(f"--events {args.events[0]}: read {read}", file=sys.stderr)
    share, examples = unknown_actions(model, cols)
    if share > UNKNOWN_ACTIONS_WARNING and (rare := rare_actions_note(model)) is not None:
        print(f"warning: {share:.0%} of the events' actions are OTHER to the model, as {rare}", file=sys.stderr)
    elif (
        len(cols) >= UNKNOWN_ACTIONS_MIN_EVENTS and share - model.stats.get("other_share", 0.0) > UNKNOWN_ACTIONS_EXCESS
    ):
        print(
            f"warning: {share:.0%} of the events' actions are not among the model's {model.n_states} states "
            f"(the commonest: {', '.join(map(repr, examples))}): were these events exported or mapped the way the "
            "training file was? Unknown actions are the model's OTHER state, and their users' scores mean little",
            file=sys.stderr,
        )
    for reason, detail in first_rejections(cols).items():
        print(f"  the first {reason}: {detail}", file=sys.stderr)
    if table is not None:
        quality = {"labels": str(args.labels), "label_column": table.column, **label_quality(scores, table.by_user)}
        print(json.dumps(quality, indent=2), file=sys.stderr)
    return 0


def label_quality(scores: list[UserScore], labels: dict[str, str]) -> dict[str, Any]:
    """How the scores rank the labelled users (average precision, unjudged users last, as in the CSV) and how right
    the flag decisions are (precision, recall); users the labels do not know are left out, and counted. Labelled
    abusers with no event (``labelled_abusers_not_in_events``: the file has none of their events, or none that is an
    event, as a client asking only for static files) are not among ``abusers``; the ``_all_labelled`` figures count
    them as missed: ranked last, below every scored user (tied among themselves), and never caught."""
    known = [s for s in scores if s.user_key in labels]
    truth = [is_abnormal(labels[s.user_key]) for s in known]
    floor = score_floor(scores)
    ranking = [s.score if math.isfinite(s.score) else floor for s in known]
    abusers, flagged = sum(truth), sum(s.flagged for s in known)
    caught = sum(s.flagged and bad for s, bad in zip(known, truth, strict=True))
    missing = set(labels) - {s.user_key for s in known}
    unscored = sum(is_abnormal(labels[u]) for u in missing)
    everyone = abusers + unscored
    ranked_all = average_precision(truth + [True] * unscored, ranking + [floor - 1.0] * unscored)
    return {
        "labelled_users_scored": len(known),
        "abusers": abusers,
        "users_not_labelled": len(scores) - len(known),
        "labelled_users_not_in_events": len(missing),
        "labelled_abusers_not_in_events": unscored,
        "average_precision": round(average_precision(truth, ranking), 4) if abusers else None,
        "average_precision_all_labelled": round(ranked_all, 4) if everyone else None,
        "flagged": flagged,
        "precision": round(caught / flagged, 4) if flagged else None,
        "recall": round(caught / abusers, 4) if abusers else None,
        "recall_all_labelled": round(caught / everyone, 4) if everyone else None,
        "labels_read_as": label_reading(labels.values()),
    }
