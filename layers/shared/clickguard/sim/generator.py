"""One simulated day: every session of every actor walked through its chain in parallel, then timed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC as _UTC
from datetime import date, datetime, timedelta

import numpy as np

from clickguard.sim import timing
from clickguard.sim.catalog import END_INDEX, N_STATES, STATES, split_state
from clickguard.sim.population import TIMING, Actors, Population, SimConfig

MAX_SESSION_EVENTS = 1500  # a bot that never stops is cut here, as an app would time the session out
# A user's next visit starts after the previous one ends plus at least this pause, so visits never interleave.
MIN_VISIT_PAUSE_S = 31 * 60


@dataclass
class SimDay:
    """A day of events as columns (sorted by time, as a stream would carry them) and its ground truth."""

    day: int  # 1-based
    date: str  # YYYY-MM-DD
    user_ids: np.ndarray  # object str, per event
    states: np.ndarray  # int, index into catalog.STATES
    ts_ms: np.ndarray  # int64
    session_ids: np.ndarray  # object str
    event_ids: np.ndarray  # object str
    labels: dict[str, str]  # user_id -> UserType value, for every user with an event today

    def __len__(self) -> int:
        return len(self.ts_ms)

    def event_types_outcomes(self) -> tuple[list[str], list[str]]:
        table = [split_state(s) for s in STATES]
        pairs = [table[i] for i in self.states.tolist()]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def tokens(self) -> list[str]:
        """Model tokens (``event_type`` or ``event_type#fail``) per event."""
        names = np.asarray(STATES, dtype=object)
        tokens: list[str] = names[self.states].tolist()
        return tokens


def _walk(rng: np.random.Generator, cum: np.ndarray, actor_of_session: np.ndarray) -> tuple[np.ndarray, ...]:
    """Walk all sessions at once; returns (session, step, state) per emitted event."""
    n = len(actor_of_session)
    sess = np.arange(n)
    state = _draw(rng, cum[actor_of_session, N_STATES])  # first event
    out_s, out_k, out_x = [], [], []
    for step in range(MAX_SESSION_EVENTS):
        live = state != END_INDEX
        if not live.any():
            break
        sess, state = sess[live], state[live]
        out_s.append(sess)
        out_k.append(np.full(len(sess), step))
        out_x.append(state)
        state = _draw(rng, cum[actor_of_session[sess], state])
    return np.concatenate(out_s), np.concatenate(out_k), np.concatenate(out_x)


def _draw(rng: np.random.Generator, cum_rows: np.ndarray) -> np.ndarray:
    u = rng.random(len(cum_rows), dtype=np.float32)
    states: np.ndarray = np.minimum((cum_rows < u[:, None]).sum(axis=1), N_STATES - 1)
    return states


def _profiles(actors: Actors) -> np.ndarray:
    """Each actor row's diurnal profile: its own where the population set one (a hardening option), else its type's."""
    if actors.profiles is not None:
        return actors.profiles
    return np.array([TIMING[t][0] for t in actors.types], dtype=object)


def _hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"{x:016x}" for x in rng.integers(0, 2**63, n).tolist()], dtype=object)


def simulate_day(population: Population, day: int) -> SimDay:
    cfg = population.config
    rng = np.random.default_rng([cfg.seed, day])
    actors: Actors = population.day_actors(rng)
    actor_of_session, starts = _sessions(rng, actors)
    s_idx, state, a_idx, offset = _events(rng, actors, actor_of_session)
    start = _apart(actors, actor_of_session, starts, s_idx, offset)
    # Visits pushed past midnight belong to tomorrow's simulation: drop them (a bot's day ends at the file's end).
    keep = start[s_idx] + offset < timing.DAY_S
    s_idx, state, a_idx, offset = s_idx[keep], state[keep], a_idx[keep], offset[keep]
    midnight = datetime.fromisoformat(cfg.start_date).replace(tzinfo=_UTC) + timedelta(days=day - 1)
    base_ms = int(midnight.timestamp() * 1000)
    ts_ms = base_ms + np.rint((start[s_idx] + offset) * 1000).astype(np.int64)
    sid_names = _hex_ids(rng, len(actor_of_session))
    by_time = np.argsort(ts_ms, kind="stable")
    present = np.unique(a_idx)
    return SimDay(
        day=day,
        date=date.fromordinal(midnight.date().toordinal()).isoformat(),
        user_ids=actors.ids[a_idx][by_time],
        states=state[by_time],
        ts_ms=ts_ms[by_time],
        session_ids=sid_names[s_idx][by_time],
        event_ids=_hex_ids(rng, len(ts_ms)),
        labels={actors.ids[a]: str(actors.types[a]) for a in present.tolist()},
    )


def _sessions(rng: np.random.Generator, actors: Actors) -> tuple[np.ndarray, np.ndarray]:
    """Each session's actor row and start (seconds since midnight, by its actor's hourly profile). Every actor
    listed today does at least one thing (on its own row, not a cover)."""
    n_sess = rng.poisson(actors.sessions_per_day)
    idle = np.bincount(actors.owner, weights=n_sess, minlength=len(actors.ids)) == 0
    n_sess[idle] += 1
    actor_of_session = np.repeat(np.arange(len(actors.ids)), n_sess)
    profiles = _profiles(actors)[actor_of_session]
    starts = np.empty(len(actor_of_session))
    for name, shape in timing.PROFILES.items():
        sel = profiles == name
        starts[sel] = timing.session_starts(rng, shape, int(sel.sum()))
    return actor_of_session, starts


def _events(
    rng: np.random.Generator, actors: Actors, actor_of_session: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sessions' walks on their actors' chains, in session order: each event's session, state, actor row and
    seconds since its session's first event."""
    s_idx, step, state = _walk(rng, actors.cum, actor_of_session)
    order = np.lexsort((step, s_idx))
    s_idx, state = s_idx[order], state[order]
    a_idx = actor_of_session[s_idx]
    gaps = timing.think_times(rng, actors.median_s[a_idx], actors.sigma[a_idx], actors.tail_p[a_idx])
    first = np.ones(len(s_idx), dtype=bool)
    first[1:] = s_idx[1:] != s_idx[:-1]
    gaps[first] = 0.0
    csum = np.cumsum(gaps)
    offset = csum - np.maximum.accumulate(np.where(first, csum, 0.0))
    return s_idx, state, a_idx, offset


def _apart(
    actors: Actors, actor_of_session: np.ndarray, starts: np.ndarray, s_idx: np.ndarray, offset: np.ndarray
) -> np.ndarray:
    """Each session's start, each person's visits pushed apart so they never overlap (one person, one phone, one
    visit at a time)."""
    n_sessions = len(actor_of_session)
    length_s = np.zeros(n_sessions)
    np.maximum.at(length_s, s_idx, offset)
    emitted = np.zeros(n_sessions, dtype=bool)
    emitted[s_idx] = True
    start = starts.copy()
    person = actors.owner[actor_of_session]
    prev_actor, prev_end = -1, 0.0
    for s in np.lexsort((starts, person)).tolist():
        if not emitted[s]:
            continue
        a = person[s]
        if a == prev_actor:
            start[s] = max(start[s], prev_end + MIN_VISIT_PAUSE_S)
        prev_actor, prev_end = a, start[s] + length_s[s]
    return start


def simulate(config: SimConfig | None = None) -> list[SimDay]:
    """``config.days`` consecutive days from one population: the same ordinary users, new bots each day."""
    population = Population(config or SimConfig())
    return [simulate_day(population, d) for d in range(1, population.config.days + 1)]
