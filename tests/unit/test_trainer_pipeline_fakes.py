"""The training job on in-memory ports: window, labels, thin windows, publish order under races, the user cap.

The S3 adapters behind the same ports are tested once against moto in ``tests/integration/test_training_job.py``.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import numpy as np
import pytest

from clickguard import settings
from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.model.user_cap import rank_within_runs, user_cap
from clickguard.training.dataset import EventColumns
from clickguard.training.job import run_training
from clickguard.training.pipeline import InsufficientData, train
from tests.factories import ndjson, ordinary_events
from tests.training_support import (
    NOW,
    FakeArchive,
    FakeLabels,
    MemoryStore,
    config,
    fake_ports,
    pointer,
    window_archive,
)

# --- the job on fakes ---------------------------------------------------------------------------------------------


def test_trains_on_the_window_only_and_publishes():
    archive, events = window_archive()
    archive.add(NOW - timedelta(hours=1), [], raw=b"not gzip")
    ports = fake_ports(archive)
    report = run_training(ports, config(), NOW)
    assert report.status == "published" and report.latest == report.version
    assert (report.objects_read, report.bad_objects, report.events) == (3, 1, len(events))
    assert (report.window_start, report.window_end) == ("2025-11-20T03:00:00Z", "2025-11-27T03:00:00Z")
    assert pointer(ports.models)["version"] == report.version
    assert artifact.load_latest(ports.models).stats["events"] == len(events)


def test_two_runs_write_the_same_bytes_and_the_second_moves_nothing():
    archive, _ = window_archive()
    store = MemoryStore()
    first = run_training(fake_ports(archive, models=store), config(), NOW)
    snapshot = dict(store.blobs)
    second = run_training(fake_ports(archive, models=store), config(), NOW)
    assert second.version == first.version and second.status == "published"
    assert store.blobs == snapshot  # model files rewritten with equal bytes; latest.json untouched
    assert store.writes.count(settings.LATEST_POINTER_KEY) == 1


def test_too_little_data_keeps_the_previous_model():
    archive, _ = window_archive()
    store = MemoryStore()
    good = run_training(fake_ports(archive, models=store), config(), NOW)
    skipped = run_training(fake_ports(archive, models=store), config(), NOW + timedelta(days=30))
    assert skipped.status == "skipped" and "no valid events" in skipped.reason and skipped.version is None
    thin = run_training(fake_ports(archive, models=store), config(min_sessions=10_000), NOW)
    assert thin.status == "skipped" and "fewer than the minimum of 10000" in thin.reason
    assert pointer(store)["version"] == good.version


def test_blocked_users_are_left_out():
    archive, events = window_archive()
    report = run_training(fake_ports(archive, FakeLabels({"user-1", "nobody"})), config(), NOW)
    assert report.stats["excluded_users"] == 2
    assert report.stats["excluded_events"] == sum(1 for e in events if e["user_id"] == "user-1")


# --- publish order ------------------------------------------------------------------------------------------------


def test_a_late_run_for_an_earlier_window_is_superseded():
    archive, _ = window_archive()
    store = MemoryStore()
    newer = run_training(fake_ports(archive, models=store), config(), NOW)
    late = run_training(fake_ports(archive, models=store), config(), NOW - timedelta(hours=6))
    assert late.status == "superseded" and late.latest == newer.version
    assert f"models/{late.version}/model.json" in store.blobs  # written, only not made current
    assert pointer(store)["version"] == newer.version


def test_concurrent_runs_leave_the_newer_model_whichever_writes_last():
    """The older run reads the pointer, then the newer run publishes before the older one writes: the older write
    is refused, re-read, and loses to the newer window."""
    archive, _ = window_archive()
    store = MemoryStore()
    newer_report = {}

    def newer_run_gets_in_first(_key):
        newer_report["r"] = run_training(fake_ports(archive, models=store), config(), NOW + timedelta(hours=1))

    store.before_put_if = newer_run_gets_in_first
    older = run_training(fake_ports(archive, models=store), config(), NOW)
    newer = newer_report["r"]
    assert store.conditional_failures == 1
    assert newer.status == "published" and older.status == "superseded" and older.latest == newer.version
    assert pointer(store)["version"] == newer.version


def test_a_newer_run_retries_past_an_older_writer():
    archive, _ = window_archive()
    store = MemoryStore()
    older_report = {}
    store.before_put_if = lambda _k: older_report.setdefault(
        "r", run_training(fake_ports(archive, models=store), config(), NOW - timedelta(hours=1))
    )
    newer = run_training(fake_ports(archive, models=store), config(), NOW)
    assert older_report["r"].status == "published"  # it got there first, the pointer was empty
    assert newer.status == "published" and pointer(store)["version"] == newer.version


def test_a_pointer_that_never_settles_fails_loudly():
    store = MemoryStore()
    model = fit(end="2025-11-27T00:00:00Z")

    class Restless(MemoryStore):
        def put_if(self, key, data, expected_etag, content_type="application/octet-stream"):
            self.put(key, b"{}")  # somebody else always wins
            super().put_if(key, data, expected_etag, content_type)

    store = Restless()
    with pytest.raises(artifact.PointerContention, match="changed during 3 attempts"):
        artifact.publish(store, model, attempts=3)


def test_rollback_records_what_it_went_back_from():
    store = MemoryStore()
    old, new = fit(seed=1, end="2025-11-26T00:00:00Z"), fit(seed=2, end="2025-11-27T00:00:00Z")
    artifact.publish(store, old)
    artifact.publish(store, new)
    back = artifact.rollback_to(store, old.version)
    assert back["rolled_back_from"] == {"version": new.version, "window_end": "2025-11-27T00:00:00Z"}
    assert json.loads(store.get(settings.LATEST_POINTER_KEY)) == back
    forward = artifact.rollback_to(store, new.version)
    assert "rolled_back_from" not in forward


def test_a_second_rollback_keeps_the_first_ones_hold():
    store = MemoryStore()
    a, b, c = (fit(seed=s, end=f"2025-11-2{s}T00:00:00Z") for s in (4, 5, 6))
    for model in (a, b, c):
        artifact.publish(store, model)
    artifact.rollback_to(store, b.version)
    held = artifact.rollback_to(store, a.version)  # further back
    assert held["rolled_back_from"] == {"version": c.version, "window_end": "2025-11-26T00:00:00Z"}
    again = artifact.rollback_to(store, b.version)  # forward, but not past the model rolled back from
    assert again["rolled_back_from"]["version"] == c.version
    assert not artifact.publish(store, c).moved  # the bad model's window, re-run: the rollback stands


# --- one user cannot dominate -------------------------------------------------------------------------------------


def fit(
    seed: int = 0,
    n_users: int = 300,
    end: str = "2025-11-27T00:00:00Z",
    extra: list[dict] = (),
    base: list[dict] | None = None,
    robust_rounds: int | None = None,
    **params,
):
    cols = EventColumns()
    events = ordinary_events(n_users, seed) if base is None else base
    cols.add_lines(ndjson(events + list(extra)).splitlines())
    model, _ = train(
        cols,
        ModelParams(min_token_count=1, **params),
        window_start="2025-11-20T00:00:00Z",
        window_end=end,
        created_at=end,
        min_sessions=10,
        **({} if robust_rounds is None else {"robust_rounds": robust_rounds}),
    )
    return model


T0 = 1_763_700_000  # seconds


def flood(n_events: int = 20_000, n_sessions: int = 500, user: str = "bot") -> list[dict]:
    """One user's long sessions of a transition ordinary users never make."""
    per = n_events // n_sessions
    return [
        {"user_id": user, "event_type": "export_listing" if k % 2 else "view_item", "timestamp": T0 + s * 3 * 3600 + k}
        for s in range(n_sessions)
        for k in range(per)
    ]


