"""Shared by the consumer's unit and integration tests: a small model, records and in-memory fakes."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from clickguard.consumer.config import ConsumerConfig
from clickguard.consumer.flags import Flag
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.consumer.ports import ModelView, RejectedEntry, StoreError
from clickguard.consumer.state import UserState
from clickguard.model import detector
from clickguard.model.model import Model, ModelParams, Thresholds
from clickguard.model.scoring import ScoringTable
from clickguard.model.tails import fit_tails

TOKENS = ("START", "OTHER", "view_item", "search", "chat", "purchase", "login", "login#fail")
SHARD = "shardId-000000000000"
# A realistic Kinesis sequence number: 56 digits, far past DynamoDB's 38-digit Number.
SEQ0 = 49590338271490256608559692538361571095921575989136588898
T0 = 1_763_700_000_000


def make_detector(model: Model) -> dict:
    """Detector v2 fitted on ordinary traffic of ``event_stream`` (its kinds 0-2: browsing, some odd event types,
    no failed logins, no floods), cut just above the highest score any of those users reaches."""
    from clickguard.model.scoring import EventBatch

    ordinary = [e for e in event_stream(n_users=300, seed=99) if int(e["user_id"][1:]) % 5 < 3]
    tokens = [e["event_type"] for e in ordinary]
    batch = EventBatch(
        [e["user_id"] for e in ordinary], tokens, [int(e["timestamp"] * 1000) for e in ordinary], [None] * len(tokens)
    )
    tables = fit_tails(detector.sessions_of(model, batch).features, detector.DIRECTIONS)
    unthresholded = detector.Detector(tables, float("inf"), None, 0.0, len(ordinary))
    table = ScoringTable.from_model(model, detector.live(unthresholded, model))
    _, peaks = detector.peak_scores(table, model.params.gap_ms, batch)
    return replace(unthresholded, threshold=float(peaks.max()) + 0.5).as_dict()


def make_model(version: str = "v1", scale: float = 1.0, created_at: str = "2025-11-21T00:00:00Z") -> Model:
    """Ordinary transitions cost about 1.5 bits; anything into ``login#fail`` or ``OTHER`` costs 9. Detector v2
    judges sessions from 3 events on."""
    n = len(TOKENS)
    bits = np.full((n, n), 1.5, dtype=np.float32) * scale
    bits[:, 1] = 9.0 * scale
    bits[:, 7] = 9.0 * scale
    counts = np.ones((n, n), dtype=np.int64)
    model = Model(
        version=version,
        created_at=created_at,
        window_start="2025-11-14T00:00:00Z",
        window_end="2025-11-21T00:00:00Z",
        tokens=TOKENS,
        params=ModelParams(min_events=3),
        thresholds=Thresholds(
            mean_bits=4.0,
            total_bits=40.0,
            min_events=3,
            mean_bits_quantile=0.99,
            total_bits_quantile=0.995,
            eligible_sessions=100,
            flag_rate=0.02,
            mean_flag_rate=0.01,
            total_flag_rate=0.01,
        ),
        stats={"sessions": 100},
        counts=counts,
        surprisal=bits,
        start_distribution=np.full(n, 1 / n, dtype=np.float32),
    )
    return replace(model, detector=make_detector(model))


def behaviour(states: dict[str, UserState]) -> dict[str, UserState]:
    """States without their write counter (``version``), which counts writes and so depends on batch sizes."""
    return {u: s._replace(version=0) for u, s in states.items()}


def config(**kw) -> ConsumerConfig:
    base = dict(table_name="sessions", flag_queue_url="https://q", data_bucket="b", model_bucket="b")
    base.update(kw)
    return ConsumerConfig(**base)


def event_stream(n_users: int = 30, per_user: int = 12, seed: int = 1, event_ids: bool = False) -> list[dict]:
    """Interleaved users; some fail logins repeatedly (mean-bits flags), some flood (total-bits flags)."""
    rng = random.Random(seed)
    out = []
    for u in range(n_users):
        t = T0 + rng.randint(0, 60_000)
        kind = u % 5
        n = per_user * 3 if kind == 4 else per_user
        for k in range(n):
            t += rng.choice([1_000, 4_000, 20_000])
            if kind == 3 and k % 2:
                etype, outcome = "login", "fail"
            else:
                etype, outcome = rng.choice(["view_item", "search", "chat", "purchase", "weird_type"]), "success"
            if kind != 3 and rng.random() < 0.03:
                t += 40 * 60_000  # an inactivity gap: a new session
            ev = {"user_id": f"u{u}", "event_type": etype, "outcome": outcome, "timestamp": t / 1000}
            if event_ids:
                ev["event_id"] = f"e{u}-{k}"
            out.append(ev)
    out.sort(key=lambda e: (e["timestamp"], e["user_id"]))
    return out


def to_records(payloads: Sequence[dict | bytes], shard: str = SHARD, seq0: int = SEQ0) -> list[KinesisRecord]:
    recs = []
    for i, p in enumerate(payloads):
        data = p if isinstance(p, bytes) else json.dumps(p).encode()
        pk = p.get("user_id", "x") if isinstance(p, dict) else "x"
        seq = seq0 + 1000 * (i + 1)
        arrival = int(p["timestamp"] * 1000) + 500 if isinstance(p, dict) and "timestamp" in p else T0
        recs.append(KinesisRecord(shard, seq, str(seq), str(pk), data, arrival))
    return recs


@dataclass
class FakeSessions:
    items: dict[str, UserState] = field(default_factory=dict)
    fail_get: set[str] = field(default_factory=set)
    fail_put: set[str] = field(default_factory=set)
    get_calls: int = 0
    put_calls: int = 0

    def get_many(self, user_keys):
        self.get_calls += 1
        failed = {u for u in user_keys if u in self.fail_get}
        return {u: self.items[u] for u in user_keys if u in self.items and u not in failed}, failed

    def put_many(self, states):
        self.put_calls += 1
        failed = set()
        for s in states:
            if s.user_key in self.fail_put:
                failed.add(s.user_key)
            else:
                self.items[s.user_key] = s
        return failed


@dataclass
class FakeFlags:
    sent: list[Flag] = field(default_factory=list)
    fail_users: set[str] = field(default_factory=set)

    def send(self, flags):
        failed = set()
        for f in flags:
            if f.user_key in self.fail_users:
                failed.add(f.flag_id)
            else:
                self.sent.append(f)
        return failed


@dataclass
class FakeRejected:
    stored: list[RejectedEntry] = field(default_factory=list)
    fail: bool = False

    def put(self, entries):
        if self.fail:
            raise StoreError("sink down")
        self.stored.extend(entries)


@dataclass
class FakeModel:
    model: Model | None = None

    def current(self):
        if self.model is None:
            return ModelView(ScoringTable.unscored(), None, None)
        return ModelView(detector.scoring_table(self.model), self.model, 60.0)


@dataclass
class FakeGroupCounter:
    """``store.groups`` in memory: a set per bucket that stops growing at the update's cap, the alerted mark."""

    members: dict = field(default_factory=dict)  # Bucket -> set of digests
    alerted: set = field(default_factory=set)
    samples: dict = field(default_factory=dict)
    fail_signatures: set = field(default_factory=set)  # updates of these buckets fail (past retries)
    fail_marks: bool = False
    calls: int = 0

    def add(self, updates):
        from clickguard.consumer.buckets import GroupCount

        out = {}
        for u in updates:
            self.calls += 1
            if u.bucket.signature in self.fail_signatures:
                continue
            held = self.members.setdefault(u.bucket, set())
            sample = self.samples.setdefault(u.bucket, u.sample)
            if len(held) >= u.cap:
                out[u.bucket] = GroupCount(u.cap, u.bucket in self.alerted, sample)
                continue
            held |= set(u.digests)
            out[u.bucket] = GroupCount(len(held), u.bucket in self.alerted, sample)
        return out

    def mark_alerted(self, buckets):
        self.calls += len(buckets)
        if self.fail_marks:
            return set(buckets)
        self.alerted |= set(buckets)
        return set()


class Flaky:
    """A DynamoDB client that leaves each call's last key / item unprocessed (until it is the only one left), as a
    throttled table does: what the stores' retry of unprocessed keys and items must absorb."""

    def __init__(self, client) -> None:
        self.client = client

    def batch_get_item(self, RequestItems):
        ((table, req),) = RequestItems.items()
        keys = req["Keys"]
        resp = self.client.batch_get_item(RequestItems={table: {**req, "Keys": keys[:-1] or keys}})
        if len(keys) > 1:
            resp["UnprocessedKeys"] = {table: {**req, "Keys": keys[-1:]}}
        return resp

    def batch_write_item(self, RequestItems):
        ((table, reqs),) = RequestItems.items()
        resp = self.client.batch_write_item(RequestItems={table: reqs[:-1] or reqs})
        if len(reqs) > 1:
            resp["UnprocessedItems"] = {table: reqs[-1:]}
        return resp
