"""Model artifact: round trip, checksums, atomic pointer switch, rollback, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clickguard import settings
from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.store.blobs import LocalDirStore
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import InsufficientData, train
from tests.factories import ndjson, ordinary_events


def fit(seed: int = 0, n_users: int = 150, **kw):
    cols = EventColumns()
    cols.add_lines(ndjson(ordinary_events(n_users, seed)).splitlines())
    model, _ = train(cols, ModelParams(min_token_count=1), window_start="2025-11-20T00:00:00Z",
                     window_end="2025-11-27T00:00:00Z", created_at="2025-11-27T00:00:00Z",
                     min_sessions=kw.get("min_sessions", 10))
    return model


class RecordingStore(LocalDirStore):
    def __init__(self, root):
        super().__init__(root)
        self.writes: list[str] = []

    def put(self, key, data, content_type="application/octet-stream"):
        self.writes.append(key)
        super().put(key, data, content_type)


def test_round_trip_and_layout(tmp_path):
    store = RecordingStore(tmp_path)
    model = fit()
    artifact.publish(store, model)
    assert store.writes[-1] == settings.LATEST_POINTER_KEY  # the pointer is switched last
    prefix = f"models/{model.version}/"
    assert {prefix + f for f in ("model.json", "counts.npy", "surprisal_bits.npy", "start_distribution.npy")} <= set(
        store.list("models/")
    )
    meta = json.loads((tmp_path / prefix / "model.json").read_text())
    assert meta["vocabulary"][:2] == ["START", "OTHER"]
    assert set(meta["arrays"]) == {"counts", "surprisal", "start_distribution"}
    assert all(len(a["sha256"]) == 64 for a in meta["arrays"].values())
    loaded = artifact.load_latest(store)
    assert loaded.tokens == model.tokens and loaded.thresholds == model.thresholds
    assert np.array_equal(loaded.counts, model.counts)
    assert loaded.surprisal.dtype == np.float32 and np.array_equal(loaded.surprisal, model.surprisal)
    assert np.isclose(loaded.start_distribution.sum(), 1.0, atol=1e-5)


def test_training_is_deterministic():
    a, b = fit(seed=4), fit(seed=4)
    assert a.version == b.version and np.array_equal(a.counts, b.counts) and a.thresholds == b.thresholds
    assert fit(seed=5).version != a.version


def test_corrupt_array_is_refused(tmp_path):
    store = LocalDirStore(tmp_path)
    model = fit()
    artifact.publish(store, model)
    path = tmp_path / "models" / model.version / "surprisal_bits.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(artifact.ModelArtifactError, match="corrupt"):
        artifact.load_latest(store)


def test_wrong_shape_is_refused_even_with_matching_checksum(tmp_path):
    store = LocalDirStore(tmp_path)
    model = fit()
    artifact.write_model(store, model)
    prefix = tmp_path / "models" / model.version
    meta = json.loads((prefix / "model.json").read_text())
    meta["vocabulary"].append("extra-token")
    (prefix / "model.json").write_text(json.dumps(meta))
    with pytest.raises(artifact.ModelArtifactError, match="shape"):
        artifact.load_version(store, model.version)


def test_incompatible_format_and_missing_files(tmp_path):
    store = LocalDirStore(tmp_path)
    model = fit()
    artifact.publish(store, model)
    prefix = tmp_path / "models" / model.version
    meta = json.loads((prefix / "model.json").read_text())
    meta["format_version"] = 99
    (prefix / "model.json").write_text(json.dumps(meta))
    with pytest.raises(artifact.ModelArtifactError, match=r"checksum in latest\.json"):
        artifact.load_latest(store)
    with pytest.raises(artifact.ModelArtifactError, match="format_version 99"):
        artifact.load_version(store, model.version)
    (prefix / "model.json").unlink()
    with pytest.raises(artifact.ModelArtifactError, match=r"model\.json missing"):
        artifact.load_version(store, model.version)


def test_no_model_published(tmp_path):
    with pytest.raises(artifact.NoModelPublished):
        artifact.load_latest(LocalDirStore(tmp_path))


def test_rollback_repoints_latest(tmp_path):
    store = LocalDirStore(tmp_path)
    old, new = fit(seed=1), fit(seed=2)
    artifact.publish(store, old)
    artifact.publish(store, new)
    assert artifact.load_latest(store).version == new.version
    assert artifact.list_versions(store) == sorted([old.version, new.version])
    artifact.set_latest(store, old.version)
    assert artifact.load_latest(store).version == old.version
    with pytest.raises(artifact.ModelArtifactError, match="no model version"):
        artifact.set_latest(store, "does-not-exist")
    assert artifact.load_latest(store).version == old.version


def test_too_few_sessions_is_refused():
    with pytest.raises(InsufficientData, match="fewer than the minimum"):
        fit(n_users=5, min_sessions=1000)


def test_duplicate_event_ids_are_dropped():
    events = ordinary_events(30, 3)
    for i, e in enumerate(events):
        e["event_id"] = f"e{i}"
    cols = EventColumns()
    cols.add_lines(ndjson(events + events[:50]).splitlines())
    model, _ = train(cols, ModelParams(min_token_count=1), window_start="s", window_end="e", created_at="c",
                     min_sessions=1)
    assert model.stats["duplicates_dropped"] == 50
    assert model.stats["events"] == len(events)
