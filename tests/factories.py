"""Small deterministic event generators for tests (the realistic simulator lives in clickguard.sim)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clickguard.training.dataset import EventColumns

TYPES = ["view_item", "search", "view_item", "view_item", "chat", "add_favourite", "login", "purchase"]


def ordinary_events(n_users: int, seed: int = 0, t0_ms: int = 1_763_700_000_000, max_events: int = 20) -> list[dict]:
    """Users browsing with a few sessions each; times in order per user."""
    rng = random.Random(seed)
    events = []
    for u in range(n_users):
        t = t0_ms + rng.randint(0, 3_600_000)
        for _ in range(rng.randint(3, max_events)):
            t += rng.choice([2_000, 5_000, 30_000, 90_000, 3 * 3_600_000])
            events.append(
                {
                    "user_id": f"user-{u}",
                    "event_type": rng.choice(TYPES),
                    "timestamp": t / 1000,
                    "outcome": "fail" if rng.random() < 0.05 else "success",
                }
            )
    events.sort(key=lambda e: e["timestamp"])
    return events


def ndjson(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def file_results(body: bytes, name: str) -> list[object]:
    """Each event of an event file's ``body`` (read as ``files.event_lines`` reads a file called ``name``) through
    the consumer's decoder: its ``Event``, or its rejection's reason."""
    import io

    from clickguard.decoding import Decoder
    from clickguard.files import event_lines
    from clickguard.rejections import RejectedRecord

    out: list[object] = []
    for line in event_lines(io.BytesIO(body), name):
        [item] = Decoder().items(line)
        out.append(item.result.reason if isinstance(item.result, RejectedRecord) else item.result)
    return out


def file_columns(path: Path, text: str) -> EventColumns:
    """``text`` written to ``path`` and read as the trainer reads an event file."""
    from clickguard.files import event_lines
    from clickguard.training.dataset import EventColumns

    path.write_text(text)
    cols = EventColumns()
    with path.open("rb") as fh:
        cols.add_lines(event_lines(fh, path))
    return cols
