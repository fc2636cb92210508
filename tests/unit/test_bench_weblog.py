"""The second simulator (``bench.weblog_sim``) and its benchmark on a small site: deterministic days, every kind
shaped as documented, and each method's measures in range."""

from __future__ import annotations

import re
from dataclasses import replace

from bench.bench_weblog import METHODS, ap_of, precision_recall, read, run_seed, v2
from bench.weblog_sim import CATEGORIES, HUMAN, KINDS, WebConfig, simulate

STATIC = ("/static/", "/img/", "/favicon.ico")


def test_days_are_deterministic_and_labelled() -> None:
    cfg = WebConfig.draw(4, 400)
    day1, day2 = simulate(cfg, 4)
    again1, _ = simulate(cfg, 4)
    assert (day1.users, day1.requests, day1.ts_ms) == (again1.users, again1.requests, again1.ts_ms)
    assert day1.ts_ms == sorted(day1.ts_ms) and day2.ts_ms[0] >= day1.ts_ms[0]
    assert set(day1.users) == set(day1.labels) and set(day2.users) == set(day2.labels)
    assert set(day2.labels) - set(day1.labels), "some clients are new on day 2"
    assert 0.05 <= cfg.bot_share <= 0.25 and set(cfg.kind_weights) == set(KINDS)


def test_each_kind_has_its_shape() -> None:
    logged, _ = simulate(WebConfig.draw(5, 1500), 5)
    day = read(logged)
    tokens_of: dict[str, set[str]] = {}
    for user, token in zip(day.users, day.tokens, strict=True):
        tokens_of.setdefault(day.labels[user], set()).add(token)
    assert tokens_of["poller"] == {"/feed.xml"}
    assert tokens_of["stuffer"] <= {"/login", "/login#fail"}
    assert "/robots.txt" in tokens_of["crawler"] and "/robots.txt" not in tokens_of[HUMAN]
    assert tokens_of["scraper"] <= {"/search", *(f"/c/{c}/a/*" for c in CATEGORIES)}  # the query and ids go


def test_requests_are_the_urls_a_server_logs() -> None:
    logged, _ = simulate(WebConfig.draw(5, 1500), 5)
    articles = {r for r in logged.requests if "/a/" in r}
    searches = {r for r in logged.requests if r.startswith("/search")}
    assert len(articles) > 500 and all(r.rsplit("/", 1)[1].isdigit() for r in articles)
    assert searches and all(r.startswith("/search?q=") for r in searches)


def test_measures_are_in_range_and_the_report_names_every_method() -> None:
    day1, day2 = (read(day) for day in simulate(WebConfig.draw(3, 300), 3))
    scored = v2(day1, day2, [])
    assert 0.0 <= ap_of(scored, day2.labels) <= 1.0
    p, r = precision_recall(scored, day2.labels)
    assert 0.0 <= p <= 1.0 and 0.0 <= r <= 1.0
    lines = run_seed(3, 300)
    assert len(lines) == 1 + 3 * 3
    for name in METHODS:
        assert name in lines[1]
    assert all(0.0 <= float(x) <= 1.0 for x in re.findall(r"AP (\d\.\d+)", "\n".join(lines)))


def test_browsers_fetch_static_files_and_nothing_else_changes() -> None:
    """With ``assets``, humans and headless browsers fetch static files after each page (from the URLs' own RNG):
    the other kinds never do, and without the static files the day is the same day."""
    cfg = WebConfig.draw(5, 600)
    plain, _ = simulate(cfg, 5)
    with_assets, _ = simulate(replace(cfg, assets=6), 5)
    static = [(u, r) for u, r in zip(with_assets.users, with_assets.requests, strict=True) if r.startswith(STATIC)]
    assert static and {with_assets.labels[u] for u, _ in static} <= {HUMAN, "headless"}
    kept = [(u, r, t) for u, r, t in zip(with_assets.users, with_assets.requests, with_assets.ts_ms, strict=True)
            if not r.startswith(STATIC)]  # fmt: skip
    assert sorted(kept) == sorted(zip(plain.users, plain.requests, plain.ts_ms, strict=True))
