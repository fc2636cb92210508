"""``clickguard flags``: read pre-block flags from the queue as a reviewer would."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata

from clickguard.cli import target
from clickguard.cli.common import eprint, fail, positive_int
from clickguard.review.explain import clean
from clickguard.store.flag_reader import FlagMessage, delete, receive, release

COLUMNS = (
    "flagged_at",
    "user",
    "score",
    "threshold",
    "reasons",
    "mean_bits",
    "total_bits",
    "events",
    "most surprising",
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("flags", help="read pre-block flags from the flag queue")
    p.add_argument("--queue-url", help="flag queue URL (overrides the stack's output)")
    target.add_target_arguments(p, need="--queue-url")
    p.add_argument("--max", type=positive_int, default=50, help="read at most N flags")
    p.add_argument("--wait", type=float, default=2.0, help="stop after SECONDS with the queue empty (0-600)")
    p.add_argument("--json", action="store_true", help="print each flag as one JSON line")
    p.add_argument(
        "--delete", action="store_true", help="delete the flags read (they are handled); without it they stay queued"
    )
    p.set_defaults(func=run)


def row(msg: FlagMessage) -> list[str]:
    b = msg.body or {}
    top = b.get("top_transitions") or []
    first = top[0] if top else None
    if isinstance(first, dict):
        surprising = f"{first.get('from')} -> {first.get('to')} ({float(first.get('bits', 0)):.1f} b)"
    elif isinstance(first, list | tuple) and len(first) >= 3:
        surprising = f"{first[0]} -> {first[1]} ({float(first[2]):.1f} b)"
    else:
        surprising = ""
    cells = [
        str(b.get("flagged_at", "")),
        str(b.get("user_key", b.get("user_id", "?"))),
        _num(b.get("score")),
        _num(b.get("threshold")),
        ",".join(b.get("reasons", [])) if isinstance(b.get("reasons"), list) else str(b.get("reasons", "")),
        _num(b.get("peak_mean_bits", b.get("mean_bits"))),  # schema 2's name, schema 1's
        _num(b.get("total_bits")),
        str(b.get("transitions", "")),
        surprising if msg.body is not None else f"(not JSON: {msg.raw[:40]!r})",
    ]
    return list(map(clean, cells))  # the senders' text: an escape sequence in a user id must not reach the terminal


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else ""


def table(rows: list[list[str]]) -> str:
    widths = [max(cells(c), *(cells(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(pad(c, w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(pad(v, w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def cells(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters (katakana, most emoji) take two,
    combining marks none (a user key in Japanese pushed every later column out of line)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * (width - cells(text))


def show(messages: list[FlagMessage], as_json: bool) -> None:
    """The flags on standard output, flushed: a reader that left shows here, before any is deleted or released."""
    if as_json:
        for m in messages:
            print(json.dumps(m.body) if m.body is not None else json.dumps({"unparsed_body": m.raw}))
    elif messages:
        print(table([row(m) for m in messages]))
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.wait <= 600:
        fail(f"--wait {args.wait}: must be between 0 and 600 seconds")
    tgt = target.resolve(args)
    if not tgt.flag_queue_url:
        fail("no flag queue: give --queue-url URL, --stack NAME or --local")
    sqs = tgt.client("sqs")
    try:
        messages = receive(sqs, tgt.flag_queue_url, args.max, args.wait)
    except Exception as exc:
        fail(f"queue {tgt.flag_queue_url}: {type(exc).__name__}: {exc}")
    try:
        show(messages, args.json)
    except BrokenPipeError:  # the reader left (``| head -1``): nothing is deleted, and the rest are visible again
        release(sqs, tgt.flag_queue_url, messages)
        raise
    if args.delete and messages:
        failed = delete(sqs, tgt.flag_queue_url, messages)
        eprint(f"deleted {len(messages) - failed} of {len(messages)} flags" + (f" ({failed} failed)" if failed else ""))
    elif messages:  # read, not handled: visible again at once, not hidden from the next reader for the timeout
        release(sqs, tgt.flag_queue_url, messages)
    if not messages:
        eprint(f"no flags within {args.wait:g} s")
    return 0
