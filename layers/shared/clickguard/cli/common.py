"""Helpers shared by CLI commands: argument errors and where a store lives."""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import numpy as np

from clickguard import settings
from clickguard.decoding import DecodeConfig, Decoder
from clickguard.decoding.access_log import is_private_address
from clickguard.decoding.mapping import FieldMapping
from clickguard.events import UserKeySource
from clickguard.files import (
    BadHeader,
    delimiter,
    event_lines,
    header_delimiter,
    open_binary,
    row_width,
    utf16_without_bom,
)
from clickguard.rejections import SKIPPED, Reason
from clickguard.sim.catalog import is_abnormal
from clickguard.sim.output import LabelTable, read_label_table
from clickguard.store.blobs import BlobStore, LocalDirStore, S3Store
from clickguard.timestamps import DAY_MS, DateOrder, date_order, seen_date_orders
from clickguard.training.dataset import EventColumns


class CliError(Exception):
    """A user error: printed as ``clickguard: error: ...`` with exit code 2."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def fail_unreadable(option: str, path: object, exc: BaseException) -> NoReturn:
    """A file that could not be read: the error's kind and its text (an OSError's without the path said already)."""
    fail(f"{option} {path}: cannot read it ({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})")


def cannot_write(option: str, path: object, exc: OSError, note: str = "") -> NoReturn:
    fail(f"{option} {path}: cannot write it ({exc.strerror or exc}){note}")


@contextmanager
def writing(option: str, path: object) -> Iterator[None]:
    """An error writing the output (a full disk, a quota, /proc) as a CLI error naming it, not a traceback; standard
    output's reader gone (``| head``) is left to ``main``, which ends quietly."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        cannot_write(option, path, exc)


def input_file(option: str, path: Path, *, streams: bool = True) -> Path:
    """The path to read for ``option``, ``-`` being standard input. A pipe (``/dev/stdin``, ``<(zcat f)``) is read as
    it streams, unless the command reads its input more than once (not ``streams``): then it is refused by name, as
    a directory and a missing path are."""
    if str(path) == "-" and streams:
        return Path("/dev/stdin")
    if path.is_dir():
        fail(f"{option} {path}: a directory, not a file")
    if not path.exists():
        fail(f"{option} {path}: no such file")
    if not streams and not path.is_file():
        fail(f"{option} {path}: not a regular file (a pipe?): this command reads it more than once; give a file")
    return path


def output_file(
    option: str, path: Path, inputs: Iterable[object] = (), *, kind: str = "file", makes_dirs: bool = False
) -> None:
    """Fail before any work when ``path`` cannot take the output: a directory, a directory missing (unless the
    command ``makes_dirs``) or not writable, or one of the command's ``inputs`` (it would be overwritten). ``-``
    (standard output) always can."""
    if str(path) == "-":
        return
    if path.is_dir():
        fail(f"{option} {path}: a directory; give a {kind}'s path")
    parent = _existing(path.parent) if makes_dirs else path.parent
    if not parent.is_dir():
        fail(f"{option} {path}: no directory {parent}; give a {kind}'s path")
    _probe(option, path, parent)
    for source in inputs:
        if _same_file(path, source):
            fail(f"{option} {path}: the same file as the input {source}, which it would overwrite; give another path")


def output_dir(option: str, path: Path) -> None:
    """Fail before any work when the directory ``path`` (made if missing) cannot be written in."""
    if (parent := _existing(path)).is_dir():
        _probe(option, path, parent)


def _existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())  # "." and "/" exist


def _probe(option: str, path: Path, directory: Path) -> None:
    """A file made and dropped in ``directory``: root passes every access() test, yet /proc and /sys refuse it."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        fail(f"{option} {path}: cannot write in {directory} ({exc.strerror or exc})")


def _same_file(path: Path, source: object) -> bool:
    if source is None:
        return False
    try:  # ``-`` is standard input: redirected from the output's file (``< f``), it is that file
        return os.path.samefile(path, "/dev/stdin" if str(source) == "-" else str(source))
    except OSError:  # either missing: not one file
        return False


def s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


def open_store(target: str, endpoint_url: str | None = None, region: str | None = None) -> BlobStore:
    """``s3://bucket`` or a directory path."""
    if target.startswith("s3://"):
        bucket = target[5:].strip("/")
        if not bucket or "/" in bucket:
            fail(f"--store/--out {target!r}: give s3://BUCKET (artifacts live under models/ in it)")
        return S3Store(s3_client(endpoint_url, region), bucket)
    if Path(target).exists() and not Path(target).is_dir():
        fail(f"--store/--out {target}: a file, not a directory (models are written under DIR/models/)")
    return LocalDirStore(target)


