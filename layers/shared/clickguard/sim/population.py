"""Who is on the marketplace: a persistent population of ordinary users and each day's abnormal actors.

Each actor carries its own noisy copy of its type's chain, so no two users behave alike. Ordinary users keep
their id and habits from day to day; bots rotate accounts, so they get fresh ids every day; an account takeover
happens to an ordinary user's account (same id, a new kind of behaviour for that day). Ids are random numbers
drawn from one pool: nothing in an id says what kind of user it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clickguard.sim.catalog import END_INDEX, N_STATES, UserType, base_matrices

# Per-type parameters: diurnal profile, think-time median (s) and spread, chance of a long pause, sessions/day.
TIMING = {
    UserType.BUYER: ("human", 7.0, 1.0, 0.02, 1.2),
    UserType.SELLER: ("human", 9.0, 1.0, 0.02, 1.4),
    UserType.SCRAPER: ("bot", 1.6, 0.35, 0.002, 3.0),
    UserType.SPAMMER: ("human", 4.0, 0.6, 0.01, 1.2),
    UserType.ACCOUNT_TAKEOVER: ("night", 5.0, 0.8, 0.0, 0.4),
    UserType.CREDENTIAL_STUFFER: ("bot", 0.8, 0.3, 0.001, 1.5),
}
ABNORMAL_MIX = {
    UserType.SCRAPER: 0.25,
    UserType.SPAMMER: 0.25,
    UserType.ACCOUNT_TAKEOVER: 0.25,
    UserType.CREDENTIAL_STUFFER: 0.25,
}


@dataclass(frozen=True)
class SimConfig:
    users: int = 3000  # ordinary users in the population; about 85% are active on a given day
    days: int = 2
    seed: int = 7
    start_date: str = "2019-01-01"
    active_share: float = 0.85
    abnormal_share: float = 0.05  # share of each day's active actors that are abnormal
    seller_share: float = 0.3
    # Chance that an ordinary user's next action is any action at all: people mis-tap, deep-link, get lost.
    odd_step: float = 0.005
    # Spread of each ordinary user's habits around their type's chain (log-normal noise on every edge).
    habit_noise: float = 0.25
    abnormal_mix: dict[UserType, float] = field(default_factory=lambda: dict(ABNORMAL_MIX))

    def validate(self) -> SimConfig:
        problems = []
        if self.users < 10:
            problems.append(f"users={self.users} (need >= 10)")
        if self.days < 1:
            problems.append(f"days={self.days} (need >= 1)")
        if not 0 < self.active_share <= 1:
            problems.append(f"active_share={self.active_share} (need 0 < x <= 1)")
        if not 0 <= self.abnormal_share < 0.5:
            problems.append(f"abnormal_share={self.abnormal_share} (need 0 <= x < 0.5)")
        if not 0 <= self.odd_step < 0.5:
            problems.append(f"odd_step={self.odd_step} (need 0 <= x < 0.5)")
        if problems:
            raise ValueError("invalid simulation settings: " + ", ".join(problems))
        return self


@dataclass
class Actors:
    """Column arrays, one row per actor of a day (ordinary users first)."""

    ids: np.ndarray  # object, str
    types: np.ndarray  # object, UserType
    cum: np.ndarray  # float32 [A, N+1, N]: cumulative transition rows (row N = first event)
    median_s: np.ndarray
    sigma: np.ndarray
    tail_p: np.ndarray
    sessions_per_day: np.ndarray
    owner: np.ndarray  # int: the actor row whose id this row acts under (a cover row shares its abuser's id)


def _noisy(rng: np.random.Generator, base: np.ndarray, n: int, sigma: float, end_scale: np.ndarray) -> np.ndarray:
    """``n`` perturbed copies of a chain: multiplicative log-normal noise on its edges and on how soon it ends."""
    m = base[None] * np.exp(sigma * rng.standard_normal((n, *base.shape)))
    m[:, :, END_INDEX] *= end_scale[:, None]
    m[:, END_INDEX, :] = 0.0
    m[:, END_INDEX, END_INDEX] = 1.0
    return m / m.sum(axis=2, keepdims=True)


def _odd(m: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Mix a uniform jump over all real actions into every row (but the first event), weighted per actor."""
    uniform = np.full(N_STATES, 1.0 / (N_STATES - 1))
    uniform[END_INDEX] = 0.0
    out = m.copy()
    out[:, :N_STATES] = (1 - eps[:, None, None]) * m[:, :N_STATES] + eps[:, None, None] * uniform
    out[:, END_INDEX, :] = m[:, END_INDEX, :]
    return out


def _cumulative(m: np.ndarray) -> np.ndarray:
    c = np.cumsum(m, axis=2).astype(np.float32)
    c[:, :, -1] = 1.0  # no sample may fall off the end through rounding
    return c


