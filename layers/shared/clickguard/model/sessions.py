"""Splitting a user's event stream into sessions: one rule, used by the consumer (``scoring.score_batch``) and
by training (``training.pipeline``), so the sessions a model learns from are the sessions it is applied to.

Events are taken per user in arrival order (the order Kinesis keeps per partition key, and the order the archive
stores them). Timestamps only decide where sessions break:

* a user's first event opens a session;
* the gap is measured from the user's *latest* event time so far (a running maximum), so an event out of order
  by less than ``gap_ms`` continues the session and never moves the latest time backwards; a gap longer than
  ``gap_ms`` opens a session;
* a producer-supplied session id opens a session when it differs from the last session id the user sent
  (carried across events without one: ids ``s1, None, s2`` are two sessions; a missing id never splits) and the
  user has been quiet for ``SESSION_ID_QUIET_MS`` at least. The id is the client's to choose: a bot that sent a
  new one with every request made every request a session of one event, and its rate, regularity and repetition
  were never seen (a tester's scrapers went from average precision 1.0 to 0.02 that way). People get a new id
  after a pause (the usual 30-minute idle rule of analytics SDKs) or at a login (web frameworks renew the session
  id there), and a login seconds after browsing is the same visit;
* late events, older than the user's latest time minus ``gap_ms``, belong to a session that has already closed:
  the consumer skips them (``consumer.admission``) and training drops them (``late_events``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SESSION_ID_QUIET_MS = 60_000


@dataclass(frozen=True)
class Breaks:
    first: np.ndarray  # the event is its user's first
    run_max: np.ndarray  # the user's latest event time up to and including this event
    carried_sid: np.ndarray  # the last session id code the user sent up to this event (-1: none yet)
    starts: np.ndarray  # the event opens a session


def _run_max(user_codes: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
    """Running max of time per user: offset each user's times so one accumulate never crosses users."""
    base = int(ts_ms.min())
    offset = int(ts_ms.max()) - base + 1
    shifted: np.ndarray = np.maximum.accumulate(user_codes * offset + (ts_ms - base)) - user_codes * offset + base
    return shifted


def _first_of_user(user_codes: np.ndarray) -> np.ndarray:
    first = np.ones(len(user_codes), dtype=bool)
    first[1:] = user_codes[1:] != user_codes[:-1]
    return first


def session_breaks(user_codes: np.ndarray, ts_ms: np.ndarray, sid_codes: np.ndarray, gap_ms: int) -> Breaks:
    """The rule above over events grouped by user (arrival order kept within a user). ``sid_codes`` holds a
    non-negative code per distinct session id and -1 where the event had none."""
    m = len(user_codes)
    pos = np.arange(m)
    first = _first_of_user(user_codes)
    if m == 0:
        return Breaks(first, ts_ms.copy(), sid_codes.copy(), first.copy())
    group_start = np.maximum.accumulate(np.where(first, pos, 0))
    run_max = _run_max(user_codes, ts_ms)
    last_sid_pos = np.maximum.accumulate(np.where(sid_codes >= 0, pos, -1))
    carried_sid = np.where(last_sid_pos >= group_start, sid_codes[np.maximum(last_sid_pos, 0)], -1)
    starts = first.copy()
    gaps = ts_ms[1:] - run_max[:-1]
    starts[1:] |= gaps > gap_ms
    new_id = (sid_codes[1:] >= 0) & (carried_sid[:-1] >= 0) & (sid_codes[1:] != carried_sid[:-1])
    starts[1:] |= new_id & (gaps >= SESSION_ID_QUIET_MS)
    return Breaks(first, run_max, carried_sid, starts)


def session_starts(user_codes: np.ndarray, ts_ms: np.ndarray, sid_codes: np.ndarray, gap_ms: int) -> np.ndarray:
    """Boolean mask of events that open a session (see ``session_breaks``)."""
    return session_breaks(user_codes, ts_ms, sid_codes, gap_ms).starts


def late_events(user_codes: np.ndarray, ts_ms: np.ndarray, gap_ms: int) -> np.ndarray:
    """Events older than their user's latest earlier time minus ``gap_ms`` (grouped by user, arrival order).

    A late event never raises the running maximum, so dropping late events leaves the others' verdicts unchanged.
    """
    late = np.zeros(len(user_codes), dtype=bool)
    if len(user_codes) > 1:
        before = _run_max(user_codes, ts_ms)[:-1]
        late[1:] = ~_first_of_user(user_codes)[1:] & (ts_ms[1:] < before - gap_ms)
    return late


def previous_states(states: np.ndarray, starts: np.ndarray, start_index: int) -> np.ndarray:
    """The state each event transitions from: the previous event's state, or ``START`` at a session start."""
    prev = np.empty_like(states)
    prev[0:1] = start_index
    prev[1:] = states[:-1]
    prev[starts] = start_index
    return prev
