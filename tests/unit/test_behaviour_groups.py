"""Behaviour groups' maths and fit (``model.groups``, ``model.group_fit``), pure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clickguard.model import group_fit, groups
from clickguard.model.group_fit import WindowSessions, dp_means, fit_groups, measure_limit
from clickguard.model.groups import (
    Groups,
    Profiles,
    Space,
    checkpoints_upto,
    dense,
    is_checkpoint,
    signatures,
    sparse,
)
from clickguard.model.scoring import EventBatch
from clickguard.model.vocabulary import index_of
from tests.consumer_support import T0, TOKENS, make_model


def random_profiles(rng, n=40, v=12, entries=150):
    rows, toks = rng.integers(0, n, entries), rng.integers(0, v, entries)
    return Profiles.of(rows, toks, rng.random(entries) * 6, n + 2, v)  # two rows with no surprise at all


def test_divergence_is_the_symmetric_kl_in_bits_of_the_smoothed_profiles():
    rng = np.random.default_rng(0)
    prof = random_profiles(rng)
    g = rng.random(12) + 0.01
    space = Space(g / g.sum(), 8.0)
    c = rng.random((3, 12)) + 0.01
    c /= c.sum(axis=1, keepdims=True)
    p = space.dense(prof, np.arange(prof.n))
    brute = ((p[:, None, :] - c[None]) * (np.log2(p)[:, None, :] - np.log2(c)[None])).sum(axis=-1)
    assert np.allclose(space.divergence(prof, c), brute, atol=1e-12)
    assert np.allclose(p.sum(axis=1), 1.0) and (p > 0).all()
    assert np.allclose(np.diag(space.divergence(prof, p)), 0.0, atol=1e-12)  # a profile to itself


@pytest.mark.parametrize("chunk", [1, 3, 7, 10_000])
def test_divergence_in_chunks_of_whole_rows_is_the_same_to_the_bit(monkeypatch, chunk):
    rng = np.random.default_rng(4)
    prof = random_profiles(rng)
    g = rng.random(12) + 0.01
    c = rng.random((3, 12)) + 0.01
    c /= c.sum(axis=1, keepdims=True)
    whole = Space(g / g.sum(), 8.0).divergence(prof, c)
    monkeypatch.setattr(groups, "_CHUNK_ENTRIES", chunk)
    assert Space(g / g.sum(), 8.0).divergence(prof, c).tobytes() == whole.tobytes()


def test_short_sessions_stay_near_the_background_and_long_ones_move_away():
    g = np.full(4, 0.25)
    space = Space(g, 8.0)
    one = Profiles.of(np.zeros(1), np.array([3]), np.array([1.0]), 1, 4)
    many = Profiles.of(np.zeros(1), np.array([3]), np.array([200.0]), 1, 4)
    d_one, d_many = space.divergence(one, g[None]), space.divergence(many, g[None])
    assert d_one[0, 0] < 0.1 < 1.0 < d_many[0, 0]


def test_stored_distributions_read_back_as_stored_and_positive():
    rng = np.random.default_rng(1)
    dist = rng.random(20) ** 4
    dist /= dist.sum()
    stored = sparse(dist, [f"t{i}" for i in range(20)], keep_mass=0.9, max_tokens=8)
    back = dense(stored, {f"t{i}": i for i in range(20)}, 20)
    assert len(stored["tokens"]) <= 8 and (back > 0).all() and np.isclose(back.sum(), 1.0)
    kept = [int(t[1:]) for t in stored["tokens"]]
    assert np.allclose(back[kept], dist[kept] / dense(stored, {f"t{i}": i for i in range(20)}, 20).sum(), atol=1e-6)
    assert dense(json.loads(json.dumps(stored)), {f"t{i}": i for i in range(20)}, 20).tolist() == back.tolist()


def test_checkpoints_are_the_first_length_times_powers_of_two():
    assert is_checkpoint(np.arange(1, 50), 5).nonzero()[0].tolist() == [4, 9, 19, 39]
    assert checkpoints_upto(47, 5) == [5, 10, 20, 40] and checkpoints_upto(4, 5) == []


def test_signature_is_the_rarest_action_of_the_session():
    tokens = ["START", "OTHER", "common", "rarer", "rarest"]  # a vocabulary is ranked by frequency
    prof = Profiles.of(np.array([0, 0, 1, 1, 2, 2]), np.array([2, 3, 4, 2, 3, 1]), np.ones(6), 4, 5)
    assert signatures(prof, [0, 1, 2, 3], tokens) == ["rarer", "rarest", "OTHER", "-"]


def sessions_of(kinds, n_users, per_user=10, start=0):
    """Users doing one of a few clear behaviours, one session each."""
    users, tokens, ts = [], [], []
    patterns = {"browse": ["view_item", "search"], "chat": ["chat", "purchase"], "odd": ["login#fail", "OTHER"]}
    for u in range(n_users):
        kind = kinds[u % len(kinds)]
        for k in range(per_user):
            users.append(f"{kind}{start + u}")
            tokens.append(patterns[kind][k % 2])
            ts.append(T0 + u * 1000 + k * 5000)
    return EventBatch(users, tokens, ts, [None] * len(users))


@pytest.fixture(scope="module")
def fitted():
    model = make_model()
    batch = sessions_of(["browse", "chat"], 200)
    return model, fit_groups(model, batch)


def test_two_clear_behaviours_make_two_groups_holding_everyone(fitted):
    _, stored = fitted
    assert [g["users"] for g in stored["groups"]] == [100, 100]
    tops = [{t for t, _ in g["typical_tokens"][:2]} for g in stored["groups"]]
    assert sorted(map(sorted, tops)) == [["chat", "purchase"], ["search", "view_item"]]
    assert stored["stats"]["grouped_share"] == 1.0
    assert json.loads(json.dumps(stored)) == stored


def test_a_behaviour_unseen_in_training_fits_no_group_and_carries_its_signature(fitted):
    model, stored = fitted
    groups = Groups.from_dict(stored, model.tokens)
    browse = groups.tag((("search", 5, 7_500_000), ("view_item", 5, 7_500_000)))
    odd = groups.tag((("OTHER", 5, 45_000_000), ("login#fail", 5, 45_000_000)))
    assert browse.fits and not odd.fits
    assert odd.signature == "OTHER" and odd.distance > groups.limit >= browse.distance


def test_blocked_users_are_counted_against_the_groups_they_fit_not_grouped(fitted):
    model, _ = fitted
    batch = sessions_of(["browse", "chat"], 200)
    blocked = [f"browse{u}" for u in range(0, 20, 2)]
    stored = fit_groups(model, batch, blocked)
    assert sum(g["users"] for g in stored["groups"]) == 190
    assert sum(g["blocked"] for g in stored["groups"]) == 10


def test_the_limit_groups_all_but_the_outlier_share_and_a_tighter_one_splits_them():
    model = make_model()
    ws = WindowSessions.of(model, sessions_of(["browse", "chat", "odd"], 300))
    sessions = ws.longest(model.params.min_events)
    rng = np.random.default_rng(0)
    noisy = Profiles.of(  # every user's own mix: no two alike, as people are
        np.repeat(np.arange(len(sessions)), 3),
        rng.integers(2, len(TOKENS), 3 * len(sessions)),
        rng.random(3 * len(sessions)) * 10,
        len(sessions),
        len(TOKENS),
    )
    space = Space(np.full(len(TOKENS), 1 / len(TOKENS)), group_fit.SMOOTHING_BITS)
    limit = measure_limit(noisy, space)
    fit = dp_means(noisy, space, limit)
    assert fit is not None
    sizes = np.bincount(fit.members)
    grouped = sizes[sizes >= group_fit._min_size(noisy.n)].sum() / noisy.n
    assert grouped >= 1 - group_fit.OUTLIER_SHARE
    tight = dp_means(noisy, space, limit / 4)
    assert tight is None or len(tight.centroids) > len(fit.centroids)


def test_a_window_with_too_few_users_publishes_no_groups():
    model = make_model()
    with pytest.raises(ValueError, match="too few to group"):
        fit_groups(model, sessions_of(["browse"], 6))
    out = group_fit.with_groups(model, sessions_of(["browse"], 6))
    assert out.groups is None and out.stats["groups"]["fitted"] is False


def test_the_campaign_baseline_is_each_signatures_busiest_hour_of_ungrouped_users():
    model = make_model()
    batch = sessions_of(["browse", "chat"], 400)
    odd = sessions_of(["odd"], 4, start=1000)  # 4 users within the first hour: too few for a group, outliers
    both = EventBatch(
        [*batch.users, *odd.users], [*batch.tokens, *odd.tokens], [*batch.ts_ms, *odd.ts_ms], [None] * 4040
    )
    stored = fit_groups(model, both)
    assert stored["baseline"] == {"OTHER": 4}
    assert [g["users"] for g in stored["groups"]] == [200, 200]
    assert stored["limit"] >= stored["stats"]["radius"]  # the prefixes of the groups' own sessions fit


def test_the_limit_widens_to_the_noise_of_early_checkpoints():
    """Every browser's session is view/search alternating: whole sessions are identical (radius ~ 0), but the
    3-event prefix (view, search, view) is not their centroid; the limit takes it in, so nobody ordinary is
    counted toward a campaign."""
    model = make_model()
    stored = fit_groups(model, sessions_of(["browse", "chat"], 200))
    assert stored["stats"]["radius"] < stored["limit"]
    assert stored["baseline"] == {} and stored["stats"]["ungrouped_checkpoint_share"] == 0.0


def test_two_fits_of_one_window_are_identical(fitted):
    model, stored = fitted
    assert fit_groups(model, sessions_of(["browse", "chat"], 200)) == stored
    assert index_of(model.tokens)  # the stored groups speak the model's vocabulary


def test_the_groups_travel_in_model_json_and_read_back_as_the_consumer_applies_them(tmp_path, fitted):
    from dataclasses import replace

    from clickguard.model import artifact
    from clickguard.model.groups import groups_of
    from clickguard.store.blobs import LocalDirStore

    model, stored = fitted
    store = LocalDirStore(tmp_path)
    artifact.publish(store, replace(model, groups=stored))
    loaded = artifact.load_latest(store)
    assert loaded.groups == stored
    groups = groups_of(loaded.groups, loaded.tokens, loaded.version)
    assert groups is not None and groups.ids == ("g1", "g2") and groups.limit == stored["limit"]
    assert groups_of(None, loaded.tokens, loaded.version) is None