def model_store(args: argparse.Namespace, given: str | None) -> BlobStore:
    """Where a command's models are: the running local stack's model bucket (``--local``), a stack's (``--stack``),
    else ``given`` (a directory or ``s3://BUCKET``)."""
    from clickguard.cli import target

    if getattr(args, "local", False) or getattr(args, "stack", None):
        target.refuse_local_endpoint(args)
        if args.local:
            tgt = target.resolve_local(args.region)
        else:
            tgt = target.from_stack(args.stack, args.region, args.endpoint_url)
        if not tgt.model_bucket:
            fail("the stack has no model bucket output")
        return S3Store(tgt.client("s3"), tgt.model_bucket)
    assert given is not None, "argparse requires one of them"
    return open_store(given, args.endpoint_url, args.region)


@contextmanager
def storage_errors(where: str) -> Iterator[None]:
    """An S3 error (no such bucket, an endpoint that does not answer, access denied) as a CLI error naming the store,
    not botocore's traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        fail(f"{where}: {error.get('Code', 'error')}: {error.get('Message', exc)}")
    except BotoCoreError as exc:
        fail(f"{where}: {type(exc).__name__}: {exc}")


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argument type: an integer from ``low`` (to ``high``); argparse names the option in its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in [{low}, {high:,}]"
            raise argparse.ArgumentTypeError(f"{value} must be {bounds}")
        return value

    return parse


positive_int = int_in(1)
seed = int_in(0)  # numpy's generators take no negative seed
# The simulator's population: SimConfig's floor, and a ceiling it can hold (100,000 users took 5 GB and 27 s
# before its first day; its id pool, 4 per user of 90 million, runs out at 22.5 million).
sim_users = int_in(10, 100_000)


def quantile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    low, high = settings.MODEL_PARAM_RANGES["mean_bits_quantile"]
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value} must be in [{low}, {high}]")
    return value


def field_mapping(text: str) -> FieldMapping:
    """An argument type: a field mapping as JSON text, or ``@path`` of a file holding it (validated here, as the
    stack validates ``field_mapping`` at synth)."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]!r}: {type(exc).__name__}") from None
    try:
        mapping = FieldMapping.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if mapping is None:
        raise argparse.ArgumentTypeError("the field mapping is empty")
    return mapping


# What an event file may be (``files.event_lines``): one wording for every command that reads one.
EVENT_FILE_FORMS = (
    "NDJSON, a JSON document, CSV or TSV with a header row, or a web server's, W3C or load balancer's access log"
    " (.gz or .zst too)"
)
FIELD_MAPPING_HELP = (
    "read events of another JSON shape: where user key, event type and time live, as the stack's field_mapping "
    """(JSON, or @FILE), e.g. '{"user_key": "userId", "event_type": "action", "time": "ts"}'"""
)


def column_names(text: str) -> tuple[str, ...]:
    """An argument type: the comma-separated names of a headerless file's columns (``--columns``), as a header
    row would give them; an empty one is a column left unread (``a,,c``)."""
    names = tuple(name.strip() for name in text.split(","))
    given = [name for name in names if name]
    if len(names) < 2 or not given:
        raise argparse.ArgumentTypeError(f"{text!r}: name the file's columns in order, separated by commas")
    if len(set(given)) < len(given):
        twice = next(name for name in given if given.count(name) > 1)
        raise argparse.ArgumentTypeError(f"{text!r} names the column {twice!r} twice")
    return names


COLUMNS_HELP = (
    "the names of a CSV or TSV file's columns, in order, when its first line is a row of data, not a header"
    " (e.g. user_id,item_id,category_id,event_type,timestamp); a file with a header is read under its own"
)


