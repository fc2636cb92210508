"""A distributed run's partials are a cache keyed by what shapes them: a daily run maps only its new hours, an hour
that changed is mapped again, a map that died leaves nothing half-written, and a run repeated after a crash publishes
the same model once."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from clickguard.events import UserKeySource
from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.training.distributed import Partials
from clickguard.training.partials import Layout
from tests.mapreduce_support import (
    NOW,
    MemoryArchive,
    assert_same_model,
    distributed,
    gz,
    lines_of,
    single_pass,
    training_config,
)
from tests.training_support import MemoryStore

CONFIG = training_config(ModelParams(min_token_count=1), min_sessions=5)


def _day_of_events(archive: MemoryArchive, day: int, rng: random.Random) -> None:
    """A day of 40 recurring users' browsing, one object per hour folder."""
    start = NOW - timedelta(days=6 - day)
    for hour in range(0, 24, 3):
        when = start + timedelta(hours=hour)
        t = int(when.timestamp() * 1000)
        events = [
            {"user_id": f"u{rng.randrange(40)}", "event_type": rng.choice(["view", "search", "buy"]),
             "timestamp": (t + i * 20_000) / 1000}
            for i in range(60)
        ]  # fmt: skip
        archive.put(when, "obj.gz", gz(lines_of(events)))


@pytest.fixture
def week() -> MemoryArchive:
    archive, rng = MemoryArchive(), random.Random(3)
    for day in range(8):  # a week ending at NOW, and the day after it
        _day_of_events(archive, day, rng)
    return archive


def test_a_daily_run_maps_only_the_new_day_and_trains_the_single_pass_model(week):
    partials = MemoryStore()
    first, _, _ = distributed(week, CONFIG, 3, partials=partials)
    tomorrow = NOW + timedelta(days=1)
    report, store, _ = distributed(week, CONFIG, 3, partials=partials, now=tomorrow)
    # 8 hour folders a day; a window holds the hour folders from that of its start through that of its end
    assert first.distributed["mapped"] == first.distributed["partitions"] == 6 * 8 + 1
    assert (report.distributed["mapped"], report.distributed["cached"]) == (8, 6 * 8 + 1)
    _, one_store = single_pass(week, CONFIG, now=tomorrow)
    assert_same_model(artifact.load_latest(store), artifact.load_latest(one_store))


def test_an_hour_that_gained_an_object_is_mapped_again_and_only_it(week):
    partials = MemoryStore()
    distributed(week, CONFIG, 3, partials=partials)
    late = NOW - timedelta(days=2, hours=3)
    week.put(late, "obj-late.gz", gz(lines_of([{"user_id": "u1", "event_type": "view", "timestamp": 1.76e9}])))
    report, store, _ = distributed(week, CONFIG, 3, partials=partials)
    assert report.distributed["mapped"] == 1
    _, one_store = single_pass(week, CONFIG)
    assert_same_model(artifact.load_latest(store), artifact.load_latest(one_store))


def test_partials_of_another_layout_are_another_cache():
    base = Layout(4)
    assert Layout(4).digest == base.digest
    assert len({base.digest, Layout(5).digest, Layout(4, UserKeySource.DEVICE_TOKEN).digest}) == 3


def test_a_map_that_died_is_redone_alone_and_the_model_is_published_once(week):
    partials, models = MemoryStore(), MemoryStore()
    hours = week.partitions(NOW - timedelta(days=7), NOW)
    victim = hours[20].objects[0][0]
    week.fail_on.add(victim)
    with pytest.raises(OSError, match="lost the connection"):
        distributed(week, CONFIG, 3, partials=partials, models=models)
    layout = Layout(3)
    cache = Partials(partials, layout)
    assert [cache.summary(p) is not None for p in hours] == [i < 20 for i in range(len(hours))]
    assert not any(k.startswith(layout.folder(hours[20])) for k in partials.blobs)  # nothing half-written
    assert "models/latest.json" not in models.blobs
    week.reads.clear()
    report, _, _ = distributed(week, CONFIG, 3, partials=partials, models=models)
    assert report.status == "published" and report.distributed["mapped"] == len(hours) - 20
    assert week.reads[0] == victim  # the cached hours were not read again
    again, _, _ = distributed(week, CONFIG, 3, partials=partials, models=models)  # a repeat of a finished run
    assert (again.status, again.version, again.distributed["mapped"]) == ("published", report.version, 0)
    assert models.writes.count("models/latest.json") == 1
