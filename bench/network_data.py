"""Synthetic logs shaped like seed 003's challenge data (issue 12), for the network benchmark and tests.

A social graph grows by random befriends (a few unfriends of existing edges), users buy amounts around 50 with a
rare outlier far above, timestamps advance a second every few events and now and then one arrives a few seconds
late (the order rule must still hold). ``events`` gives the step's input; ``challenge_lines`` the same events as
the challenge's JSON lines (the batch file with its parameters line first).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from clickguard.network.step import Kind, NetworkEvent

T0_MS = int(datetime(2017, 6, 13, 11, 33, 1, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class LogShape:
    users: int = 10_000
    events: int = 100_000
    befriend_share: float = 0.25
    unfriend_share: float = 0.03
    outlier_share: float = 0.002  # purchases far above everyone's usual amounts
    late_share: float = 0.01  # events whose timestamp is a few seconds behind the log's clock
    events_per_second: int = 20
    seed: int = 1
    shard: str = "file"


def events(shape: LogShape, first_seq: int = 1, t0_ms: int = T0_MS) -> list[NetworkEvent]:
    rng = random.Random(shape.seed)
    edges: list[tuple[str, str]] = []
    out: list[NetworkEvent] = []
    for i in range(shape.events):
        seq = first_seq + i
        ts = t0_ms + (i // shape.events_per_second) * 1000
        if rng.random() < shape.late_share:
            ts -= rng.randint(1, 5) * 1000
        r = rng.random()
        if r < shape.unfriend_share and edges:
            a, b = edges.pop(rng.randrange(len(edges)))
            out.append(NetworkEvent(a, Kind.UNFRIEND, ts, shape.shard, seq, friend_key=b))
        elif r < shape.unfriend_share + shape.befriend_share:
            a, b = (str(rng.randrange(shape.users)) for _ in range(2))
            edges.append((a, b))
            out.append(NetworkEvent(a, Kind.BEFRIEND, ts, shape.shard, seq, friend_key=b))
        else:
            cents = int(rng.lognormvariate(8.2, 0.6))  # median about 36.00
            if rng.random() < shape.outlier_share:
                cents *= rng.randint(20, 100)
            out.append(NetworkEvent(str(rng.randrange(shape.users)), Kind.PURCHASE, ts, shape.shard, seq, cents=cents))
    return out


def _stamp(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def challenge_line(ev: NetworkEvent) -> str:
    """One event in the challenge's own spelling (its key order and spacing)."""
    head = f'{{"event_type":"{ev.kind.value}", "timestamp":"{_stamp(ev.ts_ms)}", '
    if ev.kind is Kind.PURCHASE:
        cents = ev.cents or 0
        return head + f'"id": {json.dumps(ev.user_key)}, "amount": "{cents // 100}.{cents % 100:02d}"}}'
    return head + f'"id1": {json.dumps(ev.user_key)}, "id2": {json.dumps(ev.friend_key)}}}'


def challenge_events(batch: LogShape, stream: LogShape) -> tuple[list[NetworkEvent], list[NetworkEvent]]:
    """The two logs' events at the positions the file mode gives them (line numbers: the parameters line is the
    batch file's first); the stream continues the batch's clock."""
    first = events(batch, first_seq=2)
    later_t0 = T0_MS + (batch.events // batch.events_per_second) * 1000
    return first, events(stream, first_seq=batch.events + 2, t0_ms=later_t0)


def challenge_files(degree: int, window: int, batch: LogShape, stream: LogShape) -> tuple[str, str]:
    """(batch_log.json, stream_log.json) texts of ``challenge_events``."""
    first, later = challenge_events(batch, stream)
    head = json.dumps({"D": str(degree), "T": str(window)}, separators=(",", ":"))
    batch_text = "\n".join([head, *(challenge_line(e) for e in first)]) + "\n"
    return batch_text, "\n".join(challenge_line(e) for e in later) + "\n"
