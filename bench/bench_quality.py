"""Detection quality (issue 10): clickguard's current rule beside the seeds' methods, on a grid of simulated days.

For each simulator seed and population mix, day 1 trains and day 2 is scored. Each label regime decides what the
reviewers had already blocked on day 1 (``clickguard.sim.quality.sample_block_list``): nothing (training on raw
traffic; the supervised method cannot run), a random half of day 1's abusers, or all of them. Every method then
scores every user of day 2 (see ``bench.quality_baselines`` for how each one scores):

* AP: average precision over day 2's users, ranked by the method's continuous score (a ranking measure: it does not
  depend on the operating point; a random ranking scores about the share of abusers, printed as ``base``);
* P / R: precision and recall of the users the method flags at its own operating point
  (``clickguard.sim.quality.tally``: a flag on an ordinary user counts against precision; nothing flagged = P 1);
* bound: per day, the AP of an oracle that ranks first every abuser who left evidence (``bench.quality_bound``): an
  estimate of the most any behavioural method can reach on that day, printed beside ``base``.

Mixes: ``default`` is the simulator's default population (the one the demo uses); ``random`` is drawn per seed:
abusers 1-20% of the active users in a random mix of types, changed timing and chain noise, and the simulator's
hardening options (``clickguard.sim.population.SimConfig``) at random strengths.

Adding a method (e.g. clickguard v2) = one function ``(train_day, test_day, block_list, seed) -> Scored | None``
put into ``METHODS``. Run: ``python -m bench.bench_quality`` (``--quick``: 2 seeds x 600 users; ``--first-seed 6``: the
held-out seeds 6-10, looked at only to confirm choices made on 1-5).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from bench import quality_baselines as qb
from bench.quality_bound import evidence_bound
from clickguard.sim import SimConfig, simulate
from clickguard.sim.catalog import ABNORMAL_TYPES, is_abnormal
from clickguard.sim.generator import SimDay
from clickguard.sim.quality import average_precision, precision, recall, sample_block_list, tally

MethodFn = Callable[[SimDay, SimDay, Collection[str], int], qb.Scored | None]


@dataclass(frozen=True)
class Method:
    name: str
    fn: MethodFn | None  # None: a reserved column, printed as n/a


def clickguard_v2(train_day: SimDay, test_day: SimDay, block_list: Collection[str], seed: int) -> qb.Scored | None:
    """Offline clickguard v2 (issue 10): Markov bits plus session signals as empirical tails, see
    ``bench.quality_baselines.clickguard_v2``."""
    return qb.clickguard_v2(train_day, test_day, block_list, seed)


METHODS: list[Method] = [
    Method("v1", qb.clickguard_v1),
    Method("thesis", qb.thesis),
    Method("notebook", qb.notebook),
    Method("iforest", qb.isolation_forest),
    Method("rforest", qb.random_forest),
    Method("v2", clickguard_v2),
]
REGIMES: dict[str, float] = {"none": 0.0, "half": 0.5, "full": 1.0}  # share of day 1's abusers on the block list
MIXES = ("default", "random")


@dataclass(frozen=True)
class Cell:
    method: str
    seed: int
    regime: str
    mix: str
    ap: float | None = None  # None: the method cannot run here (n/a)
    precision: float | None = None
    recall: float | None = None
    flagged: int = 0
    seconds: float = 0.0
    kind_recall: dict[str, float] = field(default_factory=dict)  # per abuser kind present on day 2


@dataclass
class Grid:
    cells: list[Cell] = field(default_factory=list)
    base_rate: dict[tuple[int, str], float] = field(default_factory=dict)  # (seed, mix) -> share of abusers, day 2
    bound: dict[tuple[int, str], float] = field(default_factory=dict)  # (seed, mix) -> day 2's evidence bound
    configs: dict[tuple[int, str], SimConfig] = field(default_factory=dict)
    seconds: float = 0.0


# --- measures ---------------------------------------------------------------------------------------------------
def score_cell(scored: qb.Scored, truth: Mapping[str, str]) -> tuple[float, float, float]:
    """AP over the users of ``truth`` (a user the method did not score ranks below all it did), and P and R."""
    users = list(truth)
    known = [v for v in scored.scores.values() if math.isfinite(v)]
    floor = (min(known) if known else 0.0) - 1.0
    raw = [scored.scores.get(u, floor) for u in users]
    values = [v if math.isfinite(v) else floor for v in raw]
    ap = average_precision([is_abnormal(truth[u]) for u in users], values)
    _per_type, tp, fp, fn = tally(scored.flagged, truth)
    return ap, precision(tp, fp), recall(tp, fn)


def kind_recall(scored: qb.Scored, truth: Mapping[str, str]) -> dict[str, float]:
    """Recall at the operating point per abuser kind present in ``truth``: which kinds a method misses."""
    per_type, *_ = tally(scored.flagged, truth)
    return {k: c.flagged / c.total for k, c in per_type.items() if is_abnormal(k) and c.total}


# --- populations ------------------------------------------------------------------------------------------------
def default_mix(seed: int, users: int) -> SimConfig:
    return SimConfig(users=users, seed=seed, days=2)


def random_mix(seed: int, users: int) -> SimConfig:
    """A population drawn from ``seed``: abusers 1-20% in total in a random mix of types, benign habits and abuser
    chains noisier or cleaner, abusers' timing changed, and every hardening option at a random strength."""
    rng = np.random.default_rng([seed, 10])
    weights = rng.dirichlet(np.ones(len(ABNORMAL_TYPES)))
    return replace(
        default_mix(seed, users),
        abnormal_share=float(rng.uniform(0.01, 0.20)),
        abnormal_mix={k: float(w) for k, w in zip(ABNORMAL_TYPES, weights, strict=True)},
        habit_noise=float(rng.uniform(0.15, 0.45)),
        odd_step=float(rng.uniform(0.002, 0.015)),
        abuse_chain_noise=float(rng.uniform(0.15, 0.6)),
        abuse_think_scale=float(np.exp(rng.uniform(np.log(0.5), np.log(3.0)))),
        bot_human_timing=float(rng.uniform(0.0, 1.0)),
        takeover_browse=float(rng.uniform(0.0, 0.9)),
        takeover_owner_cover=bool(rng.random() < 0.5),
        abuse_intensity=float(rng.uniform(0.4, 1.0)),
        abuse_split_visits=float(rng.uniform(1.0, 6.0)),
    )


