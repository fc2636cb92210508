"""``clickguard produce``: put events on the Kinesis stream from a file (NDJSON, CSV or TSV) or the simulator, as
canonical JSON or re-encoded as another producer would send them (``--format``: KPL aggregates, gzip/zlib NDJSON,
Segment/RudderStack, Snowplow, CloudWatch Logs, the app envelope; see ``cli.producer_formats``)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clickguard.cli import producer_formats, target
from clickguard.cli.common import (
    EVENT_FILE_FORMS,
    eprint,
    fail,
    fail_unreadable,
    first_fields,
    input_file,
    positive_int,
    seed,
    sim_users,
)
from clickguard.decoding import DecodeConfig, Decoder
from clickguard.events import Event, UserKeySource, parse_record
from clickguard.files import delimiter, event_lines, open_binary
from clickguard.store.stream import PutFailed, PutStats, produce, producer_backoff
from clickguard.timestamps import MAX_FUTURE_SKEW_MS, format_ms

INPUT_FORMATS = {"ndjson": None, "csv": ",", "tsv": "\t"}  # a file's cell separator (None: NDJSON lines)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("produce", help="put events on the stream (PutRecords, 500 a call, failed records retried)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", "-i", help=f"a file of events: {EVENT_FILE_FORMS}")
    src.add_argument("--simulate", action="store_true", help="produce a simulated day instead of a file")
    p.add_argument(
        "--input-format", choices=list(INPUT_FORMATS), help="file format (default: from the file's name and first line)"
    )
    p.add_argument(
        "--format",
        choices=producer_formats.FORMATS,
        default=producer_formats.DEFAULT,
        help="what to put on the stream: the events as canonical JSON, or as that producer would send them",
    )
    p.add_argument(
        "--per-record",
        type=positive_int,
        default=25,
        help="events per record (kpl, gzip, zlib, cloudwatch, clickstream, snowplow_zstd, amplitude)",
    )
    p.add_argument("--stream", help="stream name (overrides the stack's output)")
    target.add_target_arguments(p, need="--stream")
    p.add_argument("--rate", type=float, help="at most this many records per second")
    p.add_argument("--user-key", choices=[s.value for s in UserKeySource], default=UserKeySource.SESSION_USER_ID)
    p.add_argument("--strict", action="store_true", help="stop at the first invalid line instead of skipping it")
    p.add_argument("--day", type=positive_int, default=1, help="simulated day to produce (with --simulate)")
    p.add_argument("--users", type=sim_users, default=3000, help="simulated population (with --simulate)")
    p.add_argument("--seed", type=seed, default=7, help="simulation seed (with --simulate)")
    p.add_argument("--max-attempts", type=positive_int, default=8, help="PutRecords attempts per batch")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto")
    p.add_argument(
        "--shift-time",
        action="store_true",
        help="move every event by one offset so that the latest is now (order and gaps kept): a file dated ahead of"
        " now, or a past day replayed as live traffic; each event is then put as --format writes it",
    )
    p.set_defaults(func=run)


def entries_from_file(
    path: Path, sep: str | None, decoder: Decoder, strict: bool, rejected: Counter[str]
) -> Iterator[tuple[dict[str, Any], list[Event]]]:
    """Each line of the file holding a valid event, as one record, with its events: read as train and score read
    the file (``files.event_lines``; ``sep`` "" tells the form from the file) and checked by the consumer's decoder.
    A line of one event is put as it is (an NDJSON line, a CSV row's object, an access log line); a line of
    several (an array, a wrapper) as one canonical record per event, so that each user's events keep to that user's
    partition key; its bad parts are counted (``--strict``: the first one stops the command)."""
    where = " row" if (delimiter(path) if sep == "" else sep) else ""  # a line's number, or a row's (no header)
    with open_binary(path) as fh:
        for n, line in enumerate(event_lines(fh, path, sep), 1):
            line = line.strip()
            if not line:
                continue
            events = []
            for item in decoder.items(line):
                if isinstance(item.result, Event):
                    events.append(item.result)
                elif strict:
                    fail(f"{path}:{where}{n}: {item.result}")
                else:
                    rejected[item.result.reason.value] += 1
            if len(events) == 1:
                yield {"Data": line, "PartitionKey": events[0].user_key}, events
                continue
            for ev in events:
                yield {"Data": producer_formats.SINGLE_ENCODERS["canonical"](ev), "PartitionKey": ev.user_key}, [ev]


def entries_from_simulation(day: int, users: int, seed: int) -> list[tuple[dict[str, Any], list[Event]]]:
    from clickguard.sim import Population, SimConfig, simulate_day
    from clickguard.sim.output import ndjson_lines

    try:
        population = Population(SimConfig(users=users, seed=seed, days=day))
    except ValueError as exc:
        fail(str(exc))
    sim = simulate_day(population, day)
    return [
        ({"Data": line.encode(), "PartitionKey": u}, [parse_record(line)])
        for line, u in zip(ndjson_lines(sim), sim.user_ids.tolist(), strict=True)
    ]


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.start, self.drawn = total, enabled, time.monotonic(), 0.0
        self.stats = PutStats()  # the put's own, from its first batch on: what Ctrl-C had put

    def __call__(self, stats: PutStats, final: bool = False) -> None:
        self.stats = stats
        now = time.monotonic()
        if not self.enabled or (not final and now - self.drawn < 0.1):
            return
        self.drawn = now
        share = stats.records / self.total if self.total else 1.0
        bar = "#" * int(share * 30)
        rate = stats.records / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r[{bar:<30}] {stats.records}/{self.total} records {rate:,.0f}/s")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    if args.rate is not None and args.rate <= 0:
        fail(f"--rate {args.rate}: must be > 0 records per second")
    tgt = target.resolve(args)
    if not tgt.stream_name:
        fail("no stream: give --stream NAME, --stack NAME or --local")
    rejected: Counter[str] = Counter()
    read, source_name = read_entries(args, rejected)
    entries = [entry for entry, _ in read]
    if not entries:
        fields = first_fields(Path(args.input)) if args.input else ""
        fail(
            f"no valid events in {source_name} (rejected: {dict(rejected) or 'none'}; events need user_id, event_type"
            f" and timestamp or one of their other names, see README: Event format{fields})"
        )
    events_in = sum(len(events) for _, events in read)
    now_ms = int(time.time() * 1000)
    if args.shift_time:
        read = shifted(read, now_ms)
    else:
        warn_ahead(read, now_ms)
    if args.format != producer_formats.DEFAULT or args.shift_time:
        entries = producer_formats.encode(args.format, [ev for _, events in read for ev in events], args.per_record)
    enabled = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty() and len(entries) > 5000)
    progress = Progress(len(entries), enabled)
    started = time.monotonic()
    try:
        stats = produce(
            tgt.client("kinesis"),
            tgt.stream_name,
            entries,
            rate=args.rate,
            backoff=producer_backoff(args.max_attempts),
            on_progress=progress,
        )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(interrupted(progress.stats.records, len(entries), read, args.shift_time)) from None
    except PutFailed as exc:
        fail(f"stream {tgt.stream_name}: {exc}")
    except Exception as exc:
        fail(f"stream {tgt.stream_name}: {type(exc).__name__}: {exc}")
    progress(stats, final=True)
    seconds = time.monotonic() - started
    summary = {"stream": tgt.stream_name, "source": source_name, "format": args.format, "events": events_in}
    print(json.dumps({**summary, **_put_stats(stats, seconds, rejected)}, indent=2))
    return 0


def interrupted(put: int, total: int, read: list[tuple[dict[str, Any], list[Event]]], shifted: bool) -> str:
    """Ctrl-C's line: how much is on the stream, and what putting the same input again does there (the consumer
    drops an event as a copy by its ``event_id``, time and action; without an id, only as late, past the session
    gap: ``consumer.admission``)."""
    lacking = sum(ev.event_id is None for _, events in read for ev in events)
    if shifted:
        again = "putting it again with --shift-time puts them again at new times, which are new events"
    elif lacking:
        again = (
            f"putting it again puts them again: the consumer drops a copy by its event_id, which {lacking:,} of its"
            " events lack (those within a session gap of their user's latest event would count twice)"
        )
    else:
        again = "putting it again, the consumer drops those already put as copies (each event carries an event_id)"
    return f"interrupted after {put:,} of {total:,} records put; {again}"


def read_entries(
    args: argparse.Namespace, rejected: Counter[str]
) -> tuple[list[tuple[dict[str, Any], list[Event]]], str]:
    """The canonical entries to put (simulated or read from ``--input``) and a name for where they came from; the
    invalid lines of a file are counted in ``rejected``."""
    if args.simulate:
        return entries_from_simulation(args.day, args.users, args.seed), (
            f"simulation day {args.day} (users={args.users}, seed={args.seed})"
        )
    path = input_file("--input", Path(args.input))
    sep = INPUT_FORMATS[args.input_format] if args.input_format else ""
    decoder = Decoder(DecodeConfig(user_key_source=UserKeySource(args.user_key)))
    gen = entries_from_file(path, sep, decoder, args.strict, rejected)
    try:
        read = list(gen)  # read first: the progress bar needs a total, and bad input fails before any put
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        fail_unreadable("--input", path, exc)
    # Put in the order the events happened, as train reads the file (``EventColumns.in_time_order``): a stream of an
    # export newest first would have the consumer drop all but each session's last event as late.
    return sorted(read, key=lambda entry: entry[1][0].ts_ms), str(path)


def shifted(read: list[tuple[dict[str, Any], list[Event]]], now_ms: int) -> list[tuple[dict[str, Any], list[Event]]]:
    """Every event moved by the one offset that puts the latest at ``now_ms`` (the entries are re-encoded after)."""
    offset = now_ms - max(ev.ts_ms for _, events in read for ev in events)
    return [(entry, [ev._replace(ts_ms=ev.ts_ms + offset) for ev in events]) for entry, events in read]


def warn_ahead(read: list[tuple[dict[str, Any], list[Event]]], now_ms: int) -> None:
    """Say so when events are dated past now by more than the consumer allows: it reads each at its arrival plus
    ``MAX_FUTURE_SKEW_MS`` (one bad clock must not make a user's later events late), so a file dated ahead arrives
    as bursts of events at one instant, which the timing signals read as a machine's."""
    limit = now_ms + MAX_FUTURE_SKEW_MS
    ahead = sum(ev.ts_ms > limit for _, events in read for ev in events)
    if ahead:
        latest = format_ms(max(ev.ts_ms for _, events in read for ev in events))
        eprint(
            f"produce: {ahead:,} event(s) are dated more than {MAX_FUTURE_SKEW_MS // 60_000} minutes after now (the"
            f" latest {latest}); the consumer reads each at its arrival plus that, which loses their timing: give"
            " --shift-time to move every event so that the latest is now"
        )


def _put_stats(stats: PutStats, seconds: float, rejected: Counter[str]) -> dict[str, Any]:
    return {
        "records": stats.records,
        "calls": stats.calls,
        "retried_records": stats.retried_records,
        "error_codes": stats.error_codes,
        "rejected": dict(rejected),
        "seconds": round(seconds, 3),
        "records_per_second": round(stats.records / seconds, 1) if seconds else None,
    }
