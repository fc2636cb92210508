"""A second, structurally different simulator for ``bench.bench_weblog``: web-server traffic, not the app's
clickstream. It shares no code, catalogue or timing model with ``clickguard.sim``, so a detector tuned to that
simulator has no reason to do well here.

Clients browse a site of page templates (home, categories, articles, search, login, cart, feed, robots.txt). A
share of them (drawn per seed, 5-25%) are automated, of five kinds drawn in random proportions:

* ``crawler``: robots.txt, then many distinct pages at a near-regular step (sometimes human-slow);
* ``poller``: one feed URL at a fixed period all day (sessions of one event when the period passes the gap);
* ``scraper``: search then article, repeatedly, quickly;
* ``stuffer``: logins, mostly failing;
* ``headless``: a scripted browser that follows the same links humans follow, at a machine's pace, with
  human-like jitter drawn per seed (the hard kind).

Clients move between page templates (``/c/3/a``: an article of category 3); each request is written as the concrete
URL a web server logs (``/c/travel/a/1742``, ``/search?q=ferry``): a named category, an article id drawn from a
long-tailed catalogue, a search term. The URLs come from an RNG of their own, so the clients' behaviour is the same
draw for draw whatever the URLs; the product reads them as any web log's paths (``pages.page_of``).

Humans read for a log-normal time between pages, open 1-4 sessions a day, and sometimes fail a login. Every
parameter is drawn per seed (``WebConfig.draw``); 70% of clients come back on day 2 and new ones take the others'
places, so a day-1 block list names some of day 2's automated clients and misses the new ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

DAY_MS = 86_400_000
T0_MS = 1_760_000_000_000
KINDS = ("crawler", "poller", "scraper", "stuffer", "headless")
HUMAN = "human"
N_CATEGORIES = 12
CATEGORIES = ("news", "sport", "travel", "food", "tech", "money", "health", "style", "music", "film", "books", "cars")
ARTICLES = 5000  # per site; ids log-uniform, so a few are read often and most rarely
WORDS = ("ferry", "price", "recipe", "score", "phone", "loan", "diet", "shoes", "tour", "trailer", "novel", "tyres")
FAIL = "#fail"  # a request that failed (a login refused): the event's outcome, not part of its URL


@dataclass(frozen=True)
class WebConfig:
    clients: int
    bot_share: float
    kind_weights: dict[str, float]
    think_median_s: float  # humans' median time between pages
    think_sigma: float
    session_alpha: float  # humans' session length: Pareto
    bot_jitter: float  # relative jitter of automated timing (0.02: metronomic, 0.6: human-like)
    crawler_step_s: float
    return_share: float = 0.7
    assets: int = 0  # browsers (humans, headless) fetch up to this many static files after each page (0: not logged)

    @classmethod
    def draw(cls, seed: int, clients: int) -> WebConfig:
        rng = random.Random(seed * 7919)
        weights = [rng.expovariate(1.0) for _ in KINDS]
        return cls(
            clients=clients,
            bot_share=rng.uniform(0.05, 0.25),
            kind_weights={k: w / sum(weights) for k, w in zip(KINDS, weights, strict=True)},
            think_median_s=rng.uniform(8, 40),
            think_sigma=rng.uniform(0.8, 1.5),
            session_alpha=rng.uniform(1.1, 1.6),
            bot_jitter=rng.uniform(0.02, 0.6),
            crawler_step_s=math.exp(rng.uniform(math.log(0.3), math.log(10))),
        )

    def describe(self) -> str:
        kinds = " ".join(f"{k[:4]}={w:.2f}" for k, w in self.kind_weights.items())
        return (
            f"clients={self.clients} bots={self.bot_share:.3f} [{kinds}] think={self.think_median_s:.0f}s "
            f"sigma={self.think_sigma:.2f} alpha={self.session_alpha:.2f} jitter={self.bot_jitter:.2f} "
            f"crawl_step={self.crawler_step_s:.1f}s" + (f" assets<={self.assets}" if self.assets else "")
        )


@dataclass
class WebDay:
    users: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # the URL requested, ``#fail`` at the end if refused
    ts_ms: list[int] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def add(self, user: str, request: str, ts: int) -> None:
        self.users.append(user)
        self.requests.append(request)
        self.ts_ms.append(ts)

    def in_time_order(self) -> WebDay:
        order = sorted(range(len(self.ts_ms)), key=self.ts_ms.__getitem__)
        users, requests, ts_ms = ([column[i] for i in order] for column in (self.users, self.requests, self.ts_ms))
        return WebDay(users, requests, ts_ms, self.labels)


@dataclass(frozen=True)
class _Rngs:
    """The clients' behaviour, the URLs they request, and the static files browsers fetch: three streams, so that
    one never moves another's draws."""

    behaviour: random.Random
    urls: random.Random
    statics: random.Random

    @classmethod
    def of(cls, seed: int) -> _Rngs:
        return cls(random.Random(seed), random.Random(-seed), random.Random(seed + 1_000_003))


