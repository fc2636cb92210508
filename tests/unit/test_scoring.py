"""The vectorised batch update equals event-by-event scoring, whatever the batching."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.model.model import ModelParams
from clickguard.model.scoring import EventBatch, ScoringTable, SessionState, apply_event, score_batch
from clickguard.model.transitions import smoothed_probabilities, surprisal_bits, to_microbits
from clickguard.model.vocabulary import START_INDEX, index_of
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import train

TOKENS = ("START", "OTHER", "view", "search", "login", "login#fail", "buy")
GAP_MS = 60_000


def random_table(seed: int) -> ScoringTable:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 50, (len(TOKENS), len(TOKENS)))
    return ScoringTable(TOKENS, to_microbits(surprisal_bits(smoothed_probabilities(counts, 0.5))), "v1")


event_st = st.tuples(
    st.sampled_from(["a", "b", "c", "d"]),  # user
    st.sampled_from([*TOKENS[2:], "never-seen"]),  # token (one unseen -> OTHER)
    st.integers(-30_000, 120_000),  # time step, negative = out of order, > GAP = session break
    st.sampled_from([None, None, None, "s1", "s2"]),  # producer session id
)


def reference(events, table, prior=None):
    states = dict(prior or {})
    for user, token, ts, sid in events:
        states[user], _ = apply_event(states.get(user), token, ts, sid, table, GAP_MS)
    return states


def batched(events, cuts, table, prior=None):
    states = dict(prior or {})
    bounds = [0, *sorted(set(cuts)), len(events)]
    segments = []
    for lo, hi in itertools.pairwise(bounds):
        chunk = events[lo:hi]
        if not chunk:
            continue
        columns = EventBatch(*(list(col) for col in zip(*chunk, strict=True)))
        result = score_batch(table, GAP_MS, columns, states)
        states.update(result.final)
        segments.extend(result.segments)
    return states, segments


def with_times(raw):
    t, out = 1_700_000_000_000, []
    for user, token, step, sid in raw:
        t += step
        out.append((user, token, t, sid))
    return out


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(event_st, min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=8),
    seed=st.integers(0, 3),
)
def test_any_batching_equals_event_by_event(raw, cuts, seed):
    table = random_table(seed)
    events = with_times(raw)
    expected = reference(events, table)
    got, _ = batched(events, [c for c in cuts if c <= len(events)], table)
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(raw=st.lists(event_st, min_size=2, max_size=40), split=st.integers(1, 39))
def test_prior_state_from_storage_continues_exactly(raw, split):
    table = random_table(1)
    events = with_times(raw)
    split = min(split, len(events) - 1)
    first = reference(events[:split], table)
    assert batched(events[split:], [], table, prior=first)[0] == reference(events, table)


@settings(max_examples=50, deadline=None)
@given(raw=st.lists(event_st, min_size=2, max_size=30), split=st.integers(1, 29))
def test_stored_sessions_counted_under_an_older_vocabulary_continue_exactly(raw, split):
    """A retrained model may drop a token the stored sessions still count: the counts keep it by name."""
    old_tokens = (*TOKENS, "legacy")
    rng = np.random.default_rng(5)
    old = ScoringTable(old_tokens, rng.integers(1, 9_000_000, (len(old_tokens),) * 2), "v0")
    events = with_times([(u, "legacy" if t == "never-seen" else t, step, sid) for u, t, step, sid in raw])
    split = min(split, len(events) - 1)
    first = reference(events[:split], old)
    table = random_table(2)
    assert batched(events[split:], [], table, prior=first)[0] == reference(events[split:], table, prior=first)


def test_segments_report_each_session_touched_by_a_batch():
    table = random_table(0)
    t = 1_700_000_000_000
    events = [("a", "view", t, None), ("a", "buy", t + 1000, None), ("a", "login", t + 10 * GAP_MS, None)]
    _, segments = batched(events, [], table)
    assert [(s.user_key, s.state.transitions, s.is_final) for s in segments] == [("a", 2, False), ("a", 1, True)]


def test_top_transitions_are_the_most_surprising_with_positions():
    table = random_table(2)
    t = 1_700_000_000_000
    tokens = ["view", "login#fail", "login#fail", "buy", "search", "view", "buy"]
    events = [("u", tok, t + i * 1000, None) for i, tok in enumerate(tokens)]
    state, _ = batched(events, [3], table)
    top = state["u"].top
    index = index_of(TOKENS)
    prev = ["START", *tokens[:-1]]
    pairs = enumerate(zip(prev, tokens, strict=True))
    all_bits = sorted(
        ((int(table.microbits[index[a], index[b]]), i + 1, a, b) for i, (a, b) in pairs), key=lambda x: (-x[0], x[1])
    )[:3]
    assert [(x.ubits, x.position, x.from_token, x.to_token) for x in top] == all_bits
    assert state["u"].total_ubits == sum(
        int(table.microbits[index[a], index[b]]) for a, b in zip(prev, tokens, strict=True)
    )


def test_unscored_table_tracks_sessions_without_bits():
    table = ScoringTable.unscored()
    state, _ = batched([("u", "view", 1_700_000_000_000, None), ("u", "x", 1_700_000_001_000, None)], [], table)
    assert state["u"].transitions == 2 and state["u"].total_ubits == 0 and state["u"].top == ()


def test_mean_bits_ranks_users_exactly_as_the_thesis_score():
    """The thesis scores a user by exp(mean ln p) with natural logs; mean bits must give the same order."""
    rng = np.random.default_rng(7)
    cols = EventColumns()
    t0 = 1_700_000_000_000
    for u in range(200):
        t = t0
        for _ in range(int(rng.integers(3, 25))):
            t += int(rng.integers(1000, 60_000))
            cols.users.append(f"u{u}")
            cols.tokens.append(str(rng.choice(TOKENS[2:], p=[0.5, 0.2, 0.15, 0.05, 0.1])))
            cols.ts_ms.append(t)
            cols.session_ids.append(None)
            cols.event_ids.append(None)
    model, _ = train(
        cols, ModelParams(min_token_count=1), window_start="s", window_end="e", created_at="c", min_sessions=1
    )
    table = ScoringTable.from_model(model)
    probs = smoothed_probabilities(model.counts, model.params.smoothing)
    index = model.index
    states: dict[str, SessionState] = {}
    thesis: dict[str, float] = {}
    by_user: dict[str, list[str]] = {}
    for user, tok in zip(cols.users, cols.tokens, strict=True):
        by_user.setdefault(user, []).append(tok)
    for user, toks in by_user.items():
        prev = [START_INDEX] + [index[t] for t in toks[:-1]]
        lnp = [math.log(probs[a, index[b]]) for a, b in zip(prev, toks, strict=True)]
        thesis[user] = math.exp(sum(lnp) / len(lnp))
    result = score_batch(table, model.params.gap_ms, cols, {})
    states = result.final
    by_thesis = sorted(thesis, key=lambda u: (thesis[u], u))
    by_bits = sorted(states, key=lambda u: (-states[u].mean_bits, u))
    # Equal up to ties closer than float32 storage can separate.
    assert by_thesis == by_bits or all(
        abs(states[a].mean_bits - states[b].mean_bits) < 1e-5 for a, b in zip(by_thesis, by_bits, strict=True) if a != b
    )
    for user in states:
        assert states[user].score == pytest.approx(thesis[user], rel=1e-5)
