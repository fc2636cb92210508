"""``clickguard local up``: the stack on the embedded emulator, kept running, with the managed parts played;
``clickguard local down`` stops it; ``clickguard local stats`` prints what its functions counted so far.

Prints the endpoint (and the AWS CLI's settings for it) so the AWS CLI or boto3 can be pointed at it; other
``clickguard`` commands find it through ``--local`` (the state file ``.clickguard-local.json`` in the current
directory, ``local.state_file``), ``local stats`` and ``local down`` also through ``--workdir`` (a copy there). One
stack per directory, and per workdir.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clickguard import settings
from clickguard.cli.common import eprint, fail
from clickguard.cli.target import local_state
from clickguard.local import state_file
from clickguard.local.emulator import FAKE_CREDENTIALS, REGION
from clickguard.local.metrics import CONSUMER_COUNTS, totals

if TYPE_CHECKING:
    from clickguard.local.runtime import LocalRuntime


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="run the stack on the embedded AWS emulator (no AWS account needed)")
    p.add_argument(
        "action",
        choices=["up", "down", "stats"],
        help="up: start it here and keep it running; down: stop it; stats: what its functions counted so far",
    )
    p.add_argument("--port", type=int, default=0, help="emulator port on 127.0.0.1 (default: a free one)")
    p.add_argument(
        "--archive-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how often the Firehose stand-in writes the stream to S3 (default 60)",
    )
    p.add_argument(
        "--train-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="run the scheduled trainer this often (default: never; use 'clickguard train --local')",
    )
    p.add_argument(
        "--for",
        dest="duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C or 'clickguard local down')",
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="up: where to keep the synthesized assembly, the functions' output and a copy of the state file;"
        " down, stats: the stack's workdir, to find it from another directory",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "down":
        return down(args.workdir)
    if args.action == "stats":
        return stats(args.workdir)
    if not 0 <= args.port < 65536:
        fail(f"--port {args.port}: must be 0..65535")
    if args.archive_every <= 0:
        fail(f"--archive-every {args.archive_every}: must be > 0")
    if args.duration < 0 or args.train_every < 0:
        fail(f"--for {args.duration:g} / --train-every {args.train_every:g}: must be >= 0 (0: never)")
    _refuse_a_running_stack(args.workdir)
    return up(args)


def up(args: argparse.Namespace) -> int:
    stop, archive_now = threading.Event(), threading.Event()
    handlers = {
        signal.SIGTERM: lambda *_: stop.set(),
        signal.SIGHUP: lambda *_: stop.set(),  # a closed terminal too: never a stack left without its state file
        state_file.ARCHIVE_SIGNAL: lambda *_: archive_now.set(),  # ``train --local`` asks first
    }
    before = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    try:
        _run_stack(args, stop, archive_now)
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
    return 0


def _run_stack(args: argparse.Namespace, stop: threading.Event, archive_now: threading.Event) -> None:
    from clickguard.local.runtime import LocalRuntime

    eprint("starting the embedded emulator and deploying the synthesized stack ...")
    with contextlib.ExitStack() as running:
        try:
            rt = running.enter_context(LocalRuntime(args.workdir, port=args.port))
        except OSError as exc:  # the port is taken, or not ours to bind
            fail(f"--port {args.port}: cannot serve the emulator there ({exc.strerror or exc})")
        except KeyboardInterrupt:  # the runtime stopped what it had started (``LocalRuntime.__enter__``)
            raise KeyboardInterrupt("interrupted while the stack started: nothing is left running") from None
        try:
            rt.start_polling()
            rt.write_state_file()
            _print_handles(rt)
            _serve(rt, args, stop, archive_now)
        except KeyboardInterrupt:
            pass
        eprint(f"stopping; the consumer counted {_consumer_line(rt.output.totals()) if rt.output else 'nothing'}")


def _serve(rt: LocalRuntime, args: argparse.Namespace, stop: threading.Event, archive_now: threading.Event) -> None:
    """Play Firehose's flushes and the schedule until stopped (``--for``, a signal, Ctrl-C)."""
    started = last_archive = last_train = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if args.duration and now - started >= args.duration:
            return
        if archive_now.is_set() or now - last_archive >= args.archive_every:
            archive_now.clear()
            rt.archive()
            rt.write_state_file(archived_at=time.time())
            last_archive = now
        if args.train_every and now - last_train >= args.train_every:
            report = rt.run_training()
            eprint(f"scheduled training: {report['status']} {report.get('version') or report['reason']}")
            last_train = now
        stop.wait(0.5)


