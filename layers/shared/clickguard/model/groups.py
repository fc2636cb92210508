"""Behaviour groups (seed 001, the notebook's Step 3): what the model stores and the maths the consumer applies.

* **Profile** of a session: where its surprise came from. ``SessionState.tokens`` holds, per vocabulary token,
  the micro-bits of the transitions into it (the notebook's per-action surprisal sum); normalised to a
  distribution over the vocabulary and smoothed toward the training window's own profile (``background``), a
  Dirichlet prior of ``smoothing`` bits: ``p = (bits + smoothing * background) / (total + smoothing)``. Every
  entry is then positive, so the divergence is finite, and a short session (little evidence) stays near the
  window's typical profile instead of looking new by chance (the notebook's caveat: partial sessions are noisy).
* **Distance**: the symmetric Kullback-Leibler divergence, in bits, ``KL(p||c) + KL(c||p)`` (the notebook tests
  both directions). A profile has a handful of tokens of its own; the rest is the scaled background, whose part
  of the sum has a closed form, so a distance costs O(tokens of the session) per group, not O(vocabulary).
* **Groups**: a centroid profile each (stored sparse: the tokens holding its mass, the rest an even floor), the
  distance ``limit`` measured on the training window (``model.group_fit``). A session *fits* its nearest group
  when within the limit; a session that fits none is *emerging* and keyed by its ``signature`` (its rarest
  action), which the consumer counts per hour for the campaign alert (``consumer.campaign``).
* **Checkpoints**: the consumer places a session in a group when its length reaches ``first_checkpoint``
  (``settings.PROFILE_MIN_EVENTS``) times a power of two: a rule of each event alone, so batching never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.vocabulary import OTHER_INDEX, START_INDEX, index_of

FORMAT = 1
# Digits kept of each stored probability: the trainer round-trips what it stores, so the consumer applies the very
# distributions the limit and the sizes were measured with.
_DIGITS = 9


@dataclass(frozen=True)
class Profiles:
    """Profiles of ``n`` sessions as sparse rows: one entry per (row, token) with the bits of the transitions into
    that token, rows ascending. Built only by ``of``, which merges repeated (row, token) pairs."""

    rows: np.ndarray  # int64
    tokens: np.ndarray  # int64, vocabulary index
    bits: np.ndarray  # float64
    n: int

    @classmethod
    def of(cls, rows: np.ndarray, tokens: np.ndarray, bits: np.ndarray, n: int, v: int) -> Profiles:
        rows, tokens = np.asarray(rows, dtype=np.int64), np.asarray(tokens, dtype=np.int64)
        keys, inverse = np.unique(rows * v + tokens, return_inverse=True)
        summed = np.bincount(inverse, weights=np.asarray(bits, dtype=np.float64), minlength=len(keys))
        return cls(keys // v, keys % v, summed, n)

    def totals(self) -> np.ndarray:
        return np.bincount(self.rows, weights=self.bits, minlength=self.n)

    def subset(self, rows: np.ndarray) -> Profiles:
        """The profiles ``rows`` (in that order) as rows 0..len(rows)-1."""
        pick = np.full(self.n, -1, dtype=np.int64)
        pick[rows] = np.arange(len(rows))
        keep = pick[self.rows] >= 0
        order = np.argsort(pick[self.rows][keep], kind="stable")
        return Profiles(pick[self.rows][keep][order], self.tokens[keep][order], self.bits[keep][order], len(rows))


# Entries of a chunk of ``Space.divergence``: six (entries, K) float64 temporaries of about 1 MB per group each.
_CHUNK_ENTRIES = 131_072


def _whole_rows(first: np.ndarray, entries: int, size: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of entries, each of whole rows (``first``: each row's first entry) and about ``size``
    entries (one row of more is a range of its own)."""
    if entries == 0:
        return []
    cuts = np.unique(first[np.searchsorted(first, np.arange(0, entries, size), side="right") - 1]).tolist()
    return list(zip(cuts, [*cuts[1:], entries], strict=True))


@dataclass(frozen=True)
class _EntryTerms:
    """What ``Space.divergence`` computes of a set of profiles whatever the centroids: per row the smoothing share
    ``s`` and the closed form's own term, per entry the smoothed and the closed-form masses and their logs."""

    s: np.ndarray
    own: np.ndarray
    p: np.ndarray
    log_p: np.ndarray
    q: np.ndarray
    log_q: np.ndarray
    first: np.ndarray  # each row's first entry


