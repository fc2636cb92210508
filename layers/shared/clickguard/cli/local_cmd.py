"""``clickguard local up``: the stack on the embedded emulator, kept running, with the managed parts played.

Prints the endpoint so the AWS CLI or boto3 can be pointed at it; other ``clickguard`` commands find it through
``--local`` (the state file ``.clickguard-local.json`` in the current directory).
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from datetime import UTC, datetime

from clickguard.cli.common import eprint, fail


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="run the stack on the embedded AWS emulator (no AWS account needed)")
    p.add_argument("action", choices=["up"])
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
        help="stop after this long (default: until Ctrl-C)",
    )
    p.add_argument("--workdir", default=None, help="where to keep the synthesized assembly")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clickguard.local.runtime import LocalRuntime

    if not 0 <= args.port < 65536:
        fail(f"--port {args.port}: must be 0..65535")
    if args.archive_every <= 0:
        fail(f"--archive-every {args.archive_every}: must be > 0")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    eprint("starting the embedded emulator and deploying the synthesized stack ...")
    with LocalRuntime(args.workdir, port=args.port) as rt:
        rt.start_polling()
        state = rt.write_state_file()
        h = rt.handles
        print(f"endpoint   {rt.emulator.endpoint_url}")
        print(f"stack      {rt.stack_name}")
        print(f"stream     {h.stream_name}")
        print(f"flag queue {h.flag_queue_url}")
        print(f"buckets    data={h.data_bucket} models={h.model_bucket}")
        print(f"table      {h.table_name}")
        print(f"score api  POST {rt.score_url} (the function URL's stand-in; see README: The score API)")
        print(f"state file {state} (other commands: --local)")
        print(
            "try: aws --endpoint-url "
            + rt.emulator.endpoint_url
            + f" kinesis put-record --stream-name {h.stream_name} --partition-key u1"
            ' --data \'{"user_id":"u1","event_type":"login","timestamp":"'
            + datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            + "\"}'  # the pinned awscli (v1); AWS CLI v2 also needs --cli-binary-format raw-in-base64-out",
            flush=True,
        )
        started = last_archive = last_train = time.monotonic()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if args.duration and now - started >= args.duration:
                    break
                if now - last_archive >= args.archive_every:
                    rt.archive()
                    last_archive = now
                if args.train_every and now - last_train >= args.train_every:
                    report = rt.run_training()
                    eprint(f"scheduled training: {report['status']} {report.get('version') or report['reason']}")
                    last_train = now
                stop.wait(0.5)
        except KeyboardInterrupt:
            pass
        eprint("stopping")
    return 0
