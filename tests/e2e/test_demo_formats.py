"""The demo in other producer formats (``clickguard demo --format``): the same simulated days put on the stream as KPL
aggregates and as Segment messages flag exactly the users, with exactly the quality, of the canonical run."""

from __future__ import annotations

import pytest

from clickguard.local.demo import DemoOptions, DemoResult, run_demo

pytestmark = pytest.mark.e2e

FORMATS = ("canonical", "kpl", "segment")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, DemoResult]:
    return {
        fmt: run_demo(
            DemoOptions(out_dir=tmp_path_factory.mktemp(fmt), users=150, seed=11, producer_format=fmt),
            log=lambda _m: None,
        )
        for fmt in FORMATS
    }


def what_fired(result: DemoResult) -> list[tuple]:
    """Each flag as a reviewer reads it, without where on the stream it fired (record and part differ by format)."""
    return sorted(
        (f["user_key"], f["last_event_time"], tuple(f["reasons"]), f["score"], f["transitions"]) for f in result.flags
    )


@pytest.mark.parametrize("fmt", FORMATS[1:])
def test_each_format_flags_the_same_users_with_the_same_quality_as_canonical_records(runs, fmt):
    base, other = runs["canonical"], runs[fmt]
    assert base.flags and base.per_type
    assert {f["user_key"] for f in other.flags} == {f["user_key"] for f in base.flags}
    assert what_fired(other) == what_fired(base)
    assert (other.per_type, other.precision, other.recall) == (base.per_type, base.precision, base.recall)
    assert other.training["events"] == base.training["events"] and other.thresholds == base.thresholds


def test_packed_formats_put_fewer_records_and_single_event_formats_as_many(runs):
    assert runs["kpl"].day1_records < runs["canonical"].day1_records / 10
    assert runs["segment"].day1_records == runs["canonical"].day1_records
    for result in runs.values():
        assert result.consumer_stats["function_errors"] == 0 and result.consumer_stats["batches_given_up"] == 0