def read_labels_file(option: str, path: Path) -> LabelTable:
    """A labels file (``sim.output.read_label_table``), or a CLI error that says why it cannot be read; a file of
    no user (a header only) tells nothing, and is refused before the events are read."""
    path = input_file(option, path)
    try:
        table = read_label_table(path)
    except ValueError as exc:
        fail(f"{option} {exc}")
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        fail_unreadable(option, path, exc)
    if not table.by_user:
        fail(f"{option} {path}: no user in it (a header only): labels that name no user tell nothing")
    return table


def check_labels(option: str, path: Path, table: LabelTable, users: Collection[str], *, evaluating: bool) -> LabelTable:
    """The labels under the events' keys (``LabelTable.for_users``); labels that can tell nothing about these events
    are a CLI error (``LabelTable.refusal``); so are, for an evaluation, labels of no abuser among the events' users:
    no recall, no average precision to measure (the report said 1.0 and NaN)."""
    table = table.for_users(users)
    if why := table.refusal(users, evaluating=evaluating) or (evaluating and _no_abuser(table, users)):
        fail(f"{option} {path}: {why}")
    return table


def _no_abuser(table: LabelTable, users: Collection[str]) -> str:
    """Why the labels name no abuser among ``users`` ("" when they do)."""
    words = sorted({label for user, label in table.by_user.items() if user in users})
    if any(map(is_abnormal, words)):
        return ""
    shown = ", ".join(map(repr, words[:5])) + (" ..." if len(words) > 5 else "")
    return (
        f"no labelled user of the events reads as an abuser (column {table.column!r}: {shown}): nothing to catch, "
        "so no recall or average precision to measure; abusers are labelled with a word that names them (bot, "
        "fraud, 1, ...)"
    )


def read_events(
    option: str,
    paths: list[Path],
    source: UserKeySource,
    mapping: FieldMapping | None = None,
    *,
    takes_mapping: bool = True,
    order: DateOrder | None = None,
    columns: tuple[str, ...] = (),
) -> EventColumns:
    """Every event of NDJSON or CSV files (.gz too; ``files.event_lines``), through the consumer's decoder (with
    ``mapping`` when given), in the order they happened; a file that cannot be read, or files with no valid event,
    are a CLI error that says why (and points at ``--field-mapping`` when the command ``takes_mapping``).

    A file's lines are not a stream's arrival order: an export written newest first (``ORDER BY time DESC``) read as
    it stands would have the consumer's late-event rule drop all but each session's last event (scored on the
    simulator's day 2 reversed: AP 0.36 instead of 0.95, ten times the flags).

    Dates of slashes of two numbers up to 12 (``5/6/2024``) read in ``order`` (``--date-order``), else in the
    order each file's own dates tell, else the order all the files' dates tell (``_dated_files``). ``columns``
    (``--columns``) names the columns of delimited files that have no header row."""
    decoder = Decoder(DecodeConfig(user_key_source=source, mapping=mapping)) if mapping is not None else None
    files = []
    for k, given in enumerate(paths):
        path = input_file(option, given)
        if twin := next((p for p in paths[:k] if _same_file(path, p)), None):
            fail(f"{option} {given}: the same file as {option} {twin}: its events would count twice; give it once")
        files.append(path)
    for path in files if columns else ():
        if note := _columns_note(path, columns):
            eprint(f"{option} {path}: {note}")
    cols = _dated_files(option, files, source, decoder, order, columns)
    if not len(cols):
        no_events(option, paths, cols, mapping, takes_mapping, columns)
    for path in paths if cols.rejected else ():
        if (
            no_header(path) and not columns
        ):  # a split export's later part, say: its rows were read under its first row's cells
            eprint(f"{option} {path}: its first line is a row of data, not a header{NO_HEADER_ADVICE}")
        if ragged := ragged_rows(path):
            print(f"{option} {path}: {ragged}; those rows' cells were read under the wrong names", file=sys.stderr)
    ordered = cols.in_time_order()
    if ordered is not cols:  # an export newest first, or merged files: the stream's rules read it in time order
        print(f"{option}: the file's events are not in time order; read in the order they happened", file=sys.stderr)
    if len(cols) > 1 and not (np.asarray(cols.ts_ms, dtype=np.int64) % DAY_MS).any():
        eprint(
            f"{option}: every event is timed at midnight: a date without a time of day? Each day's events then read as"
            " one instant, and the pace and timing signals as a machine's; map a time that has its hour"
        )
    if (proxy := proxy_in_front(cols.users)) is not None:
        eprint(
            f"{option}: {proxy} of the events come from one private address: a load balancer or proxy in front of the"
            " server? Its clients are then one user. The forwarded client is read from an access log line's"
            " X-Forwarded-For right after the user agent (nginx's main format), or a JSON log's x_forwarded_for"
        )
    return ordered