def test_one_flooding_user_is_capped_to_its_share_of_the_counts():
    # the robust refit (which would leave the flooder out of the counts altogether) is off: this is the cap alone
    model, uncapped = fit(extra=flood(), robust_rounds=0), fit(extra=flood(), max_user_share=1.0, robust_rounds=0)
    cap = model.stats["user_cap"]
    kept = cap["transitions"]["cap"]
    assert cap["max_user_share"] == settings.DEFAULT_MAX_USER_SHARE
    assert cap["transitions"]["users_capped"] == 1 and cap["transitions"]["dropped"] == 20_000 - kept
    assert model.stats["transitions"] == int(model.counts.sum()) == uncapped.stats["transitions"] - 20_000 + kept
    # what the bot still contributes is about 1% of the counts (the floor: twice a busy user), not 85%
    assert kept <= 0.012 * model.counts.sum()
    assert model.counts[:, model.index["export_listing"]].sum() <= kept
    assert uncapped.stats["user_cap"]["transitions"]["cap"] is None
    assert uncapped.counts[:, uncapped.index["export_listing"]].sum() == 10_000
    # so the bot's habit stays surprising to the capped model, and is "normal" to the uncapped one
    capped_bits = model.surprisal[model.index["view_item"], model.index["export_listing"]]
    uncapped_bits = uncapped.surprisal[uncapped.index["view_item"], uncapped.index["export_listing"]]
    assert capped_bits > uncapped_bits + 3


