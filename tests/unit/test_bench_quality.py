"""The quality benchmark's machinery on a tiny grid: structure of the output, AP's range and its definition."""

from __future__ import annotations

import numpy as np
import pytest

from bench import quality_baselines as qb
from bench.bench_quality import (
    METHODS,
    Method,
    average_precision,
    format_report,
    random_mix,
    run_grid,
)
from bench.quality_bound import evidence_bound, evident_abusers
from clickguard.model import detector
from clickguard.sim import simulate
from clickguard.sim.catalog import STATES, is_abnormal
from clickguard.sim.generator import SimDay
from clickguard.sim.population import SimConfig
from clickguard.sim.quality import columns_of


@pytest.fixture(scope="module")
def grid():
    return run_grid([1], 300, regimes={"full": 1.0})


def test_tiny_grid_has_one_cell_per_method_and_mix_with_measures_in_range(grid):
    names = [m.name for m in METHODS]
    assert sorted((c.method, c.mix) for c in grid.cells) == sorted((m, x) for m in names for x in ("default", "random"))
    for cell in grid.cells:
        assert (cell.seed, cell.regime) == (1, "full")
        assert cell.ap is not None and 0.0 <= cell.ap <= 1.0, cell
        assert 0.0 <= cell.precision <= 1.0 and 0.0 <= cell.recall <= 1.0, cell
    assert {c.method for c in grid.cells if c.ap is not None} == set(names)
    assert set(grid.base_rate) == set(grid.bound) == {(1, "default"), (1, "random")}
    assert all(grid.base_rate[k] <= grid.bound[k] <= 1.0 for k in grid.bound)
    report = format_report(grid, names)
    assert all(name in report for name in names)
    assert "mix=default  labels=full" in report and "mix=random  labels=full" in report
    assert "Summary over seeds, AP" in report and "Evidence bound, mean over seeds: default" in report


def _truth_scorer(sign: float):
    def score(train_day, test_day, block_list, seed):
        scores = {u: sign * float(is_abnormal(t)) for u, t in test_day.labels.items()}
        return qb.Scored(scores, {u for u, s in scores.items() if s > 0})

    return score


def test_a_perfect_scorer_gets_ap_1_and_an_inverted_one_does_not():
    methods = [Method("perfect", _truth_scorer(1.0)), Method("inverted", _truth_scorer(-1.0))]
    cells = {c.method: c for c in run_grid([2], 300, regimes={"none": 0.0}, mixes=["default"], methods=methods).cells}
    assert cells["perfect"].ap == pytest.approx(1.0)
    assert (cells["perfect"].precision, cells["perfect"].recall) == (1.0, 1.0)
    assert cells["inverted"].ap < 0.2
    assert cells["inverted"].recall == 0.0


def test_supervised_baseline_is_na_without_labels():
    methods = [m for m in METHODS if m.name == "rforest"]
    (cell,) = run_grid([1], 300, regimes={"none": 0.0}, mixes=["default"], methods=methods).cells
    assert cell.ap is None


def test_average_precision_matches_its_definition_with_ties():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(200) < 0.1
        y[0] = True
        s = rng.integers(0, 15, 200).astype(float)  # many ties
        assert average_precision(y, s) == pytest.approx(sklearn_metrics.average_precision_score(y, s))
    assert average_precision([True, False, True], [3.0, 2.0, 1.0]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([False, True], [1.0, 1.0]) == pytest.approx(0.5)  # one tie = one threshold


def test_v1_continuous_score_passes_1_exactly_for_the_users_the_rule_flags():
    days = simulate(SimConfig(users=300, seed=3))
    scored = qb.clickguard_v1(days[0], days[1], [], 3)
    assert scored.flagged  # the check below means something
    assert scored.flagged == {u for u, s in scored.scores.items() if s > 1.0}


def test_random_mixes_stay_in_the_documented_ranges():
    for seed in range(1, 30):
        cfg = random_mix(seed, 300).validate()
        assert 0.01 <= cfg.abnormal_share <= 0.20
        assert sum(cfg.abnormal_mix.values()) == pytest.approx(1.0)


def test_v2_is_the_products_detector_with_labels_blended_only_when_validated():
    d1, d2 = simulate(SimConfig(users=400, seed=3, days=2))[:2]
    block = sorted(u for u, t in d1.labels.items() if is_abnormal(t))
    model = qb._v2_model(d1, block)
    fitted = detector.fit(model, columns_of(d1), block, seed=3)
    assert fitted.blend is None or fitted.blend.ap_blend > fitted.blend.ap_unsupervised
    blended = qb.clickguard_v2(d1, d2, block, 3)
    verdicts = detector.apply(fitted, model, columns_of(d2))
    assert blended.scores == dict(zip(verdicts.names, verdicts.scores.tolist(), strict=True))
    assert blended.flagged == {u for u, s in blended.scores.items() if s > fitted.threshold}
    assert set(qb.clickguard_v2(d1, d2, [], 3).scores) == set(blended.scores)


def test_kind_recall_is_per_abuser_kind_and_cells_won_counts_ties_as_won():
    from bench.bench_quality import Cell, Grid, cells_won, format_kinds, kind_recall

    truth = {"a": "scraper", "b": "scraper", "c": "spammer", "d": "buyer"}
    assert kind_recall(qb.Scored({}, {"a", "d"}), truth) == {"scraper": 0.5, "spammer": 0.0}
    grid = Grid(
        [
            Cell("v2", 1, "none", "default", 0.9, 1.0, 0.5, kind_recall={"scraper": 1.0}),
            Cell("v1", 1, "none", "default", 0.9, 1.0, 0.5),
            Cell("v2", 2, "none", "default", 0.5, 1.0, 0.5, kind_recall={"scraper": 0.0}),
            Cell("v1", 2, "none", "default", 0.6, 1.0, 0.5),
            Cell("rforest", 2, "none", "default"),  # n/a: not a competitor in that cell
        ]
    )
    assert cells_won(grid, "v2") == (1, 2)
    assert "0.50" in format_kinds(grid, ["v2"])  # the scraper recall, averaged over both seeds


def _day(events: list[tuple[str, str]], labels: dict[str, str]) -> SimDay:
    """A hand-made day: (user, state name) per event."""
    n = len(events)
    return SimDay(
        day=2,
        date="2026-11-21",
        user_ids=np.array([u for u, _ in events], dtype=object),
        states=np.array([STATES.index(s) for _, s in events], dtype=np.int64),
        ts_ms=np.arange(n, dtype=np.int64),
        session_ids=np.array(["s"] * n, dtype=object),
        event_ids=np.array([str(i) for i in range(n)], dtype=object),
        labels=labels,
    )


def test_the_evidence_bound_ranks_first_only_the_takeovers_that_did_something_rare():
    ordinary = [(f"o{i}", "view_item") for i in range(100)] + [("o0", "withdraw_funds")]  # 1 of 100: rare
    abusers = [("quiet", "view_item"), ("loud", "view_item"), ("loud", "withdraw_funds"), ("bot", "view_item")]
    labels = {f"o{i}": "buyer" for i in range(100)} | {"quiet": "account_takeover", "loud": "account_takeover"}
    labels["bot"] = "scraper"
    day = _day(ordinary + abusers, labels)
    assert evident_abusers(day) == {"quiet": False, "loud": True, "bot": True}
    bound = evidence_bound(day)
    assert 2 / 3 < bound < 0.75  # two abusers on top; the quiet one lands at random among 101 users
    without_quiet = _day(ordinary + abusers[1:], {u: k for u, k in labels.items() if u != "quiet"})
    assert evidence_bound(without_quiet) == pytest.approx(1.0)
