"""Entry point of the ``clickguard`` console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
from clickguard.cli.common import CliError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clickguard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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


def reader_left() -> int:
    """Standard output's reader left (``| head``): end quietly, as the Python docs' recipe (the signal module's note
    on SIGPIPE) does; standard output goes to devnull so the interpreter's own flush at exit cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    sys.exit(main())
