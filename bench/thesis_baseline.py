"""Per-event pure-Python training in the style of the thesis's training code (seed 000, annex IV).

A list-of-lists matrix initialised with pseudocounts, ``+= 1`` per consecutive pair of a user's events, rows
normalised with ``math.log``. It is the baseline the benchmarks compare against, not production code.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import pickle

PSEUDOCOUNT = 10


def count_pairs(prev: list[int], curr: list[int], n_states: int) -> list[list[int]]:
    matrix = [[PSEUDOCOUNT for _ in range(n_states)] for _ in range(n_states)]
    for a, b in zip(prev, curr, strict=True):
        matrix[a][b] += 1
    return matrix


def normalise(matrix: list[list[float]]) -> list[list[float]]:
    for row in matrix:
        s = float(sum(row))
        for j in range(len(row)):
            row[j] = math.log(row[j] / s)
    return matrix


def train_from_s3(s3, bucket: str, keys: list[str]) -> tuple[bytes, int]:
    """Read gzip NDJSON objects, key events by user, count transitions per user, normalise, pickle to S3."""
    ids: dict[str, int] = {}
    per_user: dict[str, list[tuple[float, int]]] = {}
    n = 0
    for key in keys:
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        for line in body.splitlines():
            try:
                ev = json.loads(line)
                event = ev["event_type"] + ("#fail" if ev.get("outcome") == "fail" else "")
                user = ev["user_id"]
                ts = float(ev["timestamp"])
            except (ValueError, KeyError):
                continue
            idx = ids.setdefault(event, len(ids))
            per_user.setdefault(user, []).append((ts, idx))
            n += 1
    size = len(ids)
    matrix = [[PSEUDOCOUNT for _ in range(size)] for _ in range(size)]
    for events in per_user.values():
        events.sort()
        for (_, a), (_, b) in itertools.pairwise(events):
            matrix[a][b] += 1
    blob = pickle.dumps({"mat": normalise(matrix), "ids": ids})
    s3.put_object(Bucket=bucket, Key="baseline/gib_model.pkl", Body=gzip.compress(blob))
    return blob, n