def _columns_note(path: Path, columns: tuple[str, ...]) -> str:
    """What to say of a file read with ``--columns`` ("" when nothing): a header of its own, which wins, or a first
    row of another number of cells than the names."""
    first = _first_bytes(path)
    if header_delimiter(first) is not None:
        return "its first line is a header: read under it, not under --columns"
    if first.lstrip()[:1] in (b"{", b"[", b""):
        return ""
    width = row_width(first, columns, delimiter(path) or ",")
    if width == len(columns):
        return ""
    more = "the last left unread" if width > len(columns) else "the last names get no cell"
    return f"its first row has {width} cells, --columns names {len(columns)}: {more}"


def _dated_files(
    option: str,
    paths: list[Path],
    source: UserKeySource,
    decoder: Decoder | None,
    order: DateOrder | None,
    columns: tuple[str, ...] = (),
) -> EventColumns:
    """The files' events (``_add_file``), read in ``order`` when given; else a file whose dates of two numbers up to
    12 were refused as ambiguous is read again in the order its own other dates told (``21/11/2026``: day first),
    or, telling none, in the one all the files' dates told; dates that told both orders leave them refused."""
    cols = EventColumns()
    if order is not None:
        with date_order(order):
            for path in paths:
                _add_file(option, path, cols, source, decoder, columns)
        return cols
    reads = [_read_dated(option, path, source, decoder, columns) for path in paths]
    everyone = {o for _, seen in reads for o, n in seen.items() if n}
    for path, (scratch, seen) in zip(paths, reads, strict=True):
        told = [o for o, n in seen.items() if n] or list(everyone)
        if len(told) == 1 and scratch.rejected[Reason.BAD_TIMESTAMP.value] and not path.is_file():  # a pipe: read once
            eprint(f"{option} {path}: its dates like 5/6/2024 are refused; --date-order {told[0].value} reads them")
        elif len(told) == 1 and scratch.rejected[Reason.BAD_TIMESTAMP.value]:
            how = f"as {seen[told[0]]:,} of them tell" if seen[told[0]] else "as the other files' dates tell"
            eprint(f"{option} {path}: its dates are read {told[0].value.replace('_', ' ')}, {how}")
            scratch = EventColumns()
            with date_order(told[0]):
                _add_file(option, path, scratch, source, decoder, columns)
        cols.absorb(scratch)
    return cols


def _read_dated(
    option: str, path: Path, source: UserKeySource, decoder: Decoder | None, columns: tuple[str, ...]
) -> tuple[EventColumns, Counter[DateOrder]]:
    scratch = EventColumns()
    with seen_date_orders() as seen:
        _add_file(option, path, scratch, source, decoder, columns)
    return scratch, seen


DATE_ORDERS = tuple(o.value for o in DateOrder)
DATE_ORDER_HELP = (
    "how a date of slashes with two numbers up to 12 (5/6/2024) reads: day_first or month_first (told: refused as "
    "ambiguous); by default in the order the files' other dates tell (21/11/2026: day first), else refused"
)