MIX_CONFIGS: dict[str, Callable[[int, int], SimConfig]] = {"default": default_mix, "random": random_mix}


def describe_config(cfg: SimConfig) -> str:
    mix = " ".join(f"{k.value[:4]}={v:.2f}" for k, v in cfg.abnormal_mix.items())
    return (
        f"abusers={cfg.abnormal_share:.3f} [{mix}] habit_noise={cfg.habit_noise:.2f} odd_step={cfg.odd_step:.4f} "
        f"chain_noise={cfg.abuse_chain_noise:.2f} think_x={cfg.abuse_think_scale:.2f} "
        f"bot_human={cfg.bot_human_timing:.2f} ato_browse={cfg.takeover_browse:.2f} "
        f"ato_owner_cover={cfg.takeover_owner_cover} intensity_x={cfg.abuse_intensity:.2f} "
        f"split_x={cfg.abuse_split_visits:.2f}"
    )


# --- the grid ---------------------------------------------------------------------------------------------------
def run_method(method: Method, days: Sequence[SimDay], block: list[str], seed: int, regime: str, mix: str) -> Cell:
    t0 = time.perf_counter()
    scored = method.fn(days[0], days[1], block, seed) if method.fn is not None else None
    if scored is None:
        return Cell(method.name, seed, regime, mix, seconds=time.perf_counter() - t0)
    ap, p, r = score_cell(scored, days[1].labels)
    kinds = kind_recall(scored, days[1].labels)
    return Cell(method.name, seed, regime, mix, ap, p, r, len(scored.flagged), time.perf_counter() - t0, kinds)


