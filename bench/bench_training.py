"""Training benchmarks: transition counting and archive-to-published-model throughput (issue 2), and training past
one machine's single pass (issue 13): the single-pass trainer against the distributed one on every core, and a daily
incremental run that adds one day to six cached ones.

The counting and end-to-end figures are printed beside the thesis-style pure-Python baseline run in the same process
on the same data, with the ratio. The distributed figures come from one window of ``--events`` events (default 20
million) in hourly gzip NDJSON objects in a local directory laid out as the archive (``local.dir_archive``); each
mode runs in a fresh process (its peak resident memory is that process's, and for the pool its largest worker's), and
the two full runs must publish the same model version (the version is a digest of all the model holds).

Run: ``python -m bench.bench_training`` (``--quick`` for a smoke run, ``--events N`` for another window size).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench import thesis_baseline
from bench.data import ndjson_lines, timed_ndjson_lines, token_arrays
from clickguard.model.model import ModelParams
from clickguard.model.transitions import count_transitions

WINDOW_DAYS = 7
NOW = datetime(2025, 11, 27, tzinfo=UTC)  # the first window ends here; the incremental run's a day later
EVENTS_PER_USER = 30  # per window, as the end-to-end benchmark's population


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_counting(n: int, n_states: int) -> dict[str, float]:
    prev, curr = token_arrays(n, n_states)
    fast = best_of(lambda: count_transitions(prev, curr, n_states), 5)
    prev_l, curr_l = prev.tolist(), curr.tolist()
    slow = best_of(lambda: thesis_baseline.count_pairs(prev_l, curr_l, n_states), 1)
    return {"transitions": n, "numpy_per_s": n / fast, "python_per_s": n / slow, "ratio": slow / fast}


def bench_end_to_end(n: int, n_users: int) -> dict[str, float]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3
    from moto import mock_aws

    from clickguard.store.trainer import s3_trainer_ports
    from clickguard.training.job import TrainingConfig, run_training

    start = NOW - timedelta(days=7)
    lines = ndjson_lines(n, n_users, int(start.timestamp() * 1000), 7 * 86_400_000)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        keys = []
        per_object = -(-len(lines) // (7 * 24))  # ceil: every object lands inside the window
        for i in range(0, len(lines), per_object):
            hour = start + timedelta(hours=i // per_object)
            key = f"events/{hour:%Y/%m/%d/%H}/archive-{i}.gz"
            s3.put_object(Bucket="bench", Key=key, Body=gzip.compress(b"\n".join(lines[i : i + per_object]) + b"\n"))
            keys.append(key)
        config = TrainingConfig(data_bucket="bench", model_bucket="bench", min_sessions=1, params=ModelParams())
        report = None

        def ours() -> None:
            nonlocal report
            report = run_training(s3_trainer_ports(s3, config), config, NOW)

        fast = best_of(ours, 2)
        slow = best_of(lambda: thesis_baseline.train_from_s3(s3, "bench", sorted(keys)), 1)
    assert report is not None and report.status == "published" and report.events == n, report
    return {
        "events": n,
        "objects": len(keys),
        "ours_per_s": n / fast,
        "baseline_per_s": n / slow,
        "ratio": slow / fast,
        "ours_s": fast,
        "baseline_s": slow,
    }


# --- the distributed trainer (issue 13) ------------------------------------------------------------------------------
def write_archive(root: Path, events_per_window: int) -> int:
    """``WINDOW_DAYS + 1`` days of events ending a day after ``NOW``, one gzip object per day and hour folder (filed
    by the events' own time, as Firehose files by arrival); users recur across days. Kept between runs."""
    marker = root / f".complete-{events_per_window}"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    per_day = events_per_window // WINDOW_DAYS
    n_users = max(1000, events_per_window // EVENTS_PER_USER)
    first = NOW - timedelta(days=WINDOW_DAYS)
    total = 0
    for day in range(WINDOW_DAYS + 1):
        t0 = int((first + timedelta(days=day)).timestamp() * 1000)
        lines, ts = timed_ndjson_lines(per_day, n_users, t0, 86_400_000, seed=day)
        hours = (ts // 3_600_000) * 3_600_000
        bounds = np.flatnonzero(np.diff(hours)) + 1
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(lines)], strict=True):
            hour = datetime.fromtimestamp(int(hours[lo]) / 1000, UTC)
            folder = root / "events" / f"{hour:%Y/%m/%d/%H}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"day{day}.gz").write_bytes(gzip.compress(b"\n".join(lines[lo:hi]) + b"\n", compresslevel=6))
        total += len(lines)
        del lines, ts
    marker.write_text(str(total))
    return total


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def run_mode(mode: str, archive_dir: Path, now: datetime, shards: int, workers: int) -> dict[str, float | str]:
    """One run in this process: ``single`` (the single-pass trainer) or ``distributed`` (the pool on ``workers``
    processes, partials cached under the archive directory)."""
    from clickguard.local.dir_archive import DirArchive
    from clickguard.local.training_pool import PoolExecutor
    from clickguard.store.blobs import LocalDirStore
    from clickguard.training.distributed import DistributedConfig, DistributedPorts, Partials, run_distributed
    from clickguard.training.job import TrainingConfig, run_training
    from clickguard.training.ports import TrainerPorts

    class NoLabels:
        def blocked_users(self) -> set[str]:
            return set()

    archive = DirArchive(archive_dir)
    models = LocalDirStore(archive_dir / f"models-{mode}-{now:%Y%m%d}")
    config = TrainingConfig(data_bucket="-", model_bucket="-", min_sessions=1, params=ModelParams())
    t0 = time.perf_counter()
    if mode == "single":
        try:
            report = run_training(TrainerPorts(archive, NoLabels(), models), config, now)
        except MemoryError:  # past the address-space cap (``--single-memory-gb``): a figure, not a crash
            return {"mode": mode, "error": "MemoryError", "seconds": time.perf_counter() - t0}
    else:
        dconfig = DistributedConfig(config, shards=shards)
        partials = LocalDirStore(archive_dir / "partials")
        executor = PoolExecutor(archive, Partials(partials, dconfig.layout), workers)
        ports = DistributedPorts(archive, partials, NoLabels(), models)
        report = run_distributed(ports, dconfig, now, executor)
    seconds = time.perf_counter() - t0
    assert report.status == "published", report.reason
    return {
        "mode": mode,
        "events": report.events,
        "seconds": seconds,
        "events_per_s": report.events / seconds,
        "version": str(report.version),
        "parent_peak_mb": _peak_mb(resource.RUSAGE_SELF),
        "worker_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN),
        "detail": json.dumps({**report.seconds, **(report.distributed or {})}),
    }


def _capped(gb: float) -> None:
    """Cap this process's address space, so that a single pass too large for the machine (shared with others)
    fails with a MemoryError instead of pushing the machine into swapping or its out-of-memory killer."""
    limit = int(gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _in_fresh_process(mode: str, archive_dir: Path, now: datetime, shards: int, workers: int, cap_gb: float) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_training", "--run", mode, "--archive", str(archive_dir)]
    cmd += ["--now", now.isoformat(), "--shards", str(shards), "--workers", str(workers)]
    cmd += ["--single-memory-gb", str(cap_gb)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_distributed(
    events: int, archive_dir: Path, shards: int, workers: int, single: bool, cap_gb: float
) -> list[dict]:
    t0 = time.perf_counter()
    write_archive(archive_dir, events)
    print(f"  archive of {WINDOW_DAYS + 1} days written or reused ({time.perf_counter() - t0:.0f} s)", flush=True)
    shutil.rmtree(archive_dir / "partials", ignore_errors=True)
    for models in archive_dir.glob("models-*"):  # an earlier run's model: a second one of its window is refused
        shutil.rmtree(models)
    runs = []
    if single:
        runs.append(_in_fresh_process("single", archive_dir, NOW, shards, workers, cap_gb))
        print(f"  single pass done: {runs[-1]['seconds']:.0f} s", flush=True)
    runs.append(_in_fresh_process("distributed", archive_dir, NOW, shards, workers, cap_gb))
    print(f"  distributed done: {runs[-1]['seconds']:.0f} s", flush=True)
    runs.append(_in_fresh_process("distributed", archive_dir, NOW + timedelta(days=1), shards, workers, cap_gb))
    runs[-1]["mode"] = "incremental"
    if single and "version" in runs[0]:
        assert runs[0]["version"] == runs[1]["version"], "the distributed run published another model"
    return runs


def pass_costs(archive_dir: Path, shards: int) -> dict[str, float]:
    """One core, one process: CPU microseconds per event of the map, of loading and preparing the shards, of each
    pass (summed over its shards) and of the reduce's decisions; and the partials' bytes per event. What the README
    scales to a week on Lambda."""
    from clickguard.local.dir_archive import DirArchive
    from clickguard.store.blobs import LocalDirStore
    from clickguard.training import mapreduce
    from clickguard.training.distributed import DistributedConfig, InlineExecutor, Partials, plan, run_spec
    from clickguard.training.job import TrainingConfig

    archive = DirArchive(archive_dir)
    config = DistributedConfig(TrainingConfig("-", "-", min_sessions=1, params=ModelParams()), shards=shards)
    shutil.rmtree(archive_dir / "partials-costs", ignore_errors=True)
    store = LocalDirStore(archive_dir / "partials-costs")
    partials = Partials(store, config.layout)
    window = plan(archive, partials, WINDOW_DAYS, NOW)
    executor = InlineExecutor(archive, partials)
    cpu: dict[str, float] = {}
    t = time.process_time()
    executor.map_partitions(window.todo)
    cpu["map"] = time.process_time() - t
    summaries = [s for s in (partials.summary(p) for p in window.partitions) if s is not None]
    events = sum(s.events for s in summaries)
    state = mapreduce.RunState(run_spec(config, window, set()))
    t = time.process_time()
    executor.open(state.spec, summaries)
    cpu["load and prepare"] = time.process_time() - t
    request: dict | None = mapreduce.first_request(state)
    first = True
    while request is not None:
        name = request["pass"]
        t = time.process_time()
        results = executor.run_pass(request)
        cpu[f"pass {name}"] = cpu.get(f"pass {name}", 0.0) + time.process_time() - t
        t = time.process_time()
        request = mapreduce.advance(state, results, summaries if first else ())
        cpu["reduce"] = cpu.get("reduce", 0.0) + time.process_time() - t
        first = False
    partial_bytes = sum(p.stat().st_size for p in (archive_dir / "partials-costs").rglob("*.bin"))
    out = {name: seconds / events * 1e6 for name, seconds in cpu.items()}
    return {**out, "events": events, "partial_bytes_per_event": partial_bytes / events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--events", type=int, default=None, help="events per 7-day window (default 20 million)")
    parser.add_argument("--archive", type=Path, default=None, help="where the generated archive is kept")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-single", action="store_true", help="skip the single-pass run")
    parser.add_argument(
        "--single-memory-gb", type=float, default=14.0, help="address-space cap of the single-pass run (GiB)"
    )
    parser.add_argument("--only-distributed", action="store_true", help="skip the counting and moto benchmarks")
    parser.add_argument("--pass-costs", action="store_true", help="CPU per event of each step, on one core")
    parser.add_argument("--run", choices=["single", "distributed"], help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:  # one mode, in a fresh process, for its own peak memory
        if args.run == "single":
            _capped(args.single_memory_gb)
        now = datetime.fromisoformat(args.now)
        print(json.dumps(run_mode(args.run, args.archive, now, args.shards, args.workers)))
        return
    events = args.events or (300_000 if args.quick else 20_000_000)
    archive_dir = args.archive or Path(os.environ.get("TMPDIR", "/tmp")) / f"clickguard-bench-archive-{events}"
    if args.pass_costs:
        write_archive(archive_dir, events)
        for name, value in pass_costs(archive_dir, args.shards).items():
            print(f"  {name:<24}: {value:10.3f}")
        return
    if not args.only_distributed:
        n_count, n_e2e = (200_000, 20_000) if args.quick else (5_000_000, 300_000)
        c = bench_counting(n_count, 512)
        print(f"transition counting, {c['transitions']:,} transitions, 512 states, one core")
        print(f"  numpy bincount      : {c['numpy_per_s'] / 1e6:8.1f} M transitions/s   (target >= 50 M/s)")
        print(f"  thesis Python loop  : {c['python_per_s'] / 1e6:8.1f} M transitions/s")
        print(f"  ratio               : {c['ratio']:8.1f} x")
        e = bench_end_to_end(n_e2e, max(1000, n_e2e // 30))
        print(f"archive -> published model, {e['events']:,} events in {e['objects']} gzip objects (moto S3)")
        print(f"  clickguard trainer  : {e['ours_per_s']:10,.0f} events/s  ({e['ours_s']:.2f} s; target >= 100,000/s)")
        print(f"  thesis-style loop   : {e['baseline_per_s']:10,.0f} events/s  ({e['baseline_s']:.2f} s)")
        print(f"  ratio               : {e['ratio']:8.1f} x")
    print(
        f"a {WINDOW_DAYS}-day window of {events:,} events in hourly gzip objects on local disk, {args.workers} "
        f"workers, {args.shards} user shards",
        flush=True,
    )
    runs = bench_distributed(events, archive_dir, args.shards, args.workers, not args.no_single, args.single_memory_gb)
    for r in runs:
        if "error" in r:
            print(f"  {r['mode']:<12}: {r['error']} past {args.single_memory_gb:g} GiB after {r['seconds']:.0f} s")
            continue
        print(
            f"  {r['mode']:<12}: {r['events_per_s']:10,.0f} events/s  ({r['seconds']:7.1f} s; peak memory "
            f"{r['parent_peak_mb']:,.0f} MB, largest worker {r['worker_peak_mb']:,.0f} MB) {r['detail']}"
        )


if __name__ == "__main__":
    main()