def _add_file(
    option: str,
    path: Path,
    cols: EventColumns,
    source: UserKeySource,
    decoder: Decoder | None,
    columns: tuple[str, ...] = (),
) -> None:
    """One file's events into ``cols``, what its rows' reading noted (``files.event_lines``: a stray quote) said."""
    notes: list[str] = []
    unexplained = Reason.NOT_JSON.value not in cols.first_detail
    sep = "," if columns and delimiter(path) is None and _first_bytes(path).lstrip()[:1] not in (b"{", b"[") else ""
    try:
        with open_binary(path) as fh:  # a .dat or .txt file named by --columns: delimited, whatever its name
            cols.add_lines(event_lines(fh, path, sep, notes, columns), source, decoder)
    except (OSError, EOFError) as exc:
        fail_unreadable(option, path, exc)
    except csv.Error as exc:
        fail(f"{option} {path}: {exc}" if isinstance(exc, BadHeader) else f"{option} {path}: not CSV ({exc})")
    for note in notes:
        eprint(f"{option} {path}: {note}")
    if notes and unexplained:  # its not_json lines are a stray quote's, not lines that want "a header line"
        cols.first_detail[Reason.NOT_JSON.value] = notes[0]


# Past this share of a file's events from one private address, the file is most likely a server's log behind a proxy
# whose forwarded clients were not read (a custom log format that puts X-Forwarded-For elsewhere): one user of all.
PROXY_SHARE = 0.5


def proxy_in_front(users: list[str]) -> str | None:
    """``"N of M"`` when one private, loopback or link-local address holds more than ``PROXY_SHARE`` of ``users``
    (one per event), else None."""
    if len(users) < 100:
        return None
    top, n = Counter(users).most_common(1)[0]
    if n <= PROXY_SHARE * len(users) or not is_private_address(top):
        return None
    return f"{n:,} of {len(users):,}"


def first_rejections(cols: EventColumns) -> dict[str, str]:
    """Each rejection reason's first detail (never a payload), but for the reasons counted without one by one
    (``rejections.SKIPPED``: a log's static files), so a user sees why some lines failed, not only how many."""
    return {r: d for r, d in cols.first_detail.items() if d and Reason(r) not in SKIPPED}


def no_events(
    option: str,
    paths: list[Path],
    cols: EventColumns,
    mapping: FieldMapping | None,
    takes_mapping: bool,
    columns: tuple[str, ...] = (),
) -> NoReturn:
    """Files with no valid event: why, as far as their rejections and their first lines tell."""
    where = ", ".join(map(str, paths))
    if not cols.lines:
        header = next(filter(None, map(_first_line, paths)), "")
        if header[:1] in ("[", "{"):  # "[]", '{"events": []}'
            fail(f"{option} {where}: a JSON document of no event ({header[:80]!r}: an empty array): no event to read")
        if header:  # a delimited file's header row, and no row under it
            fail(f"{option} {where}: only a header row ({header[:80]!r}): no event under it to read")
        fail(f"{option} {where}: {'the file is' if len(paths) == 1 else 'the files are'} empty: no event to read")
    top = cols.rejected.most_common(1)[0][0] if cols.rejected else None
    hint = "; events need user_id, event_type and timestamp" if mapping is None else ""
    hint += ", or --field-mapping" if hint and takes_mapping else ""
    hint += first_fields(paths[0], columns) if takes_mapping else ""
    hint += f"; {ragged}" if (ragged := ragged_rows(paths[0])) else ""
    if top == Reason.BAD_ACCESS_LOG:  # a log read as one: its first "fields" would be the reader's, not the file's
        hint = ""
    if utf16_without_bom(_first_bytes(paths[0])):  # its names and values read with a NUL in every other byte
        hint = "; the file looks like UTF-16 text without its byte-order mark: save it as UTF-8, or UTF-16 with a BOM"
    detail = cols.first_detail.get(top or "", "")
    said = f"; the first {top}: {detail}" if detail else ""
    lines = f"{cols.lines} line{'' if cols.lines == 1 else 's'}"
    fail(f"{option} {where}: no valid event in {lines} (rejected: {dict(cols.rejected) or 'none'}{said}{hint})")


def _first_line(path: Path) -> str:
    """A file's first line, decompressed, stripped ("" for an empty file, a pipe read once already, an error)."""
    return _first_bytes(path).decode("utf-8", "replace").strip().lstrip("\ufeff")