def run_grid(
    seeds: Iterable[int],
    users: int,
    *,
    regimes: Mapping[str, float] = REGIMES,
    mixes: Iterable[str] = MIXES,
    methods: Sequence[Method] = METHODS,
    progress: Callable[[str], None] | None = None,
) -> Grid:
    """Every method on every (seed, mix, regime); one simulation per (seed, mix), shared by its regimes."""
    t0 = time.perf_counter()
    grid = Grid()
    for seed in seeds:
        for mix in mixes:
            cfg = MIX_CONFIGS[mix](seed, users)
            days = simulate(cfg)
            grid.configs[seed, mix] = cfg
            truth = days[1].labels
            grid.base_rate[seed, mix] = sum(map(is_abnormal, truth.values())) / max(len(truth), 1)
            grid.bound[seed, mix] = evidence_bound(days[1])
            for regime, share in regimes.items():
                block = sample_block_list(days[0].labels, share, seed)
                for method in methods:
                    grid.cells.append(run_method(method, days, block, seed, regime, mix))
                if progress:
                    progress(f"seed {seed} {mix:7s} {regime:4s} done at {time.perf_counter() - t0:6.1f} s")
    grid.seconds = time.perf_counter() - t0
    return grid


# --- the report -------------------------------------------------------------------------------------------------
COL = 22  # characters per method column
NA = "n/a"


def _fmt_cell(cell: Cell | None) -> str:
    if cell is None or cell.ap is None:
        return NA.rjust(COL)
    return f"{cell.ap:5.3f} {cell.precision:4.2f}/{cell.recall:4.2f} {cell.flagged:4d}".rjust(COL)


def _ran(cells: Iterable[Cell | None]) -> list[Cell]:
    return [c for c in cells if c is not None and c.ap is not None]


def _fmt_ap_summary(cells: list[Cell]) -> str:
    aps = [c.ap for c in cells if c.ap is not None and not math.isnan(c.ap)]
    return f"{np.mean(aps):5.3f} {min(aps):5.3f}".rjust(COL) if aps else NA.rjust(COL)


def _fmt_pr_summary(cells: list[Cell]) -> str:
    if not cells:
        return NA.rjust(COL)
    p = [c.precision or 0.0 for c in cells]
    r = [c.recall or 0.0 for c in cells]
    return f"{np.mean(p):4.2f}/{np.mean(r):4.2f} {min(p):4.2f}/{min(r):4.2f}".rjust(COL)


def format_report(grid: Grid, methods: Sequence[str]) -> str:
    """Every cell (one table per mix and label regime, a row per seed), then summaries over seeds."""
    index = {(c.method, c.seed, c.regime, c.mix): c for c in grid.cells}
    seeds = sorted({c.seed for c in grid.cells})
    blocks = list(dict.fromkeys((c.mix, c.regime) for c in grid.cells))
    names = "".join(m.rjust(COL) for m in methods)
    lines = [
        "Cells: AP (per user, from the continuous score), P/R at the method's operating point, users flagged;",
        "base = share of abusers among day 2's users (the AP of a random ranking);",
        "bound = the AP of an oracle that ranks first every abuser who left evidence on day 2 (bench.quality_bound):",
        "an estimate of the most any behavioural detector can reach there.",
    ]
    for mix, regime in blocks:
        lines += [
            "",
            f"mix={mix}  labels={regime}",
            f"seed   base bound{names}",
            "                 " + "".join("AP    prec/rec flags".rjust(COL) for _ in methods),
        ]
        for seed in seeds:
            row = "".join(_fmt_cell(index.get((m, seed, regime, mix))) for m in methods)
            base, bound = grid.base_rate.get((seed, mix), math.nan), grid.bound.get((seed, mix), math.nan)
            lines.append(f"{seed:4d}  {base:5.3f} {bound:5.3f}{row}")
    summaries = (("AP: mean  min", _fmt_ap_summary), ("P/R: mean  min", _fmt_pr_summary))
    for title, fmt in summaries:
        lines += ["", f"Summary over seeds, {title}", f"{'mix':8s}{'labels':6s}{names}"]
        for mix, regime in blocks:
            row = "".join(fmt(_ran(index.get((m, s, regime, mix)) for s in seeds)) for m in methods)
            lines.append(f"{mix:8s}{regime:6s}{row}")
    lines += ["", "Evidence bound, mean over seeds: " + "  ".join(_bound_means(grid, seeds))]
    return "\n".join(lines)


