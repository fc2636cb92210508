"""``clickguard review``: a reviewer's terminal on the flag queue, deciding ``block`` or ``allow`` with a reason.

* ``clickguard review`` (interactive): reads up to ``--max`` open flags, explains each (reasons, strength, bits
  against the thresholds, the most surprising transitions, the signals when the flag has them) and asks
  ``[b]lock / [a]llow / [s]kip / [q]uit``, then a reason. A decision goes onto the decisions queue (the one path
  that records decisions, the same one services use) and the flag is deleted; skipped flags, and those left when
  the reviewer quits, are made visible again at once for the next reviewer.
* ``clickguard review list``: the open flags, explained (``--json``: one flag per line), released at once.
* ``clickguard review decide --flag-id ID --decision block|allow --reason TEXT``: one decision, for scripts.
* ``clickguard review stats``: decisions per day and the share of flags confirmed, from the decision log.

The reviewer is ``--reviewer`` or ``$USER``. Reading a flag counts as a receive: a flag received
``flag_max_receives`` times without a decision moves to the flag dead-letter queue, which can be reviewed the same
way with ``--queue-url``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from clickguard.cli import target
from clickguard.cli.common import eprint, fail, positive_int
from clickguard.review import stats
from clickguard.review.decision import InvalidDecision, Verdict, for_flag
from clickguard.review.explain import clean, decidable, explain
from clickguard.review.ports import DecisionStoreError
from clickguard.store import flag_reader
from clickguard.store.decisions import SqsDecisionQueue, read_decisions
from clickguard.store.flag_reader import FlagMessage

ACTIONS = ("list", "decide", "stats")
CHOICES = {"b": Verdict.BLOCK, "block": Verdict.BLOCK, "a": Verdict.ALLOW, "allow": Verdict.ALLOW}
SKIP_KEYS, QUIT_KEYS = {"s", "skip", ""}, {"q", "quit"}
SKIP, QUIT = "skip", "quit"
PROMPT = "[b]lock / [a]llow / [s]kip / [q]uit? "


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="review open flags: decide block or allow, with a reason")
    p.add_argument("action", nargs="?", choices=ACTIONS, help="list | decide | stats (default: interactive)")
    p.add_argument("--queue-url", help="flag queue URL (overrides the stack's output; a dead-letter queue works too)")
    p.add_argument("--decision-queue-url", help="decisions queue URL (overrides the stack's output)")
    p.add_argument("--model-bucket", help="bucket of the decision log, for stats (overrides the stack's output)")
    target.add_target_arguments(p, need="--queue-url")
    p.add_argument("--reviewer", help="who decides (default: $USER)")
    p.add_argument("--max", type=positive_int, default=20, help="flags to read (decide: to search through)")
    p.add_argument("--wait", type=float, default=2.0, help="stop reading after SECONDS with the queue empty (0-600)")
    p.add_argument("--json", action="store_true", help="list/stats: JSON lines")
    p.add_argument("--flag-id", help="decide: the flag decided on")
    p.add_argument("--decision", choices=[v.value for v in Verdict], help="decide: block or allow")
    p.add_argument("--reason", help="decide: why (kept in the decision log)")
    p.add_argument("--since", help="stats: from this day (YYYY-MM-DD)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    tgt = target.resolve(args)
    if args.action == "stats":
        return _stats(args, tgt)
    if not tgt.flag_queue_url:
        fail("no flag queue: give --queue-url URL, --stack NAME or --local")
    if args.action == "list":
        return _list(args, tgt)
    reviewer = _reviewer(args)
    if not tgt.decision_queue_url:
        fail(
            "no decisions queue: give --decision-queue-url URL, --stack NAME or --local "
            "(a stack deployed before the review loop has none: deploy it again)"
        )
    sink = SqsDecisionQueue(tgt.client("sqs"), tgt.decision_queue_url)
    if args.action == "decide":
        return _decide(args, tgt, sink, reviewer)
    return _interactive(args, tgt, sink, reviewer, input)


def _check_arguments(args: argparse.Namespace) -> None:
    if not 0 <= args.wait <= 600:
        fail(f"--wait {args.wait}: must be between 0 and 600 seconds")
    decide_only = {"--flag-id": args.flag_id, "--decision": args.decision, "--reason": args.reason}
    if args.action == "decide":
        missing = [name for name, value in decide_only.items() if value is None]
        if missing:
            fail(f"review decide needs {', '.join(missing)}")
    elif any(v is not None for v in decide_only.values()):
        fail("--flag-id, --decision and --reason go with 'review decide'")
    if args.since is not None and (args.action != "stats" or not _is_day(args.since)):
        fail(f"--since {args.since!r}: give a day as YYYY-MM-DD, with 'review stats'")


def _is_day(text: str) -> bool:
    try:
        time.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _reviewer(args: argparse.Namespace) -> str:
    reviewer = (args.reviewer or os.environ.get("USER") or "").strip()
    if not reviewer:
        fail("no reviewer: give --reviewer NAME (or set $USER)")
    return str(reviewer)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _receive(tgt: target.StackTarget, max_messages: int, wait: float) -> list[FlagMessage]:
    try:
        return flag_reader.receive(tgt.client("sqs"), str(tgt.flag_queue_url), max_messages, wait)
    except Exception as exc:  # any client or endpoint error: one line for the reviewer, exit 2
        fail(f"flag queue {tgt.flag_queue_url}: {type(exc).__name__}: {exc}")


def _release(tgt: target.StackTarget, messages: list[FlagMessage]) -> None:
    if messages:
        flag_reader.release(tgt.client("sqs"), str(tgt.flag_queue_url), messages)


def _list(args: argparse.Namespace, tgt: target.StackTarget) -> int:
    messages = _receive(tgt, args.max, args.wait)
    try:
        for i, m in enumerate(messages, 1):
            if args.json:
                print(json.dumps(m.body) if m.body is not None else json.dumps({"unparsed_body": m.raw}))
            else:
                print(f"[{i}/{len(messages)}] " + "\n".join(explain(m.body, m.raw)) + "\n")
    finally:
        _release(tgt, messages)
    if not messages:
        eprint(f"no open flags within {args.wait:g} s")
    return 0


def _decide(args: argparse.Namespace, tgt: target.StackTarget, sink: SqsDecisionQueue, reviewer: str) -> int:
    verdict = Verdict(args.decision)
    probe = {"flag_id": args.flag_id, "user_key": "-", "model_version": "-"}
    try:  # the arguments, checked as the recorder will check them, before anything is read
        for_flag(probe, verdict, args.reason, reviewer, _now_ms())
    except InvalidDecision as bad:
        fail(f"{bad.detail} ({bad.reason})")
    found, others = _find(tgt, args.flag_id, args.max, args.wait)
    _release(tgt, others)
    if not found:
        fail(
            f"flag {args.flag_id} is not among the next {args.max} open flags (decided already, held by another "
            "reviewer, or in the dead-letter queue: try --queue-url)"
        )
    return 0 if _record(tgt, sink, found, verdict, args.reason, reviewer) else 1


def _find(
    tgt: target.StackTarget, flag_id: str, limit: int, wait: float
) -> tuple[list[FlagMessage], list[FlagMessage]]:
    """Read flags a page at a time until ``flag_id`` turns up; every copy of it, and the others read meanwhile."""
    found: list[FlagMessage] = []
    others: list[FlagMessage] = []
    while not found and len(others) < limit:
        page = _receive(tgt, min(flag_reader.MAX_PER_RECEIVE, limit - len(others)), wait)
        if not page:
            break
        for m in page:
            (found if (m.body or {}).get("flag_id") == flag_id else others).append(m)
    return found, others


def _record(
    tgt: target.StackTarget, sink: SqsDecisionQueue, copies: list[FlagMessage], verdict: Verdict, reason: str, who: str
) -> bool:
    """Send the decision, then delete the flag (every copy); False, with the flag released, if sending failed."""
    flag = copies[0].body or {}
    try:
        decision = for_flag(flag, verdict, reason, who, _now_ms())
        sink.send(decision)
    except InvalidDecision as bad:
        eprint(f"not recorded: the flag or the decision is not valid: {bad.detail} ({bad.reason})")
        _release(tgt, copies)
        return False
    except DecisionStoreError as exc:
        eprint(f"not recorded: {exc}; the flag stays open")
        _release(tgt, copies)
        return False
    flag_reader.delete(tgt.client("sqs"), str(tgt.flag_queue_url), copies)
    context = "" if decision.has_flag_context else " (no reasons/strength on the flag: the allow-list is not updated)"
    print(f"recorded: {verdict.value} {clean(decision.user_key)} (flag {decision.flag_id}) by {clean(who)}{context}")
    return True


def _interactive(
    args: argparse.Namespace, tgt: target.StackTarget, sink: SqsDecisionQueue, reviewer: str, ask: Callable[[str], str]
) -> int:
    messages = _receive(tgt, args.max, args.wait)
    if not messages:
        eprint(f"no open flags within {args.wait:g} s")
        return 0
    decided = {Verdict.BLOCK: 0, Verdict.ALLOW: 0}
    skipped: list[FlagMessage] = []
    done = 0  # messages dealt with (decided or skipped); the rest is released when the reviewer stops
    interrupted = False
    try:
        for i, m in enumerate(messages, 1):
            print(f"\n[{i}/{len(messages)}] " + "\n".join(explain(m.body, m.raw)), flush=True)
            answer = _choose(ask, decidable=decidable(m.body))
            reason = _ask_reason(ask) if isinstance(answer, Verdict) else None
            if answer is QUIT or (isinstance(answer, Verdict) and reason is None):
                break
            done = i
            if isinstance(answer, Verdict) and reason is not None and _record(tgt, sink, [m], answer, reason, reviewer):
                decided[answer] += 1
                continue
            skipped.append(m)
    except _Interrupted:
        interrupted = True
    finally:
        _release(tgt, skipped + messages[done:])
    summary = (
        f"decided {sum(decided.values())} ({decided[Verdict.BLOCK]} block, {decided[Verdict.ALLOW]} allow), "
        f"skipped {len(skipped)}, {len(messages) - done} not reached: {len(skipped) + len(messages) - done} left open"
    )
    if interrupted:
        raise KeyboardInterrupt(summary)  # ``main`` prints it, with the status of a Ctrl-C
    eprint(summary)
    return 0


class _Interrupted(Exception):
    """Ctrl-C at a prompt: the session ends as at [q]uit, with a Ctrl-C's status."""


