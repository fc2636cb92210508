"""``clickguard local up``: the stack on the embedded emulator, kept running, with the managed parts played;
``clickguard local down`` stops it.

Prints the endpoint (and the AWS CLI's settings for it) so the AWS CLI or boto3 can be pointed at it; other
``clickguard`` commands find it through ``--local`` (the state file ``.clickguard-local.json`` in the current
directory, ``local.state_file``). One stack per directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from clickguard.cli.common import eprint, fail
from clickguard.local import state_file
from clickguard.local.emulator import FAKE_CREDENTIALS, REGION

if TYPE_CHECKING:
    from clickguard.local.runtime import LocalRuntime


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="run the stack on the embedded AWS emulator (no AWS account needed)")
    p.add_argument("action", choices=["up", "down"], help="up: start it here and keep it running; down: stop it")
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
    p.add_argument("--workdir", default=None, help="where to keep the synthesized assembly")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "down":
        return down()
    if not 0 <= args.port < 65536:
        fail(f"--port {args.port}: must be 0..65535")
    if args.archive_every <= 0:
        fail(f"--archive-every {args.archive_every}: must be > 0")
    if args.duration < 0 or args.train_every < 0:
        fail(f"--for {args.duration:g} / --train-every {args.train_every:g}: must be >= 0 (0: never)")
    _refuse_a_running_stack()
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
        try:
            rt.start_polling()
            rt.write_state_file()
            _print_handles(rt)
            _serve(rt, args, stop, archive_now)
        except KeyboardInterrupt:
            pass
        eprint("stopping")


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
    print(f"state file {state_file.PATH} (other commands: --local; stop: clickguard local down)")
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


def _refuse_a_running_stack() -> None:
    """One stack per directory: a second one would take over the state file, and the first run on unfound."""
    try:
        current = state_file.read()
    except ValueError as exc:
        fail(f"{exc}: move it away first")
    if current is None:
        return
    why_not = state_file.liveness(current)
    if why_not is None:
        fail(
            f"a local stack already runs from this directory (process {current.get('pid', '?')}, endpoint "
            f"{current['endpoint_url']}): stop it with 'clickguard local down', or start another elsewhere"
        )
    eprint(f"replacing {state_file.PATH}, left by a stack that stopped without removing it ({why_not})")


def down(timeout_s: float = 60.0) -> int:
    """Stop the stack started from this directory (``SIGTERM``, as Ctrl-C would) and wait until it has."""
    try:
        current = state_file.read()
    except ValueError as exc:
        fail(str(exc))
    if current is None:
        fail(f"no local stack runs from this directory ({state_file.PATH} not found here)")
    why_not = state_file.liveness(current)
    pid = current.get("pid")
    if why_not is not None or not isinstance(pid, int):
        state_file.PATH.unlink(missing_ok=True)
        eprint(f"removed {state_file.PATH}: its stack was not running ({why_not or 'no process id'})")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while state_file.PATH.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if state_file.PATH.exists():
        fail(f"the stack (process {pid}) did not stop within {timeout_s:g} s")
    eprint(f"stopped the local stack (process {pid})")
    return 0
