"""The layer cache keeps one build per kind: a source edit replaces the old build instead of adding beside it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from layers import build_layer as bl


def test_a_new_build_removes_the_older_builds_of_its_kind_only(tmp_path, monkeypatch):
    monkeypatch.setattr(bl, "BUILD_ROOT", tmp_path)
    for name in ("stub-0000000000000000", "1111111111111111", ".building-abc"):
        (tmp_path / name / "python").mkdir(parents=True)

    out = bl.build_layer(stub=True)

    assert out.name == "stub-" + bl.input_hash(stub=True)
    assert (out / "python" / "clickguard" / "__init__.py").is_file()
    left = sorted(p.name for p in tmp_path.iterdir())
    # the older stub went; the full layer (the other kind) and another process's half-built folder stay
    assert left == sorted([".building-abc", ".lock", "1111111111111111", out.name])


def test_a_cached_build_is_returned_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(bl, "BUILD_ROOT", tmp_path)
    first = bl.build_layer(stub=True)
    marker = first / "python" / "marker"
    marker.write_text("kept")
    assert bl.build_layer(stub=True) == first
    assert marker.read_text() == "kept"


def test_builds_that_start_together_take_turns_and_the_second_reuses_the_first(tmp_path, monkeypatch):
    """Two test workers that both found no layer built it side by side, and the second replaced the directory the
    first was copying into a CDK asset (CI: ENOENT on a numpy file)."""
    monkeypatch.setattr(bl, "BUILD_ROOT", tmp_path)
    running, overlaps, builds = [], [], []
    copy = bl._copy_package

    def slow_copy(target):
        overlaps.append(len(running))
        running.append(1)
        builds.append(target)
        time.sleep(0.3)
        copy(target)
        running.pop()

    monkeypatch.setattr(bl, "_copy_package", slow_copy)
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: bl.build_layer(stub=True), range(2)))
    assert outs[0] == outs[1] and (outs[0] / "python" / "clickguard" / "__init__.py").is_file()
    assert overlaps == [0] and len(builds) == 1  # one build; the other waited for it and took it