class Population:
    """The ordinary users (persistent) and a factory for each day's abnormal actors."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config.validate()
        rng = np.random.default_rng([config.seed, 0])
        self.bases = base_matrices()
        n = config.users
        self._id_pool = iter(rng.permutation(rng.choice(90_000_000, size=n * 4, replace=False) + 10_000_000))
        self.ids = np.array([str(next(self._id_pool)) for _ in range(n)], dtype=object)
        is_seller = rng.random(n) < config.seller_share
        self.types = np.where(is_seller, UserType.SELLER, UserType.BUYER).astype(object)
        matrices = np.empty((n, N_STATES + 1, N_STATES))
        # Session length varies a lot between people: scale each user's chance of stopping.
        end_scale = np.exp(0.45 * rng.standard_normal(n))
        eps = config.odd_step * rng.gamma(2.0, 0.5, n)
        for kind in (UserType.BUYER, UserType.SELLER):
            sel = self.types == kind
            matrices[sel] = _noisy(rng, self.bases[kind], int(sel.sum()), config.habit_noise, end_scale[sel])
        self.matrices = _odd(matrices, eps)
        self.cum = _cumulative(self.matrices)
        self.median_s = np.array([TIMING[t][1] for t in self.types]) * np.exp(0.4 * rng.standard_normal(n))
        self.sigma = np.array([TIMING[t][2] for t in self.types])
        self.tail_p = np.array([TIMING[t][3] for t in self.types])
        self.sessions_per_day = np.array([TIMING[t][4] for t in self.types]) * rng.gamma(2.0, 0.5, n)

    def new_ids(self, n: int) -> np.ndarray:
        return np.array([str(next(self._id_pool)) for _ in range(n)], dtype=object)

    def day_actors(self, rng: np.random.Generator) -> Actors:
        """Today's active ordinary users, some of whose accounts are taken over, plus fresh abnormal actors."""
        cfg = self.config
        active = np.flatnonzero(rng.random(cfg.users) < cfg.active_share)
        n_abnormal = round(len(active) * cfg.abnormal_share / (1 - cfg.abnormal_share))
        kinds = list(cfg.abnormal_mix)
        weights = np.array([cfg.abnormal_mix[k] for k in kinds], dtype=float)
        counts = rng.multinomial(n_abnormal, weights / weights.sum()) if n_abnormal else np.zeros(len(kinds), int)
        n_ato = int(counts[kinds.index(UserType.ACCOUNT_TAKEOVER)]) if UserType.ACCOUNT_TAKEOVER in kinds else 0
        victims = rng.choice(active, size=min(n_ato, len(active)), replace=False)
        benign = np.setdiff1d(active, victims)  # the owner is locked out on the day of the takeover

        ids, types, mats, med, sig, tail, spd = [], [], [], [], [], [], []
        ids.append(self.ids[benign])
        types.append(self.types[benign])
        mats.append(self.cum[benign])
        med.append(self.median_s[benign])
        sig.append(self.sigma[benign])
        tail.append(self.tail_p[benign])
        spd.append(self.sessions_per_day[benign])
        owner = [np.arange(len(benign))]
        for kind, count in zip(kinds, counts.tolist(), strict=True):
            if not count:
                continue
            kind_ids = self.ids[victims] if kind is UserType.ACCOUNT_TAKEOVER else self.new_ids(count)
            # Intensity: the share of the actor's visits that are abuse; the rest is cover traffic that looks
            # ordinary (a spammer also browses; a scraper throttles itself), played by a twin row with the same id.
            alpha = 0.4 + 0.6 * rng.beta(2.0, 1.2, count)
            pure = _cumulative(_noisy(rng, self.bases[kind], count, 0.25, np.ones(count)))
            cover = _cumulative(_noisy(rng, self.bases[UserType.BUYER], count, 0.35, np.ones(count)))
            _profile, median, sigma, tail_p, per_day = TIMING[kind]
            visits = np.full(count, per_day) * rng.gamma(3.0, 1 / 3.0, count)
            base = sum(len(x) for x in ids)
            for share, cum, med_scale in ((alpha, pure, 1.0), (1 - alpha, cover, 3.0)):
                ids.append(kind_ids)
                types.append(np.full(count, kind, dtype=object))
                mats.append(cum)
                med.append(median * med_scale * np.exp(0.3 * rng.standard_normal(count)))
                sig.append(np.full(count, sigma))
                tail.append(np.full(count, tail_p))
                spd.append(visits * share)
                owner.append(base + np.arange(count))
        return Actors(
            ids=np.concatenate(ids),
            types=np.concatenate(types),
            cum=np.concatenate(mats),
            median_s=np.concatenate(med),
            sigma=np.concatenate(sig),
            tail_p=np.concatenate(tail),
            sessions_per_day=np.concatenate(spd),
            owner=np.concatenate(owner),
        )
