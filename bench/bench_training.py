"""Training benchmarks (issue 2): transition counting and archive-to-published-model throughput.

Each figure is printed beside the thesis-style pure-Python baseline run in the same process on the same data,
with the ratio. Run: ``python -m bench.bench_training`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from datetime import UTC, datetime, timedelta

from bench import thesis_baseline
from bench.data import ndjson_lines, token_arrays
from clickguard.model.model import ModelParams
from clickguard.model.transitions import count_transitions


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

    now = datetime(2025, 11, 27, tzinfo=UTC)
    start = now - timedelta(days=7)
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
            report = run_training(s3_trainer_ports(s3, config), config, now)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