def _first_bytes(path: Path) -> bytes:
    """A file's first line, decompressed, as it is (b"" for an empty file, a pipe read once already, an error)."""
    if not path.is_file():
        return b""
    try:
        with open_binary(path) as fh:
            return fh.readline(4096)
    except (OSError, EOFError):
        return b""


def ragged_rows(path: Path) -> str:
    """``N rows have more cells than the header (K) ...`` ("" when none): a delimited file whose unquoted cells hold
    the separator (a user agent's commas) puts every later cell under the wrong name."""
    sep = delimiter(path)
    if sep is None or not path.is_file():  # a pipe was read once already (and a FIFO's open would wait)
        return ""
    try:
        with open_binary(path) as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
            first = text.readline()
            rows = csv.reader(text, delimiter=header_delimiter(first.encode("utf-8", "surrogateescape")) or sep)
            width = len(next(csv.reader([first], delimiter=rows.dialect.delimiter), []))
            ragged = sum(len(row) > width for row in rows)
    except (OSError, EOFError, csv.Error):
        return ""
    if not ragged:
        return ""
    return f"{ragged:,} rows have more cells than the header ({width}): quote the cells that hold the separator"


def no_header(path: Path) -> bool:
    """A comma-, semicolon- or pipe-separated file (told by its name) whose first non-empty line is no header row
    (``files.header_delimiter``: a time or a number among its cells). A TSV file without one is read line by line
    (Snowplow's lines, a mapping's ``tsv_columns``), so it is not asked."""
    if delimiter(path) in (None, "\t"):
        return False
    try:
        with open_binary(path) as fh:
            first = next((line for line in fh if line.strip()), b"")
    except (OSError, EOFError):
        return False
    return bool(first) and header_delimiter(first) is None


# What a mapping path names (never an e-mail or a value); spreadsheet headers' spaces and brackets too ("session ID",
# "page 1 (main category)": UCI's e-shop clothing export listed none of them).
_FIELD_NAME = re.compile(
    r"(?:[^\W\d]|[$])(?:[\w$.() /-]|(?<=[^\W\d_]):(?=[^\W\d_])){0,40}"
)  # in any script: "ユーザーID", "Üser ID"
_SHOWN_FIELDS = 16


NO_HEADER_ADVICE = (
    ": its cells were read as the columns' names, its rows under them rejected; name them with --columns (e.g."
    " --columns user_id,item_id,event_type,timestamp; the file's own names with --field-mapping), or add a header"
    " line (a later part of a split file: the first part's)"
)


def first_fields(path: Path, columns: tuple[str, ...] = ()) -> str:
    """``; its first event's fields: a, b, ...``: the top-level names of the file's first line (a CSV file's header),
    to write a ``--field-mapping`` from; only names that look like field names, never their values. A CSV file whose
    first line is a row of data (no header: its cells were read as the names) is told so instead."""
    if not path.is_file():  # a pipe was read once already (and a FIFO's open would wait)
        return ""
    if columns:  # its names are the user's: what they named, not advice to name them
        return f"; its columns as --columns named them: {', '.join(filter(None, columns))}"
    if no_header(path):
        return f"; the file's first line is a row of data, not a header{NO_HEADER_ADVICE}"
    try:
        with open_binary(path) as fh:
            first = next((line for line in fh if line.strip()), b"")
            if (sep := header_delimiter(first)) is not None:  # every column, not only the first row's filled cells
                obj: object = next(csv.reader([first.decode("utf-8", "replace")], delimiter=sep))
            else:
                fh.seek(0)
                obj = msgspec.json.decode(next((line for line in event_lines(fh, path) if line.strip()), b""))
    except (OSError, EOFError, csv.Error, msgspec.DecodeError, RecursionError, StopIteration):
        return ""
    names = [k.strip() for k in obj if _FIELD_NAME.fullmatch(k.strip())] if isinstance(obj, dict | list) else []
    if not names:
        return ""
    more = f" and {len(names) - _SHOWN_FIELDS} more" if len(names) > _SHOWN_FIELDS else ""
    return f"; its first event's fields: {', '.join(names[:_SHOWN_FIELDS])}{more}"


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr)
