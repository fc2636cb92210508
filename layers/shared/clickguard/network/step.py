"""The streaming step: a batch's purchase / befriend / unfriend events, in shard order, against the state store.

For each event, in order:

* **purchase** (buyer, amount): skipped if the buyer's purchases item already applied its position (a replay).
  Otherwise, when scoring, the buyer's degree-D network is walked (``walk.network_of``, one batched read per level),
  the last T purchases of its members are merged (``walk.last_purchases``) and the rule decides
  (``baseline.Baseline``: fewer than 2 purchases, no flag; amount > mean + 3 sd, a flag). Then the purchase joins
  the buyer's last T, flagged or not: a flagged purchase still counts in later baselines.
* **befriend / unfriend** (user, friend): applied to each side's friends item that has not applied its position
  yet. Befriending twice, unfriending a non-friend and self-friendship change nothing (and write nothing); a side
  already at ``max_friends`` refuses a new friend (counted), the other side still records it.

Every read an event needs happens before any of its changes. A read that still fails after the store's retries
stops the step at that event (``stopped_seq``): what came before it is returned for commit, it and everything
after it are left to the replay, so no event is ever applied on a partial view.

The step only reads; ``commit.commit`` sends the flags, then writes. Items read once are kept for the rest of the
batch (``working.WorkingSet``: a batch is one shard's, processed by one invocation at a time); what changed is
returned as whole items, with the lowest sequence number that changed each (``first_touch``), which is where a
replay must start if that item's write fails.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from clickguard.network.baseline import Baseline
from clickguard.network.config import NetworkConfig
from clickguard.network.flags import PurchaseFlag
from clickguard.network.ports import NetworkStore
from clickguard.network.state import FriendsItem, Part, Purchase, PurchasesItem
from clickguard.network.walk import last_purchases, network_of
from clickguard.network.working import ReadFailed, ReadStats, WorkingSet


class Kind(enum.Enum):
    PURCHASE = "purchase"
    BEFRIEND = "befriend"
    UNFRIEND = "unfriend"


class NetworkEvent(NamedTuple):
    user_key: str  # the buyer, or the user who befriends / unfriends
    kind: Kind
    ts_ms: int
    shard_id: str  # position: the file mode uses one pseudo-shard and the line number
    seq: int
    cents: int | None = None  # purchases: the amount in cents (``money.parse_cents``)
    friend_key: str | None = None  # befriend / unfriend: the other user
    sub: int = 0  # the event's place in a record that holds several (``KinesisRecord.sub``)


@dataclass
class StepStats:
    events: int = 0  # processed (all of them unless a read failed)
    purchases: int = 0  # appended to their buyer's last T
    flags: int = 0
    friendships_changed: int = 0  # sides of befriend / unfriend events that changed an item
    no_change: int = 0  # befriend of a friend, unfriend of a non-friend, self-friendship
    friend_cap: int = 0  # sides refused because the user already has max_friends
    replayed: int = 0  # events every item of which had already applied them
    members: int = 0  # network sizes, summed over scored purchases
    reads: ReadStats = field(default_factory=ReadStats)


@dataclass
class StepResult:
    flags: list[PurchaseFlag] = field(default_factory=list)
    friends: list[FriendsItem] = field(default_factory=list)  # items to write
    purchases: list[PurchasesItem] = field(default_factory=list)
    first_touch: dict[tuple[Part, str], int] = field(default_factory=dict)
    stopped_seq: int | None = None  # first event not processed (a read failed): the replay starts there
    stats: StepStats = field(default_factory=StepStats)


def run_step(
    events: Sequence[NetworkEvent], store: NetworkStore, config: NetworkConfig, *, score: bool = True
) -> StepResult:
    """Apply ``events`` (one shard's, in order); ``score=False`` builds state only (the file mode's batch log)."""
    out = StepResult()
    ws = WorkingSet(store)
    _preload(events, ws, score)
    if score:
        _prefetch_networks(events, ws, config.degree)
    for ev in events:
        try:
            if ev.kind is Kind.PURCHASE:
                _purchase(ev, ws, config, score, out)
            else:
                _friendship(ev, ws, config, out.stats)
        except ReadFailed:
            out.stopped_seq = ev.seq
            break
        out.stats.events += 1
    out.friends, out.purchases = ws.writes()
    out.first_touch = ws.first_touch
    out.stats.reads = ws.reads
    return out


def _preload(events: Sequence[NetworkEvent], ws: WorkingSet, score: bool) -> None:
    """One batched read of every item the events touch directly (a failure here is retried at its event)."""
    buyers = [ev.user_key for ev in events if ev.kind is Kind.PURCHASE]
    pairs = [u for ev in events if ev.kind is not Kind.PURCHASE for u in (ev.user_key, ev.friend_key or "")]
    ws.load_purchases(buyers, strict=False)
    ws.load_friends(pairs + buyers if score else pairs, strict=False)


def _prefetch_networks(events: Sequence[NetworkEvent], ws: WorkingSet, degree: int) -> None:
    """Every item the batch's walks can reach, read level by level for all its buyers at once: friends items out to
    ``degree`` hops (the batch's own befriends count as edges too: they may join two networks before a purchase),
    then the purchases of everyone reached. A superset of what each purchase's walk reads (an unfriend only removes
    edges), so the walks then run from memory: ``degree + 1`` batched reads a batch instead of per purchase. A read
    that fails here is tried again by the walk that needs it (``strict=False``)."""
    added: dict[str, set[str]] = {}
    for ev in events:
        if ev.kind is Kind.BEFRIEND and ev.friend_key:
            added.setdefault(ev.user_key, set()).add(ev.friend_key)
            added.setdefault(ev.friend_key, set()).add(ev.user_key)
    frontier = {ev.user_key for ev in events if ev.kind is Kind.PURCHASE}
    reached = set(frontier)
    for _ in range(degree):
        ws.load_friends(sorted(frontier), strict=False)
        nearby: set[str] = set()
        for user in frontier:
            nearby |= ws.adjacency.get(user, frozenset()) | added.get(user, set())
        frontier = nearby - reached
        reached |= frontier
        if not frontier:
            break
    ws.load_purchases(sorted(reached), strict=False)


def _purchase(ev: NetworkEvent, ws: WorkingSet, config: NetworkConfig, score: bool, out: StepResult) -> None:
    buyer, cents = ev.user_key, ev.cents or 0
    if ws.purchase_applied(buyer, ev.shard_id, ev.seq, ev.sub):
        out.stats.replayed += 1
        return
    if score:
        members = network_of(buyer, config.degree, ws.friends_of)
        baseline = Baseline.of(p.cents for p in last_purchases(ws.purchase_lists(members), config.window))
        out.stats.members += len(members)
        if baseline is not None and baseline.exceeds(cents):
            out.flags.append(
                PurchaseFlag(
                    buyer,
                    cents,
                    baseline,
                    len(members),
                    config.degree,
                    config.window,
                    ev.ts_ms,
                    ev.shard_id,
                    ev.seq,
                    ev.sub,
                )
            )
            out.stats.flags += 1
    ws.add_purchase(buyer, Purchase(ev.ts_ms, ev.seq, ev.sub, ev.shard_id, cents), config.window)
    out.stats.purchases += 1


def _friendship(ev: NetworkEvent, ws: WorkingSet, config: NetworkConfig, stats: StepStats) -> None:
    a, b = ev.user_key, ev.friend_key or ""
    if a == b or not b:
        stats.no_change += 1
        return
    if a not in ws.friends or b not in ws.friends:
        ws.load_friends([a, b])
    skipped = 0
    for me, other in ((a, b), (b, a)):
        if ws.friendship_applied(me, ev.shard_id, ev.seq, ev.sub):
            skipped += 1
            continue
        current = ws.current_friends(me)
        if ev.kind is Kind.BEFRIEND:
            if other in current:
                stats.no_change += 1
                continue
            if config.max_friends is not None and len(current) >= config.max_friends:
                stats.friend_cap += 1
                continue
            ws.change_friends(me, ev.shard_id, ev.seq, ev.sub).add(other)
        else:
            if other not in current:
                stats.no_change += 1
                continue
            ws.change_friends(me, ev.shard_id, ev.seq, ev.sub).discard(other)
        stats.friendships_changed += 1
    if skipped == 2:
        stats.replayed += 1
