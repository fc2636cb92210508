"""Who is on the marketplace: a persistent population of ordinary users and each day's abnormal actors.

Each actor carries its own noisy copy of its type's chain, so no two users behave alike. Ordinary users keep
their id and habits from day to day; bots rotate accounts, so they get fresh ids every day; an account takeover
happens to an ordinary user's account (same id, a new kind of behaviour for that day). Ids are random numbers
drawn from one pool: nothing in an id says what kind of user it is.
"""

from __future__ import annotations

import itertools
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
    """What to simulate. The hardening options make abusers harder to tell from ordinary users; each is off by
    default (the default population, the demo and its tests stay exactly as they were, draw for draw):

    * ``bot_human_timing`` (0..1): that share of the bots (scrapers, credential stuffers) pace themselves like people:
      human think times (a 7 s median instead of about 1 s, with the human spread and coffee-break pauses) and the
      human day (a night trough, lunch and evening peaks) instead of round-the-clock. Rate features such as clicks
      per minute stop separating them; their chains are unchanged.
    * ``takeover_browse`` (0..1): account takeovers mostly browse. Each row of the takeover chain becomes that share
      of ordinary buyer behaviour (rows the takeover never defines become buyer rows), so the intruder searches and
      views items, and only now and then drifts into the lock-out and cash-out steps.
    * ``takeover_owner_cover``: a takeover's cover traffic plays the account owner's own habits (their personal
      chain) instead of a generic buyer's, as an intruder who knows the account would.
    * ``abuse_intensity`` (> 0): scales each abuser's share of abusive visits (the rest is cover traffic that looks
      ordinary); below 1 abusers hide more of their activity among ordinary visits.
    * ``abuse_split_visits`` (1..10): abusers split their abuse into that many times more visits, with that many
      times the weight on ending the visit after each action: short sessions (less total surprisal per session,
      more of them under the rule's minimum length) and fewer pages per session.
    * ``abuse_chain_noise`` (0..2): spread of each abuser's personal copy of its type's chain (default 0.25); more
      noise, less alike abusers of one type.
    * ``abuse_think_scale`` (0.1..10): multiplies every abuser's think-time median (changed timing).
    """

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
    # Hardening options (see the class docstring); the defaults leave the population exactly as it was.
    bot_human_timing: float = 0.0
    takeover_browse: float = 0.0
    takeover_owner_cover: bool = False
    abuse_intensity: float = 1.0
    abuse_split_visits: float = 1.0
    abuse_chain_noise: float = 0.25
    abuse_think_scale: float = 1.0

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
        problems.extend(_hardening_problems(self))
        if problems:
            raise ValueError("invalid simulation settings: " + ", ".join(problems))
        return self


def _hardening_problems(cfg: SimConfig) -> list[str]:
    ranges = {
        "bot_human_timing": (0.0, 1.0),
        "takeover_browse": (0.0, 0.99),
        "abuse_intensity": (0.01, 10.0),
        "abuse_split_visits": (1.0, 10.0),
        "abuse_chain_noise": (0.0, 2.0),
        "abuse_think_scale": (0.1, 10.0),
    }
    return [
        f"{k}={getattr(cfg, k)} (need {lo:g} <= x <= {hi:g})"
        for k, (lo, hi) in ranges.items()
        if not lo <= getattr(cfg, k) <= hi
    ]


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
    profiles: np.ndarray | None = None  # object str: diurnal profile per row (None: the type's, from TIMING)


def _noisy(rng: np.random.Generator, base: np.ndarray, n: int, sigma: float, end_scale: np.ndarray) -> np.ndarray:
    """``n`` perturbed copies of a chain: multiplicative log-normal noise on its edges and on how soon it ends."""
    m = base[None] * np.exp(sigma * rng.standard_normal((n, *base.shape)))
    m[:, :, END_INDEX] *= end_scale[:, None]
    m[:, END_INDEX, :] = 0.0
    m[:, END_INDEX, END_INDEX] = 1.0
    chains: np.ndarray = m / m.sum(axis=2, keepdims=True)
    return chains


