"""Training and the consumer split the same events into the same sessions (``clickguard.model.sessions``)."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.admission import admit
from clickguard.consumer.state import UserState
from clickguard.model.model import ModelParams
from clickguard.model.scoring import EventBatch, ScoringTable, score_batch
from clickguard.model.sessions import SESSION_ID_QUIET_MS
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import clean_window, order_and_cap, split_sessions
from tests.consumer_support import T0, to_records

GAP_MS = ModelParams().gap_ms
QUIET_MS = SESSION_ID_QUIET_MS


def training_sessions(events):
    cols = EventColumns()
    for e in events:
        cols.users.append(e["user_id"])
        cols.tokens.append(e["event_type"])
        cols.ts_ms.append(int(e["timestamp"] * 1000))
        cols.session_ids.append(e.get("session_id"))
        cols.event_ids.append(None)
    window = clean_window(cols, ())
    ordered = order_and_cap(window.cols, 1.0, GAP_MS)
    moves = split_sessions(ordered, {}, GAP_MS)
    names = list(dict.fromkeys(window.cols.users))
    out: dict[str, list[int]] = {}
    for i, user_code in enumerate(ordered.users.tolist()):
        lengths = out.setdefault(names[user_code], [])
        if moves.starts[i]:
            lengths.append(0)
        lengths[-1] += 1
    return out


def consumer_sessions(events, cuts):
    """The consumer's own steps (admission, then the vectorised update) batch by batch, as the handler runs them."""
    from clickguard.events import parse_object

    recs = to_records(events)
    parsed = [parse_object(e) for e in events]
    table = ScoringTable.unscored()
    states: dict[str, UserState] = {}
    sessions: dict[tuple[str, int], int] = {}
    bounds = [0, *sorted(set(cuts)), len(recs)]
    for lo, hi in itertools.pairwise(bounds):
        adm = admit(recs[lo:hi], parsed[lo:hi], states, GAP_MS)
        idx = adm.applied
        batch = EventBatch(
            [parsed[lo + i].user_key for i in idx],
            [parsed[lo + i].token for i in idx],
            adm.ts_ms,
            [parsed[lo + i].session_id for i in idx],
        )
        prior = {u: (s.session if (s := states.get(u)) else None) for u in adm.touched}
        result = score_batch(table, GAP_MS, batch, prior)
        for segment in result.segments:
            sessions[(segment.user_key, segment.state.first_ts_ms)] = segment.state.transitions
        for user, seqs in adm.touched.items():
            states[user] = UserState(user, result.final.get(user) or prior[user], seqs)
    out: dict[str, list[int]] = {}
    for (user, _), n in sessions.items():
        out.setdefault(user, []).append(n)
    return out


@st.composite
def streams(draw):
    t, events = T0, []
    for _ in range(draw(st.integers(1, 60))):
        t += draw(st.sampled_from([1_000, 40_000, QUIET_MS - 1, QUIET_MS, GAP_MS + 1, 2 * GAP_MS]))
        ts = t - draw(st.sampled_from([0, 0, 0, 5_000, GAP_MS + 60_000]))  # out of order, or late
        events.append(
            {
                "user_id": draw(st.sampled_from("abc")),
                "event_type": draw(st.sampled_from("xyz")),
                "timestamp": ts / 1000 + draw(st.integers(0, 999)) / 1e6,
                "session_id": draw(st.sampled_from([None, None, "s1", "s2"])),
            }
        )
    return events, draw(st.lists(st.integers(0, len(events)), max_size=5))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(streams())
def test_the_trainer_and_the_consumer_cut_the_same_sessions(case):
    events, cuts = case
    assert training_sessions(events) == consumer_sessions(events, cuts)


def test_a_missing_session_id_does_not_merge_two_ids_and_late_events_are_dropped():
    rng = random.Random(0)
    t = T0 / 1000
    events = [
        {"user_id": "a", "event_type": "x", "timestamp": t + at, "session_id": sid}
        for at, sid in [(0, "s1"), (1, None), (62, "s2"), (63, None), (64, "s2")]  # s2 after a minute's quiet
    ]
    events.append({"user_id": "a", "event_type": "x", "timestamp": t - 3 * 3600})  # hours late
    events.append({"user_id": "a", "event_type": "y", "timestamp": t + 70 + rng.random()})
    assert training_sessions(events) == {"a": [2, 4]} == consumer_sessions(events, [])


def test_a_new_session_id_without_a_pause_continues_the_session():
    """A client that sends a new id with every request (a bot hiding its pace) stays one session; the same ids
    after a minute's quiet each open one."""
    t = T0 / 1000
    rotating = [{"user_id": "bot", "event_type": "view", "timestamp": t + k, "session_id": f"s{k}"} for k in range(50)]
    paused = [{"user_id": "p", "event_type": "view", "timestamp": t + 60 * k, "session_id": f"s{k}"} for k in range(5)]
    assert training_sessions(rotating + paused) == {"bot": [50], "p": [1] * 5}
    assert consumer_sessions(rotating + paused, [7, 30]) == {"bot": [50], "p": [1] * 5}