class _Client:
    def __init__(self, cfg: WebConfig, rngs: _Rngs, day: WebDay, user: str, t0: int, kind: str) -> None:
        self.cfg, self.rng, self.day, self.user, self.t0 = cfg, rngs.behaviour, day, user, t0
        self.urls, self.statics = rngs.urls, rngs.statics
        self.browser = kind in (HUMAN, "headless")

    def page(self, route: str, t: int) -> None:
        if self.t0 <= t < self.t0 + DAY_MS:
            self.day.add(self.user, self.url(route), t)
            if self.browser and self.cfg.assets:
                self.static_files(t)

    def static_files(self, t: int) -> None:
        """What a browser fetches after a page, within a second, some of it cached (an RNG of their own: the rest of
        the day stays the same draw for draw)."""
        rng = self.statics
        for _ in range(rng.randint(0, self.cfg.assets)):
            t += int(rng.uniform(5, 250))
            name = rng.choice(["/static/app.3f9a8c1d.js", "/static/site.css", "/favicon.ico"])
            self.day.add(self.user, name if rng.random() < 0.5 else f"/img/{rng.randrange(9000)}.jpg", t)

    def url(self, route: str) -> str:
        """The URL a server logs for a request of ``route`` (its ``#fail`` outcome kept at the end)."""
        path, fail = (route[: -len(FAIL)], FAIL) if route.endswith(FAIL) else (route, "")
        if path.startswith("/c/"):
            _, _, cat, *article = path.split("/")
            path = f"/c/{CATEGORIES[int(cat)]}" + (f"/a/{int(ARTICLES ** self.urls.random())}" if article else "")
        elif path == "/search":
            path = f"/search?q={self.urls.choice(WORDS)}"
        return path + fail

    def jitter(self, step_ms: float) -> int:
        return max(1, int(step_ms * self.rng.uniform(1 - self.cfg.bot_jitter, 1 + self.cfg.bot_jitter)))

    def next_link(self, token: str) -> str:
        """Where a reader goes from ``token``: the site's links, with the same odds for humans and scripts."""
        r, cat = self.rng.random(), f"/c/{self.rng.randrange(N_CATEGORIES)}"
        if token.startswith("/c/") and not token.endswith("/a") and r < 0.7:
            return token + "/a"
        if token.endswith("/a") and r < 0.5:
            return token if r < 0.3 else token[: -len("/a")]
        if r < 0.06:
            return "/login"
        if r < 0.08:
            return "/cart"
        return "/search" if r < 0.2 else self.rng.choice(["/", cat, cat + "/a"])

    def human(self) -> None:
        cfg, rng = self.cfg, self.rng
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
            t = self.t0 + rng.randrange(DAY_MS)
            token = rng.choice(["/", "/", "/search", f"/c/{rng.randrange(N_CATEGORIES)}"])
            for _ in range(min(80, int(rng.paretovariate(cfg.session_alpha)))):
                self.page(token + "#fail" if token == "/login" and rng.random() < 0.15 else token, t)
                t += int(rng.lognormvariate(math.log(cfg.think_median_s * 1000), cfg.think_sigma))
                token = self.next_link(token)

    def crawler(self) -> None:
        t = self.t0 + self.rng.randrange(DAY_MS // 2)
        self.page("/robots.txt", t)
        for _ in range(self.rng.randrange(50, 400)):
            t += self.jitter(self.cfg.crawler_step_s * 1000)
            cat = f"/c/{self.rng.randrange(N_CATEGORIES)}"
            self.page(self.rng.choice(["/", cat, cat + "/a", cat + "/a", cat + "/a"]), t)

    def poller(self) -> None:
        period = self.rng.choice([5, 10, 15, 30, 60, 120]) * 60_000
        t = self.t0 + self.rng.randrange(period)
        while t < self.t0 + DAY_MS:
            self.page("/feed.xml", t)
            t += self.jitter(period)

    def scraper(self) -> None:
        t = self.t0 + self.rng.randrange(DAY_MS)
        for _ in range(self.rng.randrange(30, 200)):
            self.page("/search", t)
            t += self.jitter(2500)
            if self.rng.random() < 0.6:
                self.page(f"/c/{self.rng.randrange(N_CATEGORIES)}/a", t)
                t += self.jitter(1200)

    def stuffer(self) -> None:
        t = self.t0 + self.rng.randrange(DAY_MS)
        for _ in range(self.rng.randrange(5, 60)):
            self.page("/login#fail" if self.rng.random() < 0.9 else "/login", t)
            t += self.jitter(8000)

    def headless(self) -> None:
        for _ in range(self.rng.randrange(1, 6)):
            t = self.t0 + self.rng.randrange(DAY_MS)
            token = "/"
            for _ in range(self.rng.randrange(20, 120)):
                self.page(token, t)
                t += self.jitter(self.rng.uniform(1500, 6000))
                token = self.next_link(token)


def _kind(cfg: WebConfig, rng: random.Random) -> str:
    if rng.random() >= cfg.bot_share:
        return HUMAN
    return rng.choices(list(cfg.kind_weights), weights=list(cfg.kind_weights.values()))[0]


def simulate(cfg: WebConfig, seed: int) -> tuple[WebDay, WebDay]:
    """Two days of the same site: each client's kind is fixed; ``return_share`` of them come back on day 2, and
    new clients (drawn the same way) take the others' places."""
    rngs = _Rngs.of(seed)
    rng, days = rngs.behaviour, (WebDay(), WebDay())
    for i in range(cfg.clients):
        user, kind = f"client-{seed}-{i}", _kind(cfg, rng)
        _play(cfg, rngs, days[0], user, kind, T0_MS)
        if rng.random() >= cfg.return_share:
            user, kind = f"client-{seed}-{i}-new", _kind(cfg, rng)
        _play(cfg, rngs, days[1], user, kind, T0_MS + DAY_MS)
    return days[0].in_time_order(), days[1].in_time_order()


def _play(cfg: WebConfig, rngs: _Rngs, day: WebDay, user: str, kind: str, t0: int) -> None:
    act: Callable[[], None] = getattr(_Client(cfg, rngs, day, user, t0, kind), kind)
    before = len(day.users)
    act()
    if len(day.users) > before:
        day.labels[user] = kind
