"""Entry point of the ``clickguard`` console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from clickguard.cli import (
    demo_cmd,
    flags_cmd,
    local_cmd,
    models_cmd,
    network_cmd,
    produce_cmd,
    report_cmd,
    review_cmd,
    score_cmd,
    simulate_cmd,
    train_cmd,
)
from clickguard.cli.common import CliError, eprint

INTERRUPTED = 130  # the shell's status for a command ended by SIGINT (128 + 2)

COMMANDS = (
    demo_cmd,
    local_cmd,
    simulate_cmd,
    produce_cmd,
    flags_cmd,
    train_cmd,
    models_cmd,
    score_cmd,
    report_cmd,
    network_cmd,
    review_cmd,
)


class CommandParser(argparse.ArgumentParser):
    """A command's parser. An option is never taken for a longer one it begins (``--event`` for ``--events``: a
    typo passed for another option), and an unknown one is named by the command, with its usage, before a missing
    required one (argparse said only what was missing, or gave the top-level usage)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def parse_known_args(  # type: ignore[override]  # one signature for typeshed's three overloads
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = None if args is None else list(args)
        with _nothing_required(self):
            _, unknown = super().parse_known_args(args, None)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return super().parse_known_args(args, namespace)


@contextmanager
def _nothing_required(parser: argparse.ArgumentParser) -> Iterator[None]:
    """``parser`` with no argument or group required: a first pass that finds the unknown ones."""
    items: list[Any] = [*parser._actions, *parser._mutually_exclusive_groups]
    required = [item.required for item in items]
    for item in items:
        item.required = False
    try:
        yield
    finally:
        for item, was in zip(items, required, strict=True):
            item.required = was


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clickguard", description=__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # standard output's reader gone shows here at the latest, inside this handler
        return code
    except CliError as exc:
        parser.exit(2, f"clickguard {args.command}: error: {exc}\n")
    except BrokenPipeError:
        return reader_left()
    except KeyboardInterrupt as exc:  # Ctrl-C: one line, not Python's traceback; a command says more in its args
        eprint(f"clickguard {args.command}: {str(exc) or 'interrupted'}")
        return INTERRUPTED


def reader_left() -> int:
    """Standard output's reader left (``| head``): end quietly, as the Python docs' recipe (the signal module's note
    on SIGPIPE) does; standard output goes to devnull so the interpreter's own flush at exit cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    sys.exit(main())