def _print_handles(rt: LocalRuntime) -> None:
    h = rt.handles
    print(f"endpoint   {rt.emulator.endpoint_url}")
    print(f"stack      {rt.stack_name}")
    print(f"stream     {h.stream_name}")
    print(f"flag queue {h.flag_queue_url}  (an emulator's URL: always with --endpoint-url)")
    print(f"buckets    data={h.data_bucket} models={h.model_bucket}")
    print(f"table      {h.table_name}")
    print(f"score api  POST {rt.score_url} (the function URL's stand-in; see README: The score API)")
    here, *there = rt.state_files
    print(f"state file {here} (other commands: --local; stop: clickguard local down)")
    for copy in there:
        print(f"           {copy} (from another directory: local stats/down --workdir {copy.parent})")
    print(f"aws cli    export {CLI_ENV}  # the emulator's credentials and region: no AWS account")
    print(
        "try: aws --endpoint-url "
        + rt.emulator.endpoint_url
        + f" kinesis put-record --stream-name {h.stream_name} --partition-key u1"
        ' --data \'{"user_id":"u1","event_type":"login","timestamp":"'
        + datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        + "\"}'  # the pinned awscli (v1); AWS CLI v2 also needs --cli-binary-format raw-in-base64-out",
        flush=True,
    )


# What the AWS CLI needs to talk to the emulator (any key is accepted; the region is the stack's).
CLI_ENV = (
    f"AWS_ACCESS_KEY_ID={FAKE_CREDENTIALS['aws_access_key_id']} "
    f"AWS_SECRET_ACCESS_KEY={FAKE_CREDENTIALS['aws_secret_access_key']} AWS_DEFAULT_REGION={REGION}"
)


def _refuse_a_running_stack(workdir: str | None) -> None:
    """One stack per directory and per workdir: a second one would take over the state file, and the first run on
    unfound (in a workdir, both would write one assembly and one output file)."""
    for path in state_file.places(workdir):
        try:
            current = state_file.read(path)
        except ValueError as exc:
            fail(f"{exc}: move it away first")
        if current is None:
            continue
        why_not = state_file.liveness(current)
        if why_not is None:
            fail(
                f"a local stack already runs from {path.parent} (process {current.get('pid', '?')}, endpoint "
                f"{current['endpoint_url']}): stop it with 'clickguard local down', or start another elsewhere"
            )
        eprint(f"replacing {path}, left by a stack that stopped without removing it ({why_not})")


def stats(workdir: str | None) -> int:
    """What the running stack's functions counted (their CloudWatch metrics, summed): where every record went."""
    output = local_state("local stats", workdir).get("handler_output")
    if not isinstance(output, str):
        fail("the local stack does not say where its functions' output is: restart it with this release")
    counted = totals(Path(output))
    print(json.dumps({"consumer": _consumer(counted), "rejected_by_reason": counted["rejected_by_reason"],
                      "all_services": counted["by_service"], "output": output}, indent=2))  # fmt: skip
    return 0


def _consumer(counted: dict[str, Any]) -> dict[str, int]:
    """The consumer's counts (its service is named after the stack's flavour: ``clickguard-consumer-local``)."""
    mine = [c for s, c in counted["by_service"].items() if s.startswith(settings.CONSUMER_SERVICE)]
    return {name: sum(c.get(name, 0) for c in mine) for name in CONSUMER_COUNTS}


def _consumer_line(counted: dict[str, Any]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in list(_consumer(counted).items())[:6])


def down(workdir: str | None, timeout_s: float = 60.0) -> int:
    """Stop the stack started from this directory, or given ``workdir`` (``SIGTERM``, as Ctrl-C would), and wait
    until it has."""
    path = state_file.in_dir(workdir)
    try:
        current = state_file.read(path)
    except ValueError as exc:
        fail(str(exc))
    if current is None:
        fail(f"no local stack runs from {path.parent.absolute()} ({path.name} not found there)")
    why_not = state_file.liveness(current)
    pid = current.get("pid")
    if why_not is not None or not isinstance(pid, int):
        path.unlink(missing_ok=True)
        eprint(f"removed {path}: its stack was not running ({why_not or 'no process id'})")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while (path.exists() or not _exited(pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if path.exists() or not _exited(pid):
        fail(f"the stack (process {pid}) did not stop within {timeout_s:g} s")
    eprint(f"stopped the local stack (process {pid})")
    return 0


def _exited(pid: int) -> bool:
    """The process is gone, or a zombie its parent has not reaped yet (it runs nothing more). The stack removes its
    state file before its last clean-up (the emulator's threads, its scratch folder): that file alone said too soon."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