def one_session_each(n_users: int = 300, length: int = 20) -> list[dict]:
    """Every user one long session: few calibration sessions, many transitions."""
    kinds = ["view_item", "search", "view_item", "chat", "purchase"]
    return [
        {"user_id": f"user-{u}", "event_type": kinds[(u + k) % len(kinds)], "timestamp": T0 + u * 7 + k * 30}
        for u in range(n_users)
        for k in range(length)
    ]


def test_one_users_many_short_sessions_are_capped_in_the_calibration():
    """A user within the transition cap whose many short sessions would set the quantiles that judge them."""
    many = [
        {"user_id": "bot", "event_type": "login", "outcome": "fail", "timestamp": T0 + s * 3 * 3600 + k}
        for s in range(12)
        for k in range(5)
    ]
    capped = fit(base=one_session_each(), extra=many)
    uncapped = fit(base=one_session_each(), extra=many, max_user_share=1.0)
    stats = capped.stats["user_cap"]
    assert stats["transitions"]["cap"] is None  # 60 transitions of 6,060: not too many
    assert stats["calibration_sessions"] == {"cap": 3, "users_capped": 1, "dropped": 9}
    assert np.array_equal(capped.counts, uncapped.counts)  # the counts are the same; only calibration differs
    assert capped.thresholds.eligible_sessions == uncapped.thresholds.eligible_sessions - 9 == 303


def test_a_window_without_a_long_enough_session_is_refused():
    with pytest.raises(InsufficientData, match="at least 5 events to calibrate"):
        fit(base=one_session_each(length=4), min_events=5)


def test_an_ordinary_window_trains_exactly_as_without_a_cap():
    capped, uncapped = fit(seed=5), fit(seed=5, max_user_share=1.0)
    assert capped.stats["user_cap"]["transitions"] == {"cap": None, "users_capped": 0, "dropped": 0}
    assert capped.stats["user_cap"]["calibration_sessions"]["cap"] is None
    assert np.array_equal(capped.counts, uncapped.counts) and capped.thresholds == uncapped.thresholds
    assert capped.tokens == uncapped.tokens


def test_the_share_is_validated_once():
    low, high = settings.MODEL_PARAM_RANGES["max_user_share"]
    with pytest.raises(ValueError, match="max_user_share=0"):
        ModelParams(max_user_share=0).validate()
    with pytest.raises(ValueError, match=r"max_user_share=1\.5"):
        ModelParams(max_user_share=1.5).validate()
    assert ModelParams(max_user_share=low).validate() and ModelParams(max_user_share=high).validate()


