"""Hostile Kinesis payloads for the handler-level fuzz test: valid events, then each mangled in one way."""

from __future__ import annotations

import json
import random

from tests.consumer_support import event_stream

HOSTILE_VALUES: list[str] = [
    "{}",
    "[]",
    "NaN",
    "Infinity",
    "-Infinity",
    "-1e309",
    "1e400",
    '"\\ud800"',
    '"a\\udfffb"',
    "9" * 5000,
    "null",
    "true",
    "false",
    "0",
    "-1",
    '""',
    '" "',
    '"' + "x" * 300 + '"',
    "[" * 3000 + "]" * 3000,
    '{"a":' * 2000 + "1" + "}" * 2000,
    '"2019-13-45T99:99:99Z"',
    '"\\u0000"',
    "1.5e-400",
    '"\\ud83d\\ude00"',
]
FIELDS = ["user_id", "event_type", "outcome", "timestamp", "session_id", "event_id"]


def _with_field(event: dict, field: str, raw: str) -> bytes:
    body = {k: v for k, v in event.items() if k != field}
    text = json.dumps(body)
    return (text[:-1] + (", " if body else "") + f'"{field}": {raw}' + "}").encode()


def _envelope(event: dict, rng: random.Random) -> bytes:
    raw = rng.choice(HOSTILE_VALUES)
    where = rng.choice(["user", "event_type", "created", "sid"])
    session = f'{{"user_id": {raw if where == "user" else json.dumps(event["user_id"])}, "session_id": '
    session += f"{raw if where == 'sid' else json.dumps('s1')}}}"
    ev = f'{{"event_type": {raw if where == "event_type" else json.dumps(event["event_type"])}, '
    ev += f'"event_created": {raw if where == "created" else json.dumps(event["timestamp"])}}}'
    text = f'{{"timestamp": "2025-11-21T00:00:00Z", "data": {{"session": {session}, "event": {ev}, '
    text += '"device": {"imei": "356938035643809", "access_token_id": "tok"}, "request": {"user_ip": "10.1.2.3"}}}'
    return text.encode()


def _mangle(event: dict, rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    text = json.dumps(event).encode()
    if kind == 0:
        return _with_field(event, rng.choice(FIELDS), rng.choice(HOSTILE_VALUES))
    if kind == 1:
        return text[: rng.randrange(len(text))]
    if kind == 2:
        pos = rng.randrange(len(text))
        return text[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))) + text[pos + 1 :]
    if kind == 3:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    if kind == 4:  # duplicate keys: the last one wins in JSON decoders
        field = rng.choice(FIELDS)
        return text[:-1] + f', "{field}": {rng.choice(HOSTILE_VALUES)}}}'.encode()
    if kind == 5:
        return _envelope(event, rng)
    return rng.choice(HOSTILE_VALUES).encode()


def fuzz_payloads(n: int, seed: int, hostile_share: float = 0.5) -> list[bytes]:
    """``n`` payloads in stream order: about ``hostile_share`` of them mangled, the rest valid events."""
    rng = random.Random(seed)
    base = event_stream(n_users=max(4, n // 40), per_user=max(2, n // 200), seed=seed)
    out: list[bytes] = []
    for i in range(n):
        event = base[i % len(base)]
        out.append(_mangle(event, rng) if rng.random() < hostile_share else json.dumps(event).encode())
    return out