@dataclass(frozen=True)
class Space:
    """What profiles are smoothed with: the window's background distribution and the prior's weight in bits."""

    background: np.ndarray  # float64 [V], positive, sums to 1
    smoothing: float
    # The last profiles' ``_EntryTerms``: fitting groups measures the same profiles against hundreds of centroids.
    _last: list[tuple[Profiles, _EntryTerms]] = field(default_factory=list, compare=False, repr=False)
    # The last profiles' single-centroid columns (``column``): every DP-means of a limit search starts alike.
    _columns: list[tuple[Profiles, dict[int, tuple[np.ndarray, np.ndarray]]]] = field(
        default_factory=list, compare=False, repr=False
    )

    def column(self, prof: Profiles, row: int) -> tuple[np.ndarray, np.ndarray]:
        """``(1, V)`` centroid and ``(n, 1)`` divergence of every profile to it: the mean of all the profiles for
        ``row = -1``, else the smoothed profile of ``row``. Kept per profiles: DP-means at each limit of the
        bisection opens the same first groups, and the same arrays give the same bits."""
        if not (self._columns and self._columns[0][0] is prof):
            self._columns[:] = [(prof, {})]
        memo = self._columns[0][1]
        if row not in memo:
            rows = np.arange(prof.n)
            centre = self.mean(prof, rows)[None, :] if row < 0 else self.dense(prof, np.array([row]))
            memo[row] = (centre, self.divergence(prof, centre))
        return memo[row]

    def dense(self, prof: Profiles, rows: np.ndarray) -> np.ndarray:
        """The smoothed profiles of ``rows`` as dense distributions."""
        out = np.zeros((len(rows), len(self.background)))
        pick = np.full(prof.n, -1, dtype=np.int64)
        pick[rows] = np.arange(len(rows))
        mine = pick[prof.rows] >= 0
        np.add.at(out, (pick[prof.rows][mine], prof.tokens[mine]), prof.bits[mine])
        total = out.sum(axis=1, keepdims=True)
        dense: np.ndarray = (out + self.smoothing * self.background) / (total + self.smoothing)
        return dense

    def mean(self, prof: Profiles, rows: np.ndarray) -> np.ndarray:
        """The mean of the smoothed profiles of ``rows``: a centroid."""
        centre: np.ndarray = self.means(prof, np.zeros(len(rows), dtype=np.int64), 1, rows)[0]
        return centre

    def means(self, prof: Profiles, member: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
        """``(k, V)``: the mean smoothed profile of each group, ``member`` holding the group of each of ``rows``
        (every row when None); O(entries), never a dense row per profile. An empty group's row is NaN."""
        v, lam = len(self.background), self.smoothing
        group = np.full(prof.n, -1, dtype=np.int64)
        group[np.arange(prof.n) if rows is None else rows] = member
        scale = 1.0 / (prof.totals() + lam)
        mine = group[prof.rows] >= 0
        keys = group[prof.rows][mine] * v + prof.tokens[mine]
        own = np.bincount(keys, weights=prof.bits[mine] * scale[prof.rows][mine], minlength=k * v).reshape(k, v)
        counted = group >= 0
        size = np.bincount(group[counted], minlength=k).astype(np.float64)
        prior = np.bincount(group[counted], weights=lam * scale[counted], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = (own + prior[:, None] * self.background[None, :]) / size[:, None]
        return out

    def divergence(self, prof: Profiles, centroids: np.ndarray) -> np.ndarray:
        """Symmetric KL in bits of every profile to every centroid, ``(n, K)``, exact.

        For a row with total ``T`` and ``s = smoothing / (T + smoothing)`` every token the session never reached
        holds ``s * background``; summed over the whole vocabulary that profile's divergence to ``c`` is
        ``(s - 1) log2 s + s KL(background||c) + KL(c||background)``; each token of the session then corrects its
        own term."""
        g, lg = self.background, np.log2(self.background)
        lc = np.log2(centroids)
        kl_gc = (g * (lg - lc)).sum(axis=1)  # per centroid
        kl_cg = (centroids * (lc - lg)).sum(axis=1)
        e = self._entry_terms(prof)
        out = e.own[:, None] + e.s[:, None] * kl_gc[None, :] + kl_cg[None, :]
        # Whole rows at a time: the (entries, K) temporaries of a window at once were its training's peak memory.
        for lo, hi in _whole_rows(e.first, len(prof.rows), _CHUNK_ENTRIES):
            t, first = prof.tokens[lo:hi], e.first[(e.first >= lo) & (e.first < hi)] - lo
            c = centroids[:, t].T  # (entries, K)
            lct = lc[:, t].T
            p, log_p, q, log_q = (x[lo:hi, None] for x in (e.p, e.log_p, e.q, e.log_q))
            corr = (p - c) * (log_p - lct) - (q - c) * (log_q - lct)
            out[prof.rows[lo + first]] += np.add.reduceat(corr, first, axis=0)
        clipped: np.ndarray = np.maximum(out, 0.0)  # rounding can leave -1e-16 on an exact match
        return clipped

    def _entry_terms(self, prof: Profiles) -> _EntryTerms:
        if self._last and self._last[0][0] is prof:
            return self._last[0][1]
        g = self.background
        s = self.smoothing / (prof.totals() + self.smoothing)
        r, t = prof.rows, prof.tokens
        p = (prof.bits + self.smoothing * g[t]) / (self.smoothing / s[r])  # / (total + smoothing)
        q = s[r] * g[t]  # what the closed form counted for this token
        first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])  # entries are sorted by row (``Profiles.of``)
        terms = _EntryTerms(s, (s - 1.0) * np.log2(s), p, np.log2(p), q, np.log2(q), first)
        self._last[:] = [(prof, terms)]
        return terms


