"""Writing a simulated day: canonical NDJSON events, and the ground truth in a separate CSV beside them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from clickguard.sim.generator import SimDay

LABEL_COLUMNS = ("user_id", "user_type")


def iso_timestamps(ts_ms: np.ndarray) -> list[str]:
    """Epoch ms -> ``2019-01-02T00:01:16.123Z``, vectorised (a strftime per event would dominate the run)."""
    text = np.datetime_as_string(np.asarray(ts_ms, dtype="datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def ndjson_lines(day: SimDay) -> Iterator[str]:
    types, outcomes = day.event_types_outcomes()
    dumps = json.dumps
    for u, e, t, o, s, i in zip(
        day.user_ids.tolist(),
        types,
        iso_timestamps(day.ts_ms),
        outcomes,
        day.session_ids.tolist(),
        day.event_ids.tolist(),
        strict=True,
    ):
        yield dumps({"user_id": u, "event_type": e, "timestamp": t, "outcome": o, "session_id": s, "event_id": i})


def day_paths(out_dir: Path, day: int) -> tuple[Path, Path]:
    return out_dir / f"day-{day:02d}.events.ndjson", out_dir / f"day-{day:02d}.labels.csv"


def write_day(day: SimDay, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    events, labels = day_paths(out_dir, day.day)
    with events.open("w", encoding="utf-8") as fh:
        for line in ndjson_lines(day):
            fh.write(line + "\n")
    write_labels(day.labels, labels)
    return events, labels


def write_labels(labels: dict[str, str], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LABEL_COLUMNS)
        w.writerows(sorted(labels.items()))


def read_labels(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh)
        if rows.fieldnames is None or not set(LABEL_COLUMNS) <= set(rows.fieldnames):
            raise ValueError(f"{path}: expected a CSV header with {', '.join(LABEL_COLUMNS)}")
        return {r["user_id"]: r["user_type"] for r in rows}