def _odd(m: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Mix a uniform jump over all real actions into every row (but the first event), weighted per actor."""
    uniform = np.full(N_STATES, 1.0 / (N_STATES - 1))
    uniform[END_INDEX] = 0.0
    out = m.copy()
    out[:, :N_STATES] = (1 - eps[:, None, None]) * m[:, :N_STATES] + eps[:, None, None] * uniform
    out[:, END_INDEX, :] = m[:, END_INDEX, :]
    return out


def _browsing(takeover: np.ndarray, buyer: np.ndarray, share: float) -> np.ndarray:
    """A takeover chain that mostly browses: each row ``share`` buyer behaviour; rows it never defines, all buyer."""
    mixed = (1 - share) * takeover + share * buyer
    undefined = takeover[:, END_INDEX] == 1.0
    mixed[undefined] = buyer[undefined]
    mixed[END_INDEX] = takeover[END_INDEX]
    return mixed


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
        # 8-digit ids, 4 a user; a long run (300 days of 10 users) goes on with 9-digit ones, never drawn here
        pool = rng.permutation(rng.choice(90_000_000, size=n * 4, replace=False) + 10_000_000)
        self._id_pool = itertools.chain(pool, itertools.count(100_000_000))
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
        profiles = [np.array([TIMING[t][0] for t in self.types[benign]], dtype=object)]
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
            alpha, pure, cover = self._abuse_chains(rng, kind, count, victims)
            profile, median, sigma, tail_p, per_day = TIMING[kind]
            visits = np.full(count, per_day) * rng.gamma(3.0, 1 / 3.0, count)
            humanlike = self._humanlike(rng, profile, count)
            base = sum(len(x) for x in ids)
            split = cfg.abuse_split_visits
            for share, cum, med_scale, more in ((alpha, pure, 1.0, split), (1 - alpha, cover, 3.0, 1.0)):
                ids.append(kind_ids)
                types.append(np.full(count, kind, dtype=object))
                mats.append(cum)
                med.append(median * med_scale * cfg.abuse_think_scale * np.exp(0.3 * rng.standard_normal(count)))
                sig.append(np.full(count, sigma))
                tail.append(np.full(count, tail_p))
                spd.append(visits * share * more)
                owner.append(base + np.arange(count))
                profiles.append(np.full(count, profile, dtype=object))
            if humanlike is not None:
                _pace_like_people(humanlike, median, med, sig, tail, profiles)
        return Actors(
            ids=np.concatenate(ids),
            types=np.concatenate(types),
            cum=np.concatenate(mats),
            median_s=np.concatenate(med),
            sigma=np.concatenate(sig),
            tail_p=np.concatenate(tail),
            sessions_per_day=np.concatenate(spd),
            owner=np.concatenate(owner),
            profiles=np.concatenate(profiles),
        )

    def _abuse_chains(
        self, rng: np.random.Generator, kind: UserType, count: int, victims: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per abuser: intensity, its own abuse chain and its cover chain (both cumulative).

        Intensity is the share of the actor's visits that are abuse; the rest is cover traffic that looks ordinary
        (a spammer also browses; a scraper throttles itself), played by a twin row with the same id."""
        cfg = self.config
        alpha = 0.4 + 0.6 * rng.beta(2.0, 1.2, count)
        if cfg.abuse_intensity != 1.0:
            alpha = np.clip(alpha * cfg.abuse_intensity, 0.02, 1.0)
        chain = self.bases[kind]
        takeover = kind is UserType.ACCOUNT_TAKEOVER
        if takeover and cfg.takeover_browse > 0:
            chain = _browsing(chain, self.bases[UserType.BUYER], cfg.takeover_browse)
        end_scale = np.full(count, float(cfg.abuse_split_visits))
        pure = _cumulative(_noisy(rng, chain, count, cfg.abuse_chain_noise, end_scale))
        cover = _cumulative(_noisy(rng, self.bases[UserType.BUYER], count, 0.35, np.ones(count)))
        if takeover and cfg.takeover_owner_cover:
            cover = self.cum[victims]
        return alpha, pure, cover

    def _humanlike(self, rng: np.random.Generator, profile: str, count: int) -> np.ndarray | None:
        """Which of ``count`` bots pace themselves like people (None when the option is off: no draw at all)."""
        share = self.config.bot_human_timing
        if share <= 0 or profile != "bot":
            return None
        return rng.random(count) < share


def _pace_like_people(
    humanlike: np.ndarray,
    median: float,
    med: list[np.ndarray],
    sig: list[np.ndarray],
    tail: list[np.ndarray],
    profiles: list[np.ndarray],
) -> None:
    """Give the last two rows appended (a bot's abuse and cover rows) human timing where ``humanlike``."""
    human_profile, human_median, human_sigma, human_tail, _per_day = TIMING[UserType.BUYER]
    for k in (-2, -1):
        med[k] = np.where(humanlike, med[k] * (human_median / median), med[k])
        sig[k] = np.where(humanlike, human_sigma, sig[k])
        tail[k] = np.where(humanlike, human_tail, tail[k])
        profiles[k] = np.where(humanlike, human_profile, profiles[k]).astype(object)
