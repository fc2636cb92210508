"""The simulator: seedable, labelled beside (not inside) ids, realistic shape, canonical output."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from clickguard.events import parse_record
from clickguard.sim import ABNORMAL_TYPES, Population, SimConfig, UserType, simulate, simulate_day
from clickguard.sim.output import ndjson_lines, read_labels, write_day

GAP_MS = 30 * 60 * 1000


@pytest.fixture(scope="module")
def days():
    return simulate(SimConfig(users=600, seed=11))


def test_same_seed_same_days_and_other_seed_differs(days):
    again = simulate(SimConfig(users=600, seed=11))
    for a, b in zip(days, again, strict=True):
        assert a.user_ids.tolist() == b.user_ids.tolist()
        assert np.array_equal(a.ts_ms, b.ts_ms) and np.array_equal(a.states, b.states)
    other = simulate(SimConfig(users=600, seed=12))
    assert other[0].user_ids.tolist() != days[0].user_ids.tolist()


def test_every_type_on_both_days_and_mostly_benign(days):
    for day in days:
        kinds = Counter(day.labels.values())
        assert set(kinds) == {t.value for t in UserType}, kinds  # abnormal users already on day 1
        abnormal = sum(kinds[t.value] for t in ABNORMAL_TYPES)
        assert 0.02 < abnormal / sum(kinds.values()) < 0.1


def test_ids_do_not_encode_the_type(days):
    ids = list(days[0].labels)
    assert all(i.isdigit() and len(i) == 8 for i in ids)


def test_ordinary_users_keep_their_ids_bots_rotate(days):
    d1, d2 = days
    benign1 = {u for u, t in d1.labels.items() if not UserType(t).abnormal}
    benign2 = {u for u, t in d2.labels.items() if not UserType(t).abnormal}
    assert len(benign1 & benign2) > 0.6 * len(benign2)
    bots1 = {u for u, t in d1.labels.items() if t in ("scraper", "spammer", "credential_stuffer")}
    bots2 = {u for u, t in d2.labels.items() if t in ("scraper", "spammer", "credential_stuffer")}
    assert not bots1 & bots2
    takeovers = {u for u, t in d2.labels.items() if t == "account_takeover"}
    assert takeovers <= benign1 | {u for u, t in d1.labels.items() if t == "account_takeover"}  # real accounts


def test_time_ordered_within_the_day_with_sessions_and_failures(days):
    day = days[0]
    assert np.all(np.diff(day.ts_ms) >= 0)
    hours = (day.ts_ms // 3_600_000) % 24
    by_hour = np.bincount(hours, minlength=24)
    assert by_hour[20:23].sum() > 2 * by_hour[3:6].sum()  # people sleep; the evening is busy
    tokens = day.tokens()
    assert sum(t.endswith("#fail") for t in tokens) > 0.005 * len(tokens)
    # Several visits per user separated by more than the 30-minute gap
    per_user = {}
    for u, t in zip(day.user_ids.tolist(), day.ts_ms.tolist(), strict=True):
        per_user.setdefault(u, []).append(t)
    multi = sum(1 for ts in per_user.values() if np.any(np.diff(ts) > GAP_MS))
    assert multi > 0.3 * len(per_user)


def test_stuffers_flood_failed_logins_and_takeovers_change_credentials(days):
    day = days[1]
    toks = np.asarray(day.tokens(), dtype=object)
    kind = np.array([day.labels[u] for u in day.user_ids.tolist()])
    stuffer = toks[kind == "credential_stuffer"]
    assert (stuffer == "login#fail").mean() > 0.5 and (stuffer == "login").any()
    ato = set(toks[kind == "account_takeover"].tolist())
    assert {"change_password", "add_payout_method", "withdraw_funds"} <= ato


def test_ndjson_is_canonical_and_labels_are_beside(tmp_path, days):
    day = days[0]
    events, labels = write_day(day, tmp_path)
    lines = events.read_text().splitlines()
    assert len(lines) == len(day)
    first = json.loads(lines[0])
    assert set(first) == {"user_id", "event_type", "timestamp", "outcome", "session_id", "event_id"}
    assert first["timestamp"].endswith("Z")
    parsed = [parse_record(line) for line in lines[:500]]
    assert [p.token for p in parsed] == day.tokens()[:500]
    assert read_labels(labels) == day.labels
    assert "user_type" not in events.read_text()[:10000]


def test_a_default_day_has_a_few_thousand_users_and_about_100k_events():
    population = Population(SimConfig())
    day = simulate_day(population, 1)
    assert 50_000 < len(day) < 200_000  # a few thousand users, ~100k events
    assert len(day.labels) > 2000


def test_bad_config_says_what_is_wrong():
    with pytest.raises(ValueError, match="users=3"):
        SimConfig(users=3).validate()
    with pytest.raises(ValueError, match="abnormal_share"):
        SimConfig(abnormal_share=0.7).validate()


def test_ndjson_lines_round_trip_outcome():
    day = simulate(SimConfig(users=50, days=1, seed=3))[0]
    objs = [json.loads(x) for x in ndjson_lines(day)]
    assert {o["outcome"] for o in objs} <= {"success", "fail"}
