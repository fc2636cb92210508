"""Synthetic event data for benchmarks: fast to generate, realistic in shape (Zipf-like token frequencies)."""

from __future__ import annotations

import numpy as np

TOKEN_NAMES = [f"event_{i}" for i in range(300)]


def token_arrays(n: int, n_states: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    states = np.minimum(rng.zipf(1.3, n + 1) - 1, n_states - 1).astype(np.int32)
    return states[:-1], states[1:]


def ndjson_lines(n: int, n_users: int, t0_ms: int, span_ms: int, seed: int = 0) -> list[bytes]:
    """Canonical events in time order: sessions of ~12 events 1-60 s apart, Zipf token types, 8% failures."""
    return timed_ndjson_lines(n, n_users, t0_ms, span_ms, seed)[0]


def timed_ndjson_lines(n: int, n_users: int, t0_ms: int, span_ms: int, seed: int = 0) -> tuple[list[bytes], np.ndarray]:
    """``ndjson_lines`` and each line's time (epoch ms), so that they can be filed by hour as Firehose files them."""
    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1 / 12, n)
    ends = np.cumsum(lengths)
    lengths = lengths[: int(np.searchsorted(ends, n)) + 1]
    lengths[-1] -= int(lengths.sum()) - n
    session_of = np.repeat(np.arange(len(lengths)), lengths)
    users = rng.integers(0, n_users, len(lengths))[session_of]
    starts = rng.integers(t0_ms, t0_ms + span_ms - 3_600_000, len(lengths))
    steps = rng.integers(1_000, 60_000, n)
    first = np.r_[0, np.cumsum(lengths)[:-1]]
    steps[first] = 0
    offsets = np.cumsum(steps) - np.repeat(np.cumsum(steps)[first], lengths)
    ts = starts[session_of] + offsets
    order = np.argsort(ts, kind="stable")
    toks = np.minimum(rng.zipf(1.4, n) - 1, len(TOKEN_NAMES) - 1)
    fail = rng.random(n) < 0.08
    out = []
    for i in order.tolist():
        secs, ms = divmod(int(ts[i]), 1000)
        k = int(toks[i])
        out.append(
            (
                f'{{"user_id": "user-{users[i]}", "event_type": "{TOKEN_NAMES[k]}", "timestamp": {secs}.{ms:03d}, '
                f'"outcome": "{"fail" if fail[i] else "success"}", "attributes": {{"page": "/item/{k}"}}}}'
            ).encode()
        )
    return out, ts[order]
