"""The layer cache keeps one build per kind: a source edit replaces the old build instead of adding beside it."""

from __future__ import annotations

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
    assert left == sorted([".building-abc", "1111111111111111", out.name])


def test_a_cached_build_is_returned_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(bl, "BUILD_ROOT", tmp_path)
    first = bl.build_layer(stub=True)
    marker = first / "python" / "marker"
    marker.write_text("kept")
    assert bl.build_layer(stub=True) == first
    assert marker.read_text() == "kept"
