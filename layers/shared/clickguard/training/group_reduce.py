"""The behaviour groups of a distributed run (issue 13): ``group_fit.fit_groups`` with its window spread over user
shards, bit for bit.

Three passes (``shards.groups_*_pass``), each followed by the step of ``fit_groups`` that needs every user:

1. ``groups_profile``: the background's mass (integer micro-bits, so the shards' sum is the window's) and each
   shard's first ``MAX_PROFILES`` ordinary users by the digest of their key, with their longest session's events:
   the window's sample is the first ``MAX_PROFILES`` of those, in order of first appearance -> the radius and the
   groups (``measure_limit``, ``final_centroids``) on exactly the single pass's profiles;
2. ``groups_limit``: per user whose longest session fits, the farthest of their checkpoints -> the limit
   (``fit_limit``);
3. ``groups_describe``: per group its users, blocked users and transitions, the emerging checkpoints' users per
   (signature, hour): users never span shards, so the counts add up -> ``described`` and the campaign baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model import group_fit
from clickguard.model.groups import FORMAT, Groups, Profiles, Space, sparse
from clickguard.model.model import Model


def _cat(results: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.concatenate([np.asarray(r[key]) for r in results])


def too_few(model: Model, results: Sequence[dict[str, Any]]) -> str | None:
    """``fit_groups``' refusal, or None."""
    ordinary = sum(int(r["ordinary"]) for r in results)
    if ordinary < 2 * group_fit._min_size(min(ordinary, group_fit.MAX_PROFILES)):
        return f"{ordinary} users with a session of {settings.PROFILE_MIN_EVENTS}+ events: too few to group"
    return None


def _sample(model: Model, results: Sequence[dict[str, Any]]) -> Profiles:
    """The single pass's sample: the first ``MAX_PROFILES`` ordinary users by digest, in order of first appearance,
    their longest sessions' profiles built from their events in order (``WindowSessions.profiles``)."""
    digests = [d for r in results for d in r["digests"]]
    users, lengths = _cat(results, "users"), _cat(results, "lengths").astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    states, bits = _cat(results, "states").astype(np.int64), _cat(results, "bits").astype(np.float64)
    chosen = np.argsort(digests, kind="stable")[: group_fit.MAX_PROFILES]
    chosen = chosen[np.argsort(users[chosen], kind="stable")]
    events = [np.arange(starts[i], starts[i] + lengths[i]) for i in chosen.tolist()]
    picked = np.concatenate(events) if events else np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(chosen)), lengths[chosen])
    return Profiles.of(rows, states[picked], bits[picked], len(chosen), model.n_states)


def first_groups(model: Model, results: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored groups before their limit is widened (``fit_groups`` up to ``measure_limit``), and what later
    steps need of the sample."""
    tokens, v = model.tokens, model.n_states
    mass = np.sum([r["mass"] for r in results], axis=0)
    space = Space(group_fit.background_of(mass, v), group_fit.SMOOTHING_BITS)
    prof = _sample(model, results)
    radius = group_fit.measure_limit(prof, space)
    stored: dict[str, Any] = {
        "format": FORMAT,
        "smoothing_bits": group_fit.SMOOTHING_BITS,
        "background": sparse(space.background, tokens, keep_mass=1.0, max_tokens=v),
        "limit": round(radius, 6),
        "first_checkpoint": settings.PROFILE_MIN_EVENTS,
        "groups": [{"id": "", "centroid": c} for c in group_fit.final_centroids(prof, space, radius, tokens)],
    }
    return stored, {"radius": radius, "sample": int(prof.n)}


def widened(stored: dict[str, Any], fit: dict[str, Any], results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``fit_groups``' limit: the radius, widened to the noise of the groups' own members' checkpoints."""
    users, worst = _cat(results, "users"), _cat(results, "worst").astype(np.float64)
    owner = np.searchsorted(np.sort(users), users)  # one entry per member: its farthest checkpoint
    nothing = Profiles(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0)
    members = group_fit.Checkpoints(nothing, owner, np.zeros(len(owner), np.int64), owner)
    limit = group_fit.fit_limit(fit["radius"], members, worst, owner)
    return {**stored, "limit": math.ceil(limit * 1e6) / 1e6}  # rounded up as stored: a profile at the limit fits


def _typical(results: Sequence[dict[str, Any]], k: int, tokens: tuple[str, ...]) -> list[list[Any]]:
    v = len(tokens)
    group = _cat(results, "pair_group")
    mine = group == k
    keys = (_cat(results, "pair_from") * v + _cat(results, "pair_to"))[mine]
    pairs, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, weights=_cat(results, "pair_count")[mine], minlength=len(pairs)).astype(np.int64)
    return group_fit.typical_of(pairs, counts, tokens)


def _baseline(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    """``campaign_baseline``: per signature, the most users in one hour (users are in one shard each: they add)."""
    per_hour: dict[tuple[str, int], int] = {}
    for r in results:
        for sig, hour, n in zip(r["signatures"], r["hours"].tolist(), r["signature_users"].tolist(), strict=True):
            per_hour[(sig, hour)] = per_hour.get((sig, hour), 0) + n
    peak: dict[str, int] = {}
    for (sig, _), n in per_hour.items():
        peak[sig] = max(peak.get(sig, 0), n)
    return dict(sorted(peak.items()))


def final(
    model: Model, stored: dict[str, Any], fit: dict[str, Any], results: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The groups as ``fit_groups`` stores them."""
    tokens = model.tokens
    groups = Groups.from_dict(stored, tokens)
    k = len(stored["groups"])
    users = np.sum([r["users"] for r in results], axis=0).astype(np.int64) if k else np.zeros(0, np.int64)
    blocked = np.sum([r["blocked"] for r in results], axis=0).astype(np.int64) if k else np.zeros(0, np.int64)
    typical = [_typical(results, g, tokens) for g in range(k)]
    rows = group_fit.described(groups, stored["groups"], users.tolist(), blocked.tolist(), typical)
    profiled, checkpoints = sum(r["profiled"] for r in results), sum(r["checkpoints"] for r in results)
    ungrouped = sum(r["ungrouped_checkpoints"] for r in results)
    return {
        **stored,
        "groups": rows,
        "baseline": _baseline(results),
        "stats": {
            "users_profiled": profiled,
            "sample": fit["sample"],
            "radius": round(fit["radius"], 6),
            "grouped_share": round(sum(r["fits"] for r in results) / profiled, 6),
            "ungrouped_checkpoint_share": round(ungrouped / checkpoints, 6) if checkpoints else 0.0,
            "outlier_share": group_fit.OUTLIER_SHARE,
            "min_group_share": group_fit.MIN_GROUP_SHARE,
        },
    }
