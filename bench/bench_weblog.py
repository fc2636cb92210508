"""Detection quality on a second simulator that shares nothing with ``clickguard.sim`` (``bench.weblog_sim``):
web-server traffic where 5-25% of the clients are automated (crawlers, feed pollers, scrapers, credential
stuffers, headless browsers that follow the site's links). Nothing in the detector was tuned to it; it is here to
show how the product does on traffic of another shape, including where it misses.

Per seed: a randomized site and population (``WebConfig.draw``), day 1 trains, day 2 is scored. Label regimes as in
``bench.bench_quality``: no labels, half and all of day 1's automated clients on the block list. Methods, run side by
side in this process:

* ``v2``: the product: ``pipeline.train`` on day 1 (the trainer's own maths) and ``consumer.offline.score_users`` on
  day 2 (what ``clickguard score`` writes: each client's peak score and flag);
* ``v2 paths as logged``: the same, each URL read only without its query string (the product's rule before
  ``pages.page_of`` grouped a path's identifiers), to show what reading a page as its template is worth.

Every method reads the URLs as the product does (``events.token_of``: the page, its identifiers as ``*``).
* ``iforest`` (seed 002): IsolationForest on clicks per minute and pages per session;
* ``rforest`` (seed 004): a random forest on per-client counts per page template, learnt from the block list.

Printed per seed: AP over day 2's clients (unscored clients rank last), precision / recall at the operating
point, clients flagged; for v2 also the AP of each automated kind against the humans, and how many humans and bots
had a session long enough to be scored.

Run: ``python -m bench.bench_weblog`` (``--seeds``, ``--first-seed``, ``--clients``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

import numpy as np

from bench.weblog_sim import FAIL, HUMAN, KINDS, WebConfig, WebDay, simulate
from clickguard.consumer.offline import score_users
from clickguard.events import token_of
from clickguard.model.model import ModelParams
from clickguard.model.sessions import session_starts
from clickguard.rejections import RejectedRecord
from clickguard.sim.quality import average_precision, sample_block_list
from clickguard.timestamps import format_ms
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train

REGIMES = {"none": 0.0, "half": 0.5, "full": 1.0}
FOREST_SEED = 0


@dataclass(frozen=True)
class Day:
    """A simulated day as a detector reads it: each request a token."""

    users: list[str]
    tokens: list[str]
    ts_ms: list[int]
    labels: dict[str, str]


def read(day: WebDay, page: Callable[[str], str] | None = None) -> Day:
    """The day's requests as events: by default as the product reads them (``token_of``: the page, a refused
    request failed, a static file no event); with ``page``, each URL through it instead, every request kept."""
    users, tokens, ts_ms = [], [], []
    for user, request, ts in zip(day.users, day.requests, day.ts_ms, strict=True):
        url, failed = (request[: -len(FAIL)], "fail") if request.endswith(FAIL) else (request, None)
        try:
            tokens.append(token_of(url, failed) if page is None else page(url) + (FAIL if failed else ""))
        except RejectedRecord:
            continue
        users.append(user)
        ts_ms.append(ts)
    return Day(users, tokens, ts_ms, day.labels)


def as_logged(url: str) -> str:
    """The URL without its query string only (the product's rule before ``pages.page_of``)."""
    return url.split("?", 1)[0]


@dataclass(frozen=True)
class Scored:
    scores: dict[str, float]  # client -> score, higher = more anomalous (-inf: not scored)
    flagged: set[str]


Method = Callable[[Day, Day, Collection[str]], Scored | None]


def columns(day: Day) -> EventColumns:
    n = len(day.users)
    return EventColumns(list(day.users), list(day.tokens), list(day.ts_ms), [None] * n, [None] * n, lines=n)


def v2(train_day: Day, test_day: Day, block: Collection[str]) -> Scored:
    cols = columns(train_day)
    start, end = format_ms(min(cols.ts_ms)), format_ms(max(cols.ts_ms) + 1)
    params = ModelParams()
    model, _ = train(
        cols, params, window_start=start, window_end=end, created_at=end, min_sessions=50, exclude_users=block
    )
    users = score_users(model, columns(test_day))
    return Scored({u.user_key: u.score for u in users}, {u.user_key for u in users if u.flagged})


@dataclass(frozen=True)
class PerClient:
    names: list[str]
    owner: np.ndarray  # client code per event, grouped by client in time order
    tokens: list[str]
    starts: np.ndarray  # bool: the event opens a session (the product's rule, 30-minute gap)
    ts_ms: np.ndarray


def per_client(day: Day) -> PerClient:
    names, code = np.unique(np.asarray(day.users, dtype=object).astype(str), return_inverse=True)
    ts = np.asarray(day.ts_ms, dtype=np.int64)
    order = np.lexsort((ts, code))
    gap = ModelParams().gap_ms
    starts = session_starts(code[order], ts[order], np.full(len(order), -1), gap)
    return PerClient(names.tolist(), code[order], [day.tokens[i] for i in order.tolist()], starts, ts[order])


def rate_features(pc: PerClient) -> np.ndarray:
    """Seed 002's features: events per session minute (each session at least a minute) and events per session."""
    seg = np.cumsum(pc.starts) - 1
    n_seg = int(seg[-1]) + 1 if len(seg) else 0
    first = np.flatnonzero(pc.starts)
    last = np.r_[first[1:] - 1, len(seg) - 1] if len(first) else first
    minutes = np.maximum((pc.ts_ms[last] - pc.ts_ms[first]) / 60_000, 1.0)
    owner = pc.owner[first]
    n = len(pc.names)
    events = np.bincount(pc.owner, minlength=n).astype(float)
    sessions = np.bincount(owner, minlength=n).astype(float)
    user_minutes = np.bincount(owner, weights=minutes, minlength=n)
    assert n_seg == len(first)
    return np.column_stack([events / user_minutes, events / sessions])


def iforest(train_day: Day, test_day: Day, block: Collection[str]) -> Scored:
    from sklearn.ensemble import IsolationForest

    left_out = set(block)
    train_pc, test_pc = per_client(train_day), per_client(test_day)
    keep = np.array([u not in left_out for u in train_pc.names], dtype=bool)
    forest = IsolationForest(n_estimators=100, contamination=0.1, random_state=FOREST_SEED)
    forest.fit(rate_features(train_pc)[keep])
    x = rate_features(test_pc)
    return _scored(test_pc.names, -forest.score_samples(x), forest.predict(x) == -1)


def type_counts(pc: PerClient, vocab: dict[str, int]) -> np.ndarray:
    counts = np.zeros((len(pc.names), len(vocab) + 1))
    cols = np.array([vocab.get(t, len(vocab)) for t in pc.tokens], dtype=np.int64)
    np.add.at(counts, (pc.owner, cols), 1.0)
    return counts


def rforest(train_day: Day, test_day: Day, block: Collection[str]) -> Scored | None:
    from sklearn.ensemble import RandomForestClassifier

    train_pc, test_pc = per_client(train_day), per_client(test_day)
    blocked = set(block)
    y = np.array([u in blocked for u in train_pc.names], dtype=int)
    if y.min() == y.max():
        return None
    vocab = {t: i for i, t in enumerate(sorted(set(train_pc.tokens)))}
    forest = RandomForestClassifier(n_estimators=200, random_state=FOREST_SEED, n_jobs=1)
    forest.fit(type_counts(train_pc, vocab), y)
    proba = forest.predict_proba(type_counts(test_pc, vocab))[:, 1]
    return _scored(test_pc.names, proba, proba >= 0.5)


def _scored(names: list[str], scores: np.ndarray, flags: np.ndarray) -> Scored:
    flagged = {u for u, f in zip(names, flags.tolist(), strict=True) if f}
    return Scored(dict(zip(names, scores.tolist(), strict=True)), flagged)


METHODS: dict[str, Method] = {"v2": v2, "iforest": iforest, "rforest": rforest}


def ap_of(scored: Scored, labels: dict[str, str], kind: str | None = None) -> float:
    """AP over ``labels``' clients (only the humans and ``kind`` when given); unscored clients rank last."""
    finite = [v for v in scored.scores.values() if math.isfinite(v)]
    floor = (min(finite) if finite else 0.0) - 1.0
    users = [u for u, k in labels.items() if kind is None or k in (kind, HUMAN)]
    values = [scored.scores.get(u, floor) for u in users]
    return average_precision([labels[u] != HUMAN for u in users], [v if math.isfinite(v) else floor for v in values])


def precision_recall(scored: Scored, labels: dict[str, str]) -> tuple[float, float]:
    tp = sum(labels.get(u, HUMAN) != HUMAN for u in scored.flagged)
    bots = sum(k != HUMAN for k in labels.values())
    return (tp / len(scored.flagged) if scored.flagged else 1.0), (tp / bots if bots else math.nan)


def judged(scored: Scored, labels: dict[str, str]) -> str:
    def share(pick: Callable[[str], bool]) -> str:
        users = [u for u, k in labels.items() if pick(k)]
        n = sum(math.isfinite(scored.scores.get(u, -math.inf)) for u in users)
        return f"{n}/{len(users)}"

    return f"humans {share(lambda k: k == HUMAN)}, bots {share(lambda k: k != HUMAN)}"


def run_seed(seed: int, clients: int, assets: int = 0) -> list[str]:
    cfg = replace(WebConfig.draw(seed, clients), assets=assets)
    logged = simulate(cfg, seed)
    day1, day2 = (read(day) for day in logged)
    raw1, raw2 = (read(day, as_logged) for day in logged)
    out = [f"seed {seed}: {cfg.describe()}; day 2: {len(day2.users):,} events, {len(day2.labels):,} clients"]
    for regime, share in REGIMES.items():
        block = sample_block_list_of(day1.labels, share, seed)
        cells = []
        for name, method in METHODS.items():
            scored = method(day1, day2, block)
            if scored is None:
                cells.append(f"{name} n/a")
                continue
            p, r = precision_recall(scored, day2.labels)
            cells.append(f"{name} AP {ap_of(scored, day2.labels):.3f} P/R {p:.2f}/{r:.2f} flags {len(scored.flagged)}")
            if name == "v2":
                kinds = " ".join(f"{k}={ap_of(scored, day2.labels, k):.2f}" for k in KINDS if k in day2.labels.values())
                v2_detail = f"    v2 per kind vs humans: {kinds}; scored: {judged(scored, day2.labels)}"
        out.append(f"  labels={regime:<4}  " + " | ".join(cells))
        out.append(v2_detail)
        raw = v2(raw1, raw2, block)
        p, r = precision_recall(raw, day2.labels)
        ap = ap_of(raw, day2.labels)
        out.append(f"    v2 paths as logged: AP {ap:.3f} P/R {p:.2f}/{r:.2f} flags {len(raw.flagged)}")
    return out


def sample_block_list_of(labels: dict[str, str], share: float, seed: int) -> list[str]:
    """``sim.quality.sample_block_list`` over this simulator's labels (any automated kind is abnormal)."""
    as_sim = {u: ("normal" if k == HUMAN else k) for u, k in labels.items()}
    return sample_block_list(as_sim, share, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1500)
    parser.add_argument("--assets", type=int, default=0, help="static files a browser fetches after a page (max)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.clients < 100 or args.assets < 0:
        parser.error("--seeds must be >= 1, --clients >= 100 and --assets >= 0")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        print("\n".join(run_seed(seed, args.clients, args.assets)), flush=True)


if __name__ == "__main__":
    main()
