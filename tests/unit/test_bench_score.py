"""``bench.bench_score`` runs small, and its two ways of scoring a file give every user the same row."""

from __future__ import annotations

import pytest

from bench import bench_score


def test_the_benchmark_runs_small_and_both_ways_agree(capsys):
    bench_score.main(["--events", "20000", "--users", "400"])
    out = capsys.readouterr().out
    assert "every user's row equal both ways" in out and "events/s" in out


def test_a_bad_size_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        bench_score.main(["--events", "0"])
    assert exc.value.code == 2 and "--events and --users must be at least 1" in capsys.readouterr().err