@dataclass(frozen=True)
class Tag:
    """Where one session stands: its nearest group, the distance, and its signature when it fits none."""

    group: str
    distance: float
    fits: bool
    signature: str | None  # None when it fits a group


def signatures(prof: Profiles, rows: Sequence[int], tokens: Sequence[str]) -> list[str]:
    """Each row's rarest action: of the tokens the session reached, the one least frequent in the training window
    (the vocabulary is ranked by frequency; ``OTHER``, the rare and unseen types, ranks rarest); ``-`` for a row
    with no entry. Alike sessions share it whatever their length: a session's rarest action changes only when an
    even rarer one appears. (The token of most surprise, in total or per transition, moves with the session's
    counts and context: on the demo's ring of 60 card-testing accounts it spread one campaign over two or three
    signatures, two of them past the threshold; the rarest action put 59 of the 60 in one.)"""
    rank = np.where(prof.tokens == OTHER_INDEX, len(tokens), prof.tokens)
    rank = np.where(prof.tokens == START_INDEX, -1, rank)
    best = np.full(prof.n, -1, dtype=np.int64)
    np.maximum.at(best, prof.rows, rank)
    names = [*tokens, tokens[OTHER_INDEX]]
    return [names[int(best[r])] if best[r] >= 0 else "-" for r in rows]


def is_checkpoint(position: np.ndarray, first: int) -> np.ndarray:
    """Session lengths at which a session is placed: ``first`` times a power of two."""
    pos = np.asarray(position, dtype=np.int64)
    ratio = pos // max(first, 1)
    mask: np.ndarray = (pos >= first) & (pos % max(first, 1) == 0) & ((ratio & (ratio - 1)) == 0)
    return mask


def checkpoints_upto(length: int, first: int) -> list[int]:
    out, k = [], max(first, 1)
    while k <= length:
        out.append(k)
        k *= 2
    return out


def sparse(dist: np.ndarray, tokens: Sequence[str], keep_mass: float = 0.995, max_tokens: int = 64) -> dict[str, Any]:
    """A distribution as stored: the fewest tokens holding ``keep_mass`` (at most ``max_tokens``), the rest an
    even ``floor``. ``dense`` reads it back exactly as the consumer will."""
    order = np.lexsort((np.arange(len(dist)), -dist))
    cum = np.cumsum(dist[order])
    n_keep = min(int(np.searchsorted(cum, keep_mass)) + 1, max_tokens, len(dist))
    kept = order[:n_keep]
    rest = len(dist) - n_keep
    floor = float(max(1.0 - float(dist[kept].sum()), 1e-12) / rest) if rest else 0.0
    return {
        "tokens": {tokens[i]: round(float(dist[i]), _DIGITS) for i in sorted(kept.tolist())},
        "floor": round(floor, 15),
    }