def _read(ask: Callable[[str], str], prompt: str) -> str | None:
    """One answer; None at the end of input (a closed terminal or pipe means quit)."""
    try:
        return ask(prompt).strip()
    except EOFError:
        return None
    except KeyboardInterrupt:
        print(flush=True)  # the summary on a line of its own, not after the prompt
        raise _Interrupted from None


def _choose(ask: Callable[[str], str], *, decidable: bool) -> Verdict | str:
    """A verdict, ``SKIP`` or ``QUIT`` (also at the end of input). A message that is not a flag can only be skipped."""
    while True:
        answer = _read(ask, PROMPT if decidable else "not a flag: [s]kip / [q]uit? ")
        key = "q" if answer is None else answer.lower()
        if key in QUIT_KEYS:
            return QUIT
        if key in SKIP_KEYS:
            return SKIP
        if decidable and key in CHOICES:
            return CHOICES[key]
        print(f"{key[:20]!r}: answer b, a, s or q", flush=True)


def _ask_reason(ask: Callable[[str], str]) -> str | None:
    while True:
        reason = _read(ask, "reason: ")
        if reason is None:
            return None
        if reason:
            return reason
        print("a reason is required (it is kept with the decision)", flush=True)


def _stats(args: argparse.Namespace, tgt: target.StackTarget) -> int:
    if not tgt.model_bucket:
        fail("no decision log: give --model-bucket NAME, --stack NAME or --local")
    try:
        days = stats.per_day(read_decisions(tgt.client("s3"), tgt.model_bucket, since_day=args.since))
    except Exception as exc:  # any client or endpoint error: one line, exit 2
        fail(f"decision log s3://{tgt.model_bucket}: {type(exc).__name__}: {exc}")
    rows = [*days, stats.overall(days)] if days else []
    if args.json:
        for t in rows:
            print(json.dumps(_tally(t)))
        return 0
    if not rows:
        eprint("no decisions recorded" + (f" since {args.since}" if args.since else ""))
        return 0
    print(f"{'day':<10}  {'decided':>7}  {'block':>5}  {'allow':>5}  share confirmed")
    for t in rows:
        share = f"{t.confirmed_share:.3f}" if t.confirmed_share is not None else "-"
        print(f"{t.day:<10}  {t.decided:>7}  {t.block:>5}  {t.allow:>5}  {share}")
    return 0


def _tally(t: stats.DayTally) -> dict[str, Any]:
    return {"day": t.day, "decided": t.decided, "block": t.block, "allow": t.allow, "confirmed": t.confirmed_share}
