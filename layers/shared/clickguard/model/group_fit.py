"""Fitting the behaviour groups of a training window (``model.groups`` holds what is stored and the maths).

Units: one profile per user, that of their longest session long enough to profile
(``settings.PROFILE_MIN_EVENTS``), so a group's size counts users and nobody weighs more than once. Users reviewers
blocked are kept out of the groups and counted afterwards against them (the report's "blocked").

The grouping is the notebook's Step 3 made deterministic: DP-means (Kulis and Jordan, 2012), the k-means
relative of the notebook's leader pass. A profile farther than ``limit`` from every centroid opens a group of
its own (the farthest first), centroids are the means of their members, and rounds repeat until nothing moves.

The limit is measured, not guessed. The notebook's caveat: too strict a limit splits ordinary users into many
groups, too loose a limit hides outliers among them. Both ends are measured on the window: the limit is the
tightest at which the groups of at least ``MIN_GROUP_SHARE`` of the users (at most ``MAX_GROUPS`` of them) hold all
but ``OUTLIER_SHARE`` of the users, found by bisection. ``OUTLIER_SHARE`` is the detector's alert budget (2%: the
share of a window the system treats as exceptional); smaller behaviours are outliers, not groups.

Cost (bounded): at most ``MAX_PROFILES`` users are clustered (a deterministic sample by a digest of the key); a
distance costs O(tokens in the session) per centroid (``groups.Space.divergence``), so each DP-means round is
O(sample entries x groups) and the search is ``SEARCH_STEPS`` fits. Placing every user of the window and every
session at its checkpoints (for sizes and the campaign baseline) is linear in the window's events.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model import detector
from clickguard.model.codes import factorize
from clickguard.model.groups import FORMAT, Groups, Profiles, Space, dense, signatures, sparse
from clickguard.model.model import Model
from clickguard.model.scoring import EventSeries
from clickguard.model.sessions import late_events, previous_states
from clickguard.model.vocabulary import START_INDEX

MAX_PROFILES = 2000
OUTLIER_SHARE = 0.02
MIN_GROUP_SHARE = 0.01
MIN_GROUP_USERS = 5
MAX_GROUPS = 32  # stored groups at most: more means the limit is too tight for anyone to read them
MAX_FIT_GROUPS = 96  # groups opened while fitting, outliers' own included
SEARCH_STEPS = 8  # the limit to 1/256 of its starting bracket
ROUNDS = 15
# The prior's weight: the surprise of two or three ordinary transitions (1-4 bits each on the simulator's and the
# thesis's vocabularies), so a session's own tokens outweigh the window's typical profile after a handful of events.
SMOOTHING_BITS = 8.0
BACKGROUND_FLOOR = 0.01  # share of the background spread evenly, so every token has some mass
TYPICAL = 5
HOUR_MS = settings.CAMPAIGN_BUCKET_SECONDS * 1000


@dataclass(frozen=True)
class WindowSessions:
    """The window's on-time events grouped by user (the consumer's sessions), with each event's transition."""

    names: list[str]
    states: np.ndarray  # vocabulary state per event
    prev: np.ndarray  # state transitioned from
    bits: np.ndarray  # bits of that transition
    ts: np.ndarray
    seg: np.ndarray  # session per event
    first: np.ndarray  # first event of each session
    length: np.ndarray  # events per session
    owner: np.ndarray  # user code per session

    @classmethod
    def of(cls, model: Model, events: EventSeries) -> WindowSessions:
        sess = detector.sessions_of(model, events)  # its factorized columns are cached from the detector's fit
        # The same order as sessions_of: by user (first appearance), arrival order kept, late events dropped.
        ucode, _ = factorize(events.users)
        order = np.argsort(ucode, kind="stable")
        ts = np.asarray(events.ts_ms, dtype=np.int64)[order]
        on_time = ~late_events(ucode[order], ts, model.params.gap_ms)
        starts = np.ones(len(sess.seg), dtype=bool)
        starts[1:] = sess.seg[1:] != sess.seg[:-1]
        states = sess.states.astype(np.int64)
        prev = previous_states(states, starts, START_INDEX)
        first = np.flatnonzero(starts)
        return cls(
            names=sess.names,
            states=states,
            prev=prev,
            bits=model.microbits[prev, states] / settings.MICROBITS_PER_BIT,
            ts=ts[on_time],
            seg=sess.seg,
            first=first,
            length=np.bincount(sess.seg, minlength=len(first)),
            owner=ucode[order][on_time][first],
        )

    def profiles(self, sessions: np.ndarray, v: int) -> Profiles:
        """Whole sessions' profiles, one row per entry of ``sessions``."""
        pick = np.full(len(self.first), -1, dtype=np.int64)
        pick[sessions] = np.arange(len(sessions))
        mine = pick[self.seg] >= 0
        return Profiles.of(pick[self.seg][mine], self.states[mine], self.bits[mine], len(sessions), v)

    def longest(self, min_events: int) -> np.ndarray:
        """Per user with a session of at least ``min_events`` events, that user's longest (earliest on ties)."""
        judged = np.flatnonzero(self.length >= min_events)
        order = judged[np.lexsort((judged, -self.length[judged], self.owner[judged]))]
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = self.owner[order][1:] != self.owner[order][:-1]
        return order[keep]