def dense(stored: Mapping[str, Any], index: Mapping[str, int], v: int) -> np.ndarray:
    out = np.full(v, float(stored["floor"]))
    for tok, p in stored["tokens"].items():
        if tok in index:
            out[index[tok]] = float(p)
    if not (out > 0).all():
        raise ValueError("a stored distribution has a zero entry")
    normed: np.ndarray = out / out.sum()
    return normed


@dataclass(frozen=True)
class Groups:
    """The behaviour groups of a model (``Model.groups`` as stored), ready to place sessions."""

    tokens: tuple[str, ...]
    space: Space
    limit: float  # bits of symmetric KL: farther from every centroid, a session fits no group
    first_checkpoint: int
    ids: tuple[str, ...]
    centroids: np.ndarray  # (K, V)
    baseline: dict[str, int]  # signature -> most users it held in one hour of the training window
    info: tuple[dict[str, Any], ...] = ()  # per group, what the report shows (size, typical tokens/transitions)
    index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], tokens: Sequence[str]) -> Groups:
        if data.get("format") != FORMAT:
            raise ValueError(f"groups format {data.get('format')!r}; this release reads {FORMAT}")
        index, v = index_of(tokens), len(tokens)
        groups = list(data["groups"])
        centroids = np.array([dense(g["centroid"], index, v) for g in groups]).reshape(len(groups), v)
        return cls(
            tokens=tuple(tokens),
            space=Space(dense(data["background"], index, v), float(data["smoothing_bits"])),
            limit=float(data["limit"]),
            first_checkpoint=int(data["first_checkpoint"]),
            ids=tuple(str(g["id"]) for g in groups),
            centroids=centroids,
            baseline={str(k): int(n) for k, n in data.get("baseline", {}).items()},
            info=tuple({k: val for k, val in g.items() if k != "centroid"} for g in groups),
            index=index,
        )

    @property
    def usable(self) -> bool:
        return len(self.ids) > 0

    def place(self, prof: Profiles) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the nearest group's position and the distance to it (``inf`` without groups)."""
        if not self.usable:
            return np.zeros(prof.n, dtype=np.int64), np.full(prof.n, np.inf)
        d = self.space.divergence(prof, self.centroids)
        nearest = d.argmin(axis=1)
        return nearest, d[np.arange(prof.n), nearest]

    def profile_of(self, tokens: Sequence[tuple[str, int, int]]) -> Profiles:
        """One session's profile from ``SessionState.tokens`` (token, events, micro-bits)."""
        other = self.index.get("OTHER", 1)
        idx = [self.index.get(t, other) for t, _, _ in tokens]
        bits = [ub / settings.MICROBITS_PER_BIT for _, _, ub in tokens]
        rows = np.zeros(len(idx), dtype=np.int64)
        return Profiles.of(rows, np.array(idx, dtype=np.int64), np.array(bits), 1, len(self.tokens))

    def tag(self, tokens: Sequence[tuple[str, int, int]]) -> Tag | None:
        """Where a session stands now (None: the model has no groups)."""
        if not self.usable:
            return None
        prof = self.profile_of(tokens)
        nearest, dist = self.place(prof)
        fits = bool(dist[0] <= self.limit)
        sig = None if fits else signatures(prof, [0], self.tokens)[0]
        return Tag(self.ids[int(nearest[0])], float(dist[0]), fits, sig)


def groups_of(model_groups: Mapping[str, Any] | None, tokens: Sequence[str], version: str | None) -> Groups | None:
    """The model's groups, parsed once per model version (the consumer asks for them every batch). Groups this
    release cannot read (another format, a damaged section) count as none: the model still scores and flags, its
    flags untagged and without campaign alerts, rather than every batch failing on them."""
    if model_groups is None or not model_groups.get("groups"):
        return None
    key = (version, id(model_groups))
    if key not in _CACHE:
        try:
            parsed: Groups | None = Groups.from_dict(model_groups, tokens)
        except (ValueError, KeyError, TypeError, AttributeError):
            parsed = None
        _CACHE.clear()  # one model at a time
        _CACHE[key] = parsed
    return _CACHE[key]


_CACHE: dict[tuple[str | None, int], Groups | None] = {}