def _bound_means(grid: Grid, seeds: list[int]) -> list[str]:
    mixes = dict.fromkeys(mix for _, mix in grid.bound)
    return [f"{mix} {np.mean([grid.bound[s, mix] for s in seeds if (s, mix) in grid.bound]):5.3f}" for mix in mixes]


def format_kinds(grid: Grid, methods: Sequence[str]) -> str:
    """Mean recall per abuser kind at each method's operating point (over the seeds where the kind is present)."""
    kinds = [k.value for k in ABNORMAL_TYPES]
    blocks = list(dict.fromkeys((c.mix, c.regime) for c in grid.cells))
    lines = [
        "Recall per abuser kind at the operating point, mean over seeds where the kind is present:",
        f"{'mix':8s}{'labels':6s}{'method':>9s}" + "".join(f"{k[:12]:>13s}" for k in kinds),
    ]
    for mix, regime in blocks:
        for m in methods:
            cells = [c for c in grid.cells if (c.mix, c.regime, c.method) == (mix, regime, m) and c.ap is not None]
            if not cells:
                continue
            row = "".join(_mean_or_na([c.kind_recall[k] for c in cells if k in c.kind_recall]) for k in kinds)
            lines.append(f"{mix:8s}{regime:6s}{m:>9s}{row}")
    return "\n".join(lines)


def _mean_or_na(values: list[float]) -> str:
    return f"{np.mean(values):13.2f}" if values else NA.rjust(13)


def cells_won(grid: Grid, method: str) -> tuple[int, int]:
    """In how many cells ``method`` has the best AP of all methods that ran there (ties count as won), of how many."""
    best: dict[tuple[int, str, str], float] = {}
    mine: dict[tuple[int, str, str], float] = {}
    for c in grid.cells:
        if c.ap is None or math.isnan(c.ap):
            continue
        key = (c.seed, c.mix, c.regime)
        if c.method == method:
            mine[key] = c.ap
        else:
            best[key] = max(best.get(key, -math.inf), c.ap)
    return sum(mine[k] >= best.get(k, -math.inf) for k in mine), len(mine)


def method_seconds(grid: Grid) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in grid.cells:
        out[c.method] = out.get(c.method, 0.0) + c.seconds
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 seeds x 600 users, for a smoke run")
    parser.add_argument("--seeds", type=int, default=None, help="how many simulator seeds (default 5; quick 2)")
    parser.add_argument("--first-seed", type=int, default=1, help="the first seed (6 with 5 seeds: the held-out 6-10)")
    parser.add_argument("--users", type=int, default=None, help="ordinary users per population (default 1500)")
    parser.add_argument("--progress", action="store_true", help="print a line as each (seed, mix, regime) ends")
    args = parser.parse_args(argv)
    n_seeds = args.seeds or (2 if args.quick else 5)
    users = args.users or (600 if args.quick else 1500)
    print(
        f"bench_quality: seeds {args.first_seed}-{args.first_seed + n_seeds - 1} x {len(MIXES)} mixes x "
        f"{len(REGIMES)} label regimes, {users} users, "
        f"day 1 trains, day 2 is scored; methods: {', '.join(m.name for m in METHODS)}"
    )
    seeds = range(args.first_seed, args.first_seed + n_seeds)
    grid = run_grid(seeds, users, progress=print if args.progress else None)
    print()
    for (seed, mix), cfg in sorted(grid.configs.items()):
        if mix != "default":
            print(f"seed {seed} {mix}: {describe_config(cfg)}")
    print()
    print(format_report(grid, [m.name for m in METHODS]))
    print()
    print(format_kinds(grid, [m.name for m in METHODS]))
    won, cells = cells_won(grid, "v2")
    print(f"\nv2 has the best AP (ties included) in {won} of {cells} cells")
    per_method = "  ".join(f"{k} {v:.1f} s" for k, v in method_seconds(grid).items())
    print(f"\ntook {grid.seconds:.1f} s in all ({per_method})")


if __name__ == "__main__":
    main()
