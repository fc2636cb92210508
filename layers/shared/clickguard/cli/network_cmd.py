"""``clickguard network``: the file mode of the social-network purchase rule (seed 003), for audits.

``--batch`` builds the initial state (its first line is ``{"D": ..., "T": ...}``), ``--stream`` is scored in order,
and ``--out`` receives each flagged purchase as its input line with ``mean`` and ``sd`` added (an empty file when
nothing is flagged); see ``clickguard.network.challenge`` for the exact format. The events go, in chunks, through
the same step and commit as the consumer's (``clickguard.network.step``), over the in-process store. Malformed lines
are skipped and counted on standard error; a missing or unreadable input (a directory, a pipe), an output that
cannot be written (a full disk) or a bad parameters line exits with status 2 and the reason. A UTF-8 byte-order
mark at a file's start is skipped (``clickguard.files.open_binary``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from clickguard.cli.common import cannot_write, fail, fail_unreadable, positive_int
from clickguard.files import BinaryFile, open_binary
from clickguard.gc_pause import no_cyclic_gc
from clickguard.network.challenge import BadParameters, LineParser, MalformedLine, flagged_line, read_parameters
from clickguard.network.commit import commit
from clickguard.network.config import NetworkConfig
from clickguard.network.flags import PurchaseFlag
from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.step import Kind, NetworkEvent, StepStats, run_step

# Events handed to one step. Any size gives the same output (a test holds it); large chunks keep each touched
# user's friend set copied once per chunk rather than once per Kinesis-sized batch.
CHUNK_EVENTS = 100_000
MAX_EXAMPLES = 5  # malformed lines quoted on standard error (file and line number, with the reason)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "network",
        help="flag purchases far above the buyer's social network in batch/stream log files (seed 003)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--batch", type=Path, required=True, help="batch_log.json: parameters line, then past events")
    p.add_argument("--stream", type=Path, required=True, help="stream_log.json: the events to score, in order")
    p.add_argument("--out", type=Path, required=True, help="flagged_purchases.json to write")
    p.add_argument("--chunk", type=positive_int, default=CHUNK_EVENTS, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


@dataclass
class Tally:
    lines: int = 0
    events: int = 0
    flags: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    purchases: int = 0
    friendships_changed: int = 0

    def skip(self, where: str, reason: str) -> None:
        self.malformed[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    def add(self, stats: StepStats) -> None:
        self.purchases += stats.purchases
        self.friendships_changed += stats.friendships_changed


class Reader:
    """Numbered, parsed lines of both files: one arrival order across them (the batch first)."""

    def __init__(self, tally: Tally) -> None:
        self.parser = LineParser()
        self.seq = 0
        self.tally = tally

    def chunks(
        self, fh: Iterable[bytes], name: str, size: int, first_line: int = 1, keep: bool = False
    ) -> Iterator[tuple[list[NetworkEvent], dict[int, dict[str, Any]]]]:
        """Chunks of ``size`` events; ``keep``: with each purchase's input object by position (to print flags)."""
        events: list[NetworkEvent] = []
        originals: dict[int, dict[str, Any]] = {}
        for number, line in enumerate(fh, start=first_line):
            self.seq += 1
            if not line.strip():
                continue
            self.tally.lines += 1
            try:
                event, obj = self.parser.parse(line, self.seq)
            except MalformedLine as exc:
                self.tally.skip(f"{name}:{number}", str(exc))
                continue
            events.append(event)
            if keep and event.kind is Kind.PURCHASE:
                originals[event.seq] = obj
            if len(events) >= size:
                yield events, originals
                events, originals = [], {}
        if events:
            yield events, originals


def _open(path: Path, flag: str) -> BinaryFile:
    """An input file, past a UTF-8 byte-order mark (Windows editors write one; it would make line 1 not JSON)."""
    if not path.is_file():
        fail(f"{flag} {path}: {_not_a_file(path)}")
    try:
        return open_binary(path)
    except (OSError, EOFError) as exc:
        fail_unreadable(flag, path, exc)


def _not_a_file(path: Path) -> str:
    if path.is_dir():
        return "a directory, not a file"
    if path.exists():  # a named pipe would hold the run at its open until something writes it; a device is no log
        return "a pipe or a device, not a file"
    return "no such file"


class Output:
    """The ``--out`` file: an error opening, writing or closing it (a full disk, a quota) is a CLI error naming the
    file, not a traceback."""

    INCOMPLETE = "; what it holds is incomplete"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh = path.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            self._fail(exc)

    def write(self, text: str) -> None:
        try:
            self._fh.write(text)
        except OSError as exc:
            self._fail(exc, self.INCOMPLETE)  # closed by __exit__

    def __enter__(self) -> Output:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._fh.close()  # flushes the last buffered lines: where a full disk usually shows
        except OSError as error:
            if kind is None:  # else the error already raised is the one to report
                self._fail(error, self.INCOMPLETE)

    def _fail(self, exc: OSError, note: str = "") -> NoReturn:
        cannot_write("--out", self.path, exc, note)


def _parameters(fh: BinaryFile, path: Path) -> tuple[NetworkConfig, int]:
    """The first non-blank line; returns the config and the number of lines read."""
    for number, line in enumerate(fh, start=1):
        if line.strip():
            try:
                degree, window = read_parameters(line)
            except BadParameters as exc:
                fail(f"--batch {path}:{number}: {exc}")
            return NetworkConfig(degree=degree, window=window), number
    fail(f'--batch {path}: empty; its first line must be {{"D": "<degree>", "T": "<purchases>"}}')


def run(args: argparse.Namespace) -> int:
    with no_cyclic_gc():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    tally = Tally()
    store = InMemoryNetworkStore()
    reader = Reader(tally)
    with _open(args.batch, "--batch") as batch, _open(args.stream, "--stream") as stream:
        config, header = _parameters(batch, args.batch)
        reader.seq = header
        for events, _ in reader.chunks(batch, str(args.batch), args.chunk, first_line=header + 1):
            _apply(events, store, config, tally, score=False)
        with Output(args.out) as out:
            for events, originals in reader.chunks(stream, str(args.stream), args.chunk, keep=True):
                for flag in _apply(events, store, config, tally, score=True):
                    out.write(flagged_line(originals[flag.seq], flag) + "\n")
    _report(tally, config, time.perf_counter() - started)
    return 0


def _apply(
    events: list[NetworkEvent], store: InMemoryNetworkStore, config: NetworkConfig, tally: Tally, *, score: bool
) -> list[PurchaseFlag]:
    result = run_step(events, store, config, score=score)
    outcome = commit(result, store, None)
    if outcome.checkpoint is not None:  # the in-process store never fails: a bug, not bad input
        raise RuntimeError(f"the in-memory network store left events uncommitted from {outcome.checkpoint}")
    tally.events += len(events)
    tally.flags += len(result.flags)
    tally.add(result.stats)
    return result.flags


def _report(tally: Tally, config: NetworkConfig, seconds: float) -> None:
    skipped = sum(tally.malformed.values())
    print(
        f"D={config.degree} T={config.window}: {tally.events:,} events applied "
        f"({tally.purchases:,} purchases, {tally.friendships_changed:,} friend-list updates), {tally.flags:,} flagged; "
        f"{skipped:,} malformed lines skipped; {seconds:.1f} s",
        file=sys.stderr,
    )
    if skipped:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in tally.malformed.most_common())
        print(f"  malformed by reason: {reasons}", file=sys.stderr)
        for example in tally.examples:
            print(f"  skipped {example}", file=sys.stderr)
