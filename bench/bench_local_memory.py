"""Memory the local stack keeps per record put on its stream: moto as it comes (every record kept, every object it
made referenced from its registry) against the stack's emulator (``local.moto_patches``: only S3's objects
registered; records both local readers are done with dropped by ``LocalRuntime.archive``).

Each mode runs in a fresh process: the stack starts, a warm-up round goes through, then ``--rounds`` rounds of
``--per-round`` canonical records are put, delivered to the consumer (``drain``) and archived, and after each the
Python heap still allocated (``tracemalloc``, after a full collection) and the resident set are read. The figures
are the slopes per 1,000 records over the rounds after the warm-up. The kept period
(``settings.LOCAL_READ_RECORDS_KEPT_SECONDS``, 5 minutes) is set to 0 here, so that a minute shows what a run of
hours does once its records are older than that.

Run: ``python -m bench.bench_local_memory`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

MODES = ("moto as it comes", "clickguard's emulator")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _track_everything() -> None:
    """moto's own ``BaseModel.__new__``: every instance appended to its class's registry."""
    from moto.core.common_models import BaseModel

    def new(cls: type, *args: object, **kwargs: object) -> object:
        instance = object.__new__(cls)
        cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
        return instance

    BaseModel.__new__ = staticmethod(new)  # type: ignore[assignment,method-assign]


def _put_round(rt: object, n: int, round_no: int) -> None:
    kinesis, name = rt.client("kinesis"), rt.handles.stream_name  # type: ignore[attr-defined]
    now_ms = int(time.time() * 1000) - 60_000
    for lo in range(0, n, 500):
        records = [
            {
                "Data": json.dumps(
                    {"user_id": f"user-{i % 1000}", "event_type": ("view", "search", "cart")[i % 3],
                     "timestamp": now_ms + i, "session_id": f"s-{round_no}-{i % 1000}"}
                ).encode(),
                "PartitionKey": f"user-{i % 1000}",
            }
            for i in range(lo, min(n, lo + 500))
        ]  # fmt: skip
        kinesis.put_records(StreamName=name, Records=records)


def run_mode(mode: int, rounds: int, per_round: int) -> dict[str, float]:
    from clickguard import settings
    from clickguard.local.runtime import LocalRuntime

    with tempfile.TemporaryDirectory() as tmp, LocalRuntime(Path(tmp) / "stack") as rt:
        if mode == 0:
            _track_everything()
            settings.LOCAL_READ_RECORDS_KEPT_SECONDS = 10**9  # type: ignore[misc]
        else:
            settings.LOCAL_READ_RECORDS_KEPT_SECONDS = 0  # type: ignore[misc]
        tracemalloc.start()
        heap, rss, t0 = [], [], time.perf_counter()
        for r in range(rounds + 1):
            _put_round(rt, per_round, r)
            rt.drain()
            rt.archive()
            gc.collect()
            heap.append(tracemalloc.get_traced_memory()[0] / 2**20)
            rss.append(_rss_mb())
        x = np.arange(1, rounds + 1) * per_round / 1000
        return {
            "heap_mb_per_1k": float(np.polyfit(x, heap[1:], 1)[0]),
            "rss_mb_per_1k": float(np.polyfit(x, rss[1:], 1)[0]),
            "heap_end_mb": heap[-1],
            "rss_end_mb": rss[-1],
            "seconds": time.perf_counter() - t0,
        }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds of 1,000 records")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=3000)
    ap.add_argument("--mode", type=int, choices=(0, 1), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rounds < 2 or args.per_round < 1:
        ap.error("--rounds must be >= 2 and --per-round >= 1")
    rounds, per_round = (3, 1000) if args.quick else (args.rounds, args.per_round)
    if args.mode is not None:
        print(json.dumps(run_mode(args.mode, rounds, per_round)))
        return
    print(f"local stack, {rounds} rounds of {per_round:,} canonical records after a warm-up round, each mode in a "
          "fresh process; slopes per 1,000 records")  # fmt: skip
    out = []
    for mode in (0, 1):
        cmd = [sys.executable, "-m", "bench.bench_local_memory", "--mode", str(mode)]
        cmd += ["--rounds", str(rounds), "--per-round", str(per_round)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = out[-1]
        print(
            f"  {MODES[mode]:<22}: Python heap {r['heap_mb_per_1k']:6.3f} MB/1k records (ends at "
            f"{r['heap_end_mb']:6.1f} MB), resident {r['rss_mb_per_1k']:6.3f} MB/1k (ends at {r['rss_end_mb']:6.0f} "
            f"MB), {r['seconds']:.0f} s",
            flush=True,
        )
    ratio = out[0]["heap_mb_per_1k"] / max(out[1]["heap_mb_per_1k"], 1e-6)
    print(f"  heap kept per record: {ratio:.1f}x less with clickguard's emulator")


if __name__ == "__main__":
    main()
