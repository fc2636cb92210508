"""Splitting a user's event stream into sessions: the same rule for training and for the live consumer.

A new session starts on a new user, on an inactivity gap longer than ``gap_ms`` and on a change of a
producer-supplied session id (a missing id on either side never splits on its own).
"""

from __future__ import annotations

import numpy as np


def session_starts(user_codes: np.ndarray, ts_ms: np.ndarray, sid_codes: np.ndarray, gap_ms: int) -> np.ndarray:
    """Boolean mask of events that open a session. Inputs are already ordered by user, then time.

    ``sid_codes`` holds a non-negative code per distinct session id and -1 where the event had none.
    """
    n = len(user_codes)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        same_user = user_codes[1:] == user_codes[:-1]
        gap = (ts_ms[1:] - ts_ms[:-1]) > gap_ms
        prev_sid, sid = sid_codes[:-1], sid_codes[1:]
        sid_changed = (prev_sid >= 0) & (sid >= 0) & (prev_sid != sid)
        starts[1:] = ~same_user | gap | sid_changed
    return starts


def previous_states(states: np.ndarray, starts: np.ndarray, start_index: int) -> np.ndarray:
    """The state each event transitions from: the previous event's state, or ``START`` at a session start."""
    prev = np.empty_like(states)
    prev[0:1] = start_index
    prev[1:] = states[:-1]
    prev[starts] = start_index
    return prev