def _digest(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


def background_mass(ws: WindowSessions, sessions: np.ndarray, v: int) -> np.ndarray:
    """The micro-bits into each token over ``sessions``: whole numbers, summed exactly in any order, so a window
    split into shards (distributed training) sums to the same mass."""
    mine = np.isin(ws.seg, sessions)
    mass: np.ndarray = np.bincount(
        ws.states[mine], weights=np.rint(ws.bits[mine] * settings.MICROBITS_PER_BIT), minlength=v
    )
    return mass


def background(ws: WindowSessions, sessions: np.ndarray, v: int) -> np.ndarray:
    """The window's profile: the bits into each token over ``sessions``, with an even floor."""
    return background_of(background_mass(ws, sessions, v), v)


def background_of(mass: np.ndarray, v: int) -> np.ndarray:
    """``background`` from its mass."""
    share = mass / mass.sum() if mass.sum() > 0 else np.full(v, 1.0 / v)
    out: np.ndarray = (1 - BACKGROUND_FLOOR) * share + BACKGROUND_FLOOR / v
    return out


@dataclass(frozen=True)
class Fit:
    centroids: np.ndarray  # (K, V), every group opened, outliers' own included
    members: np.ndarray  # nearest centroid per profile


def dp_means(prof: Profiles, space: Space, limit: float) -> Fit | None:
    """DP-means at ``limit`` (None: it needs more than ``MAX_FIT_GROUPS`` groups, the limit is too tight). Rounds
    stop when no profile changes group (at most ``ROUNDS``)."""
    centroids, d = space.column(prof, -1)
    members: np.ndarray | None = None
    for r in range(ROUNDS):
        d = d if r == 0 else space.divergence(prof, centroids)
        nearest = d.min(axis=1)
        while nearest.max() > limit:  # the farthest profile opens a group
            if len(centroids) >= MAX_FIT_GROUPS:
                return None
            far, column = space.column(prof, int(nearest.argmax()))
            centroids, d = np.vstack([centroids, far]), np.hstack([d, column])
            nearest = np.minimum(nearest, column[:, 0])
        assign = d.argmin(axis=1)
        if members is not None and np.array_equal(assign, members):
            return Fit(centroids, assign)
        members = assign
        moved = space.means(prof, members, len(centroids))
        empty = np.bincount(members, minlength=len(centroids)) == 0
        moved[empty] = centroids[empty]
        centroids = moved
    return Fit(centroids, space.divergence(prof, centroids).argmin(axis=1))


def _min_size(n: int) -> int:
    return max(MIN_GROUP_USERS, int(np.ceil(MIN_GROUP_SHARE * n)))


def _kept(fit: Fit, n: int) -> np.ndarray:
    sizes = np.bincount(fit.members, minlength=len(fit.centroids))
    return np.flatnonzero(sizes >= _min_size(n))


def _readable(fit: Fit | None, n: int) -> bool:
    if fit is None:
        return False
    kept = _kept(fit, n)
    grouped = np.isin(fit.members, kept).mean()
    return bool(len(kept) <= MAX_GROUPS and grouped >= 1 - OUTLIER_SHARE)


def measure_limit(prof: Profiles, space: Space) -> float:
    """The tightest limit at which the groups hold all but ``OUTLIER_SHARE`` of the profiles (bisection)."""
    to_mean = space.column(prof, -1)[1][:, 0]
    hi = max(float(np.quantile(to_mean, 1 - OUTLIER_SHARE)), 1e-6)
    for _ in range(SEARCH_STEPS):  # the quantile's single group is nearly always readable; widen if not
        if _readable(dp_means(prof, space, hi), prof.n):
            break
        hi *= 2
    lo = 0.0
    for _ in range(SEARCH_STEPS):
        mid = (lo + hi) / 2
        if _readable(dp_means(prof, space, mid), prof.n):
            hi = mid
        else:
            lo = mid
    return hi


def final_centroids(prof: Profiles, space: Space, limit: float, tokens: tuple[str, ...]) -> list[dict[str, Any]]:
    """The kept groups at ``limit``: each re-centred on the profiles within the limit of it, stored sparse."""
    fit = dp_means(prof, space, limit)
    if fit is None:
        return []
    centroids = fit.centroids[_kept(fit, prof.n)]
    d = space.divergence(prof, centroids)
    nearest, within = d.argmin(axis=1), d.min(axis=1) <= limit
    out = []
    for k in range(len(centroids)):
        mine = np.flatnonzero(within & (nearest == k))
        centre = space.mean(prof, mine) if len(mine) else centroids[k]
        out.append(sparse(centre, tokens))
    return out


@dataclass
class Placed:
    """Every user of the window placed: nearest group and whether within the limit."""

    sessions: np.ndarray  # each user's longest judged session
    group: np.ndarray
    fits: np.ndarray


def place_users(groups: Groups, ws: WindowSessions, sessions: np.ndarray, chunk: int = 20_000) -> Placed:
    group = np.zeros(len(sessions), dtype=np.int64)
    dist = np.zeros(len(sessions))
    for lo in range(0, len(sessions), chunk):
        part = sessions[lo : lo + chunk]
        group[lo : lo + len(part)], dist[lo : lo + len(part)] = groups.place(ws.profiles(part, len(groups.tokens)))
    return Placed(sessions, group, dist <= groups.limit)


def typical_transitions(ws: WindowSessions, placed: Placed, k: int, tokens: tuple[str, ...]) -> list[list[Any]]:
    """The group's most frequent transitions over its members' sessions, with their share of those transitions."""
    mine = placed.sessions[placed.fits & (placed.group == k)]
    rows = np.isin(ws.seg, mine)
    v = len(tokens)
    pairs, counts = np.unique(ws.prev[rows] * v + ws.states[rows], return_counts=True)
    return typical_of(pairs, counts, tokens)


def typical_of(pairs: np.ndarray, counts: np.ndarray, tokens: tuple[str, ...]) -> list[list[Any]]:
    """``typical_transitions`` from a group's transitions (``from * V + to``, distinct) and their counts."""
    v = len(tokens)
    top = np.lexsort((pairs, -counts))[:TYPICAL]
    total = max(int(counts.sum()), 1)
    return [
        [tokens[p // v], tokens[p % v], round(int(n) / total, 4)]
        for p, n in zip(pairs[top].tolist(), counts[top].tolist(), strict=True)
    ]


@dataclass(frozen=True)
class Checkpoints:
    """Every checkpoint of some sessions (``groups.is_checkpoint``): the session's profile as the consumer judges
    it there, the hour of that event, and the owner."""

    prof: Profiles
    session: np.ndarray
    hour: np.ndarray  # start of the hour of the checkpoint event, ms
    owner: np.ndarray

    @classmethod
    def of(cls, ws: WindowSessions, sessions: np.ndarray, first: int, v: int) -> Checkpoints:
        length = ws.length[sessions]
        parts, k = [], max(first, 1)
        while len(sessions) and k <= length.max():  # a few dozen rounds at most: lengths double each time
            parts.append((sessions[length >= k], k))
            k *= 2
        ck_s = np.concatenate([s for s, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
        ck_len = np.concatenate([np.full(len(s), c, dtype=np.int64) for s, c in parts]) if parts else ck_s.copy()
        rows = np.repeat(np.arange(len(ck_s)), ck_len)
        ev = ws.first[ck_s][rows] + np.arange(len(rows)) - np.repeat(np.cumsum(ck_len) - ck_len, ck_len)
        prof = Profiles.of(rows, ws.states[ev], ws.bits[ev], len(ck_s), v)
        hour = ws.ts[ws.first[ck_s] + ck_len - 1] // HOUR_MS * HOUR_MS
        return cls(prof, ck_s, hour, ws.owner[ck_s])


def fit_limit(radius: float, cks: Checkpoints, distance: np.ndarray, members: np.ndarray) -> float:
    """The consumer's limit: the grouping radius, or wider if at that radius more than ``OUTLIER_SHARE`` of the
    groups' own ``members`` (user codes whose whole session fits one) would fall outside every group at some
    checkpoint: a session's early prefixes are noisier than its whole. Outliers never set it."""
    mine = np.isin(cks.owner, members)
    if not mine.any():
        return radius
    worst = np.zeros(int(cks.owner.max()) + 1)
    np.maximum.at(worst, cks.owner[mine], distance[mine])
    return max(radius, float(np.quantile(worst[np.unique(cks.owner[mine])], 1 - OUTLIER_SHARE)))


def campaign_baseline(groups: Groups, cks: Checkpoints, distance: np.ndarray) -> dict[str, int]:
    """Per signature, the most users that fitted no group at a checkpoint within one hour of the window: what
    the consumer counts, as the training window saw it."""
    out = np.flatnonzero(distance > groups.limit)
    sigs = signatures(cks.prof.subset(out), list(range(len(out))), groups.tokens)
    users: dict[tuple[str, int], set[int]] = {}
    for sig, hour, owner in zip(sigs, cks.hour[out].tolist(), cks.owner[out].tolist(), strict=True):
        users.setdefault((sig, hour), set()).add(owner)
    peak: dict[str, int] = {}
    for (sig, _), members in users.items():
        peak[sig] = max(peak.get(sig, 0), len(members))
    return dict(sorted(peak.items()))


def fit_groups(model: Model, events: EventSeries, blocked: Collection[str] = ()) -> dict[str, Any]:
    """``Model.groups`` for the window ``events`` (blocked users' events included: they are counted, not
    grouped). Raises ValueError when too few users have a session long enough to profile."""
    tokens, v = model.tokens, model.n_states
    ws = WindowSessions.of(model, events)
    longest = ws.longest(settings.PROFILE_MIN_EVENTS)
    left_out = frozenset(blocked)
    is_blocked = np.array([ws.names[o] in left_out for o in ws.owner.tolist()], dtype=bool)
    ordinary, flagged_out = longest[~is_blocked[longest]], longest[is_blocked[longest]]
    if len(ordinary) < 2 * _min_size(min(len(ordinary), MAX_PROFILES)):
        n = settings.PROFILE_MIN_EVENTS
        raise ValueError(f"{len(ordinary)} users with a session of {n}+ events: too few to group")
    space = Space(background(ws, ordinary, v), SMOOTHING_BITS)
    sample = ordinary[np.argsort([_digest(ws.names[o]) for o in ws.owner[ordinary].tolist()], kind="stable")]
    prof = ws.profiles(np.sort(sample[:MAX_PROFILES]), v)
    radius = measure_limit(prof, space)
    stored: dict[str, Any] = {
        "format": FORMAT,
        "smoothing_bits": SMOOTHING_BITS,
        "background": sparse(space.background, tokens, keep_mass=1.0, max_tokens=v),
        "limit": round(radius, 6),
        "first_checkpoint": settings.PROFILE_MIN_EVENTS,
        "groups": [{"id": "", "centroid": c} for c in final_centroids(prof, space, radius, tokens)],
    }
    groups = Groups.from_dict(stored, tokens)  # what the consumer will apply: measure with exactly that
    judged = np.flatnonzero((ws.length >= settings.PROFILE_MIN_EVENTS) & ~is_blocked)  # both per session
    cks = Checkpoints.of(ws, judged, groups.first_checkpoint, v)
    _, distance = groups.place(cks.prof)
    fits = place_users(groups, ws, ordinary).fits
    # Rounded up as stored: a profile exactly at the measured limit still fits.
    stored["limit"] = math.ceil(fit_limit(radius, cks, distance, ws.owner[ordinary[fits]]) * 1e6) / 1e6
    stored["groups"] = describe(Groups.from_dict(stored, tokens), ws, ordinary, flagged_out, stored["groups"])
    groups = Groups.from_dict(stored, tokens)
    stored["baseline"] = campaign_baseline(groups, cks, distance)
    placed = place_users(groups, ws, ordinary)
    stored["stats"] = {
        "users_profiled": len(ordinary),
        "sample": int(prof.n),
        "radius": round(radius, 6),
        "grouped_share": round(float(placed.fits.mean()), 6),
        "ungrouped_checkpoint_share": round(float((distance > groups.limit).mean()), 6) if len(distance) else 0.0,
        "outlier_share": OUTLIER_SHARE,
        "min_group_share": MIN_GROUP_SHARE,
    }
    return stored


def describe(
    groups: Groups, ws: WindowSessions, ordinary: np.ndarray, blocked: np.ndarray, stored: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each group with its size, blocked users, typical tokens and transitions; ids ``g1``.. by size."""
    placed = place_users(groups, ws, ordinary)
    held = place_users(groups, ws, blocked) if len(blocked) else None
    ks = range(len(stored))
    users = [int((placed.fits & (placed.group == k)).sum()) for k in ks]
    held_n = [int((held.fits & (held.group == k)).sum()) if held is not None else 0 for k in ks]
    return described(groups, stored, users, held_n, [typical_transitions(ws, placed, k, groups.tokens) for k in ks])


def described(
    groups: Groups, stored: list[dict[str, Any]], users: list[int], blocked: list[int], typical: list[list[list[Any]]]
) -> list[dict[str, Any]]:
    """``describe``'s rows from each group's users, blocked users and typical transitions."""
    rows = []
    for k, entry in enumerate(stored):
        centre = dense(entry["centroid"], groups.index, len(groups.tokens))
        top = np.lexsort((np.arange(len(centre)), -centre))[:TYPICAL]
        rows.append(
            {
                "users": users[k],
                "blocked": blocked[k],
                "typical_tokens": [[groups.tokens[i], round(float(centre[i]), 4)] for i in top.tolist()],
                "typical_transitions": typical[k],
                "centroid": entry["centroid"],
            }
        )
    rows.sort(key=lambda r: (-r["users"], r["typical_tokens"][0][0]))
    return [{"id": f"g{i + 1}", **r} for i, r in enumerate(rows)]


def with_groups(model: Model, events: EventSeries, blocked: Collection[str] = ()) -> Model:
    """The model with the behaviour groups of its window; a window they cannot be fitted on publishes without
    them, and ``stats.groups`` says why (the consumer then tags no flag and raises no campaign alert)."""
    try:
        stored = fit_groups(model, events, blocked)
    except ValueError as exc:
        return attach_groups(model, str(exc))
    return attach_groups(model, stored)


def attach_groups(model: Model, stored: dict[str, Any] | str) -> Model:
    """The model with its groups (as stored) and their summary in its stats, or, given why they could not be
    fitted, with that reason in the stats."""
    if isinstance(stored, str):
        return replace(model, stats={**model.stats, "groups": {"fitted": False, "reason": stored}})
    summary = {"fitted": True, "groups": len(stored["groups"]), "limit": stored["limit"], **stored["stats"]}
    return replace(model, stats={**model.stats, "groups": summary}, groups=stored)