def expected_cap(amounts: np.ndarray, share: float) -> int | None:
    """The rule of ``user_cap`` by brute force: every candidate cap tried."""
    top = int(amounts.max())
    share_cap = max(c for c in range(top + 1) if c <= share * np.minimum(amounts, c).sum())
    ranked = np.sort(amounts)[::-1]
    floor = 2 * int(ranked[max(1, int(0.1 * len(amounts)))])
    cap = max(share_cap, floor)
    return None if cap >= top else cap


@pytest.mark.parametrize("seed", range(20))
def test_the_cap_is_the_largest_that_holds_every_user_to_the_share_above_the_floor(seed):
    rng = np.random.default_rng(seed)
    amounts = rng.integers(1, 30, size=int(rng.integers(150, 600)))
    floods = int(rng.integers(1, 6))
    amounts[:floods] = rng.integers(500, 5000, size=floods)  # a bot, or a small botnet
    share = float(rng.choice([0.005, 0.01, 0.02]))
    cap = user_cap(amounts, share)
    assert cap == expected_cap(amounts, share) and cap is not None
    held = np.minimum(amounts, cap)
    assert held.max() <= max(share * held.sum(), 2 * 29)  # the share, unless the floor (twice a busy user) binds


def test_the_cap_leaves_small_and_even_windows_alone_but_trims_a_flood():
    assert user_cap(np.array([5] * 30), 0.01) is None
    assert user_cap(np.array([3, 2, 2, 1, 2]), 0.01) is None  # three sessions where the others have two
    assert user_cap(np.array([1_000_000, 20, 18, 15, 11] + [10] * 25), 0.01) == 30  # twice the 90th-percentile user
    assert user_cap(np.array([7]), 0.01) is None  # nobody to weigh a lone user against
    assert user_cap(np.array([10**6, 20] + [10] * 28), 1.0) is None  # 1.0 switches the cap off


def test_rank_within_runs():
    assert rank_within_runs(np.array([0, 0, 0, 3, 3, 7])).tolist() == [0, 1, 2, 0, 1, 0]
    assert rank_within_runs(np.array([], dtype=np.int64)).tolist() == []


def test_a_window_too_thin_to_calibrate_is_skipped_not_crashed():
    archive = FakeArchive()
    short = settings.DEFAULT_MIN_EVENTS - 1  # one session, too short to judge
    archive.add(NOW, [{"user_id": "u", "event_type": "view_item", "timestamp": T0 + k} for k in range(short)])
    report = run_training(fake_ports(archive), config(min_sessions=1), NOW)
    assert report.status == "skipped" and "to calibrate on" in report.reason
    assert report.objects_read == 1 and archive.reads == 1


def test_models_that_score_differently_never_share_a_version():
    """The version digests all the model holds: two windows that differ only in a blocked user's events (left out of
    the counts, read by the detector's supervised part) give equal counts and different versions; the same window
    gives the same version again."""
    from dataclasses import replace

    from clickguard.sim.generator import simulate
    from clickguard.sim.population import SimConfig
    from clickguard.sim.quality import columns_of, sample_block_list

    (day,) = simulate(SimConfig(users=300, seed=4, days=1, start_date="2025-11-20").validate())
    cols, blocked = columns_of(day), sample_block_list(day.labels, 1.0, 4)

    def fit(window: EventColumns):
        return train(window, ModelParams(), window_start="2025-11-20T00:00:00Z", window_end="2025-11-21T00:00:00Z",
                     created_at="2025-11-21T00:00:00Z", min_sessions=10, exclude_users=blocked)[0]  # fmt: skip

    blocked_set = set(blocked)
    rows = [i for i, u in enumerate(cols.users) if u in blocked_set]
    i, j = next((a, b) for a, b in itertools.pairwise(rows) if cols.tokens[a] != cols.tokens[b])
    tokens = list(cols.tokens)
    tokens[i], tokens[j] = tokens[j], tokens[i]
    first, again, swapped = fit(cols), fit(cols), fit(replace(cols, tokens=tokens))
    assert first.version == again.version
    assert np.array_equal(first.counts, swapped.counts) and first.detector != swapped.detector
    assert first.version != swapped.version
