"""Model artifact: round trip, checksums, atomic pointer switch that only moves forward, rollback, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clickguard import settings
from clickguard.model import artifact
from clickguard.model.model import ModelParams
from clickguard.store.blobs import ConditionalWriteFailed, LocalDirStore
from clickguard.training.dataset import EventColumns
from clickguard.training.pipeline import InsufficientData, train
from tests.factories import ndjson, ordinary_events

DAY1, DAY2, DAY3 = "2025-11-26T00:00:00Z", "2025-11-27T00:00:00Z", "2025-11-28T00:00:00Z"


def fit(seed: int = 0, n_users: int = 150, end: str = DAY2, **kw):
    cols = EventColumns()
    cols.add_lines(ndjson(ordinary_events(n_users, seed)).splitlines())
    model, _ = train(
        cols,
        ModelParams(min_token_count=1),
        window_start="2025-11-20T00:00:00Z",
        window_end=end,
        created_at=end,
        min_sessions=kw.get("min_sessions", 10),
    )
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


def test_rollback_repoints_latest_back_and_forward(tmp_path):
    store = LocalDirStore(tmp_path)
    old, new = fit(seed=1, end=DAY1), fit(seed=2, end=DAY2)
    artifact.publish(store, old)
    artifact.publish(store, new)
    assert artifact.load_latest(store).version == new.version
    assert artifact.list_versions(store) == sorted([old.version, new.version])
    pointer = artifact.rollback_to(store, old.version)  # back in time, on purpose
    assert pointer["window_end"] == DAY1
    assert artifact.load_latest(store).version == old.version
    with pytest.raises(artifact.ModelArtifactError, match="no model version"):
        artifact.rollback_to(store, "does-not-exist")
    assert artifact.load_latest(store).version == old.version
    artifact.rollback_to(store, new.version)  # and forward again
    assert artifact.load_latest(store).version == new.version


def test_a_rollback_stands_until_a_later_window_is_published(tmp_path):
    store = LocalDirStore(tmp_path)
    old, new, newest = fit(seed=1, end=DAY1), fit(seed=2, end=DAY2), fit(seed=3, end=DAY3)
    artifact.publish(store, old)
    artifact.publish(store, new)
    artifact.rollback_to(store, old.version)
    again = artifact.publish(store, new)  # e.g. a retried run of the window the operator rolled back from
    assert not again.moved and artifact.load_latest(store).version == old.version
    assert artifact.publish(store, newest).moved
    assert artifact.load_latest(store).version == newest.version


def test_pointer_records_the_window_end(tmp_path):
    store = LocalDirStore(tmp_path)
    model = fit(end=DAY2)
    outcome = artifact.publish(store, model)
    assert outcome.moved and outcome.latest == model.version
    assert artifact.read_pointer(store) == {
        "version": model.version,
        "model_key": f"models/{model.version}/model.json",
        "model_sha256": outcome_sha(tmp_path, model.version),
        "window_end": DAY2,
    }


def outcome_sha(root, version: str) -> str:
    import hashlib

    return hashlib.sha256((root / "models" / version / "model.json").read_bytes()).hexdigest()


def test_a_late_run_for_an_earlier_window_leaves_the_newer_model(tmp_path):
    store = LocalDirStore(tmp_path)
    newer, late = fit(seed=1, end=DAY2), fit(seed=2, end=DAY1)
    artifact.publish(store, newer)
    outcome = artifact.publish(store, late)
    assert not outcome.moved and outcome.latest == newer.version
    assert "must end after 2025-11-27T00:00:00Z, and this one ends 2025-11-26T00:00:00Z" in outcome.reason
    assert artifact.load_latest(store).version == newer.version
    assert late.version in artifact.list_versions(store)  # written all the same: an operator may roll back to it


def test_same_window_keeps_the_first_and_republishing_is_a_no_op(tmp_path):
    store = LocalDirStore(tmp_path)
    first, other = fit(seed=1, end=DAY2), fit(seed=2, end=DAY2)
    assert artifact.publish(store, first).moved
    assert not artifact.publish(store, other).moved  # only a later window moves the pointer
    again = artifact.publish(store, first)
    assert not again.moved and again.latest == first.version and again.reason.startswith("latest.json already")


def test_a_pointer_without_window_end_is_completed_from_its_model(tmp_path):
    """latest.json written before window ends were recorded still orders publications."""
    store = LocalDirStore(tmp_path)
    newer, late = fit(seed=1, end=DAY2), fit(seed=2, end=DAY1)
    artifact.publish(store, newer)
    legacy = artifact.read_pointer(store)
    del legacy["window_end"]
    store.put(settings.LATEST_POINTER_KEY, json.dumps(legacy).encode())
    assert not artifact.publish(store, late).moved
    assert artifact.publish(store, fit(seed=3, end=DAY3)).moved


def test_an_unreadable_pointer_is_replaced(tmp_path):
    store = LocalDirStore(tmp_path)
    store.put(settings.LATEST_POINTER_KEY, b"{not json")
    model = fit(end=DAY1)
    assert artifact.publish(store, model).moved
    assert artifact.load_latest(store).version == model.version


def test_a_window_end_that_is_not_a_time_is_refused_before_writing(tmp_path):
    store = LocalDirStore(tmp_path)
    with pytest.raises(artifact.ModelArtifactError, match="not an ISO-8601 time"):
        artifact.publish(store, fit(end="e"))
    assert store.list("models/") == []


def test_local_dir_put_if_is_a_compare_and_swap(tmp_path):
    store = LocalDirStore(tmp_path)
    store.put_if("k", b"1", None)
    with pytest.raises(ConditionalWriteFailed):
        store.put_if("k", b"2", None)  # create-only: it exists now
    tag = store.get_versioned("k").etag
    with pytest.raises(ConditionalWriteFailed):
        store.put_if("k", b"2", '"stale"')
    store.put_if("k", b"2", tag)
    assert store.get("k") == b"2" and store.get_versioned("k").etag != tag
    assert store.list("") == ["k"]  # the lock file beside the key is not a key


def test_too_few_sessions_is_refused():
    with pytest.raises(InsufficientData, match="fewer than the minimum"):
        fit(n_users=5, min_sessions=1000)


def test_duplicate_event_ids_are_dropped():
    events = ordinary_events(30, 3)
    for i, e in enumerate(events):
        e["event_id"] = f"e{i}"
    cols = EventColumns()
    cols.add_lines(ndjson(events + events[:50]).splitlines())
    model, _ = train(
        cols, ModelParams(min_token_count=1), window_start="s", window_end="e", created_at="c", min_sessions=1
    )
    assert model.stats["duplicates_dropped"] == 50
    assert model.stats["events"] == len(events)


def test_an_event_id_that_several_events_share_drops_none_of_them():
    """Ids numbered per session or per device (Amplitude's event_id) repeat on other events: those are no copies,
    as the consumer's rule says (``events.copy_key``); an exact copy of one still is."""
    events = ordinary_events(30, 3)
    for e in events:
        e["event_id"] = "1"  # every event of a user: one id
    cols = EventColumns()
    cols.add_lines(ndjson(events + events[:7]).splitlines())
    model, _ = train(
        cols, ModelParams(min_token_count=1), window_start="s", window_end="e", created_at="c", min_sessions=1
    )
    assert model.stats["duplicates_dropped"] == 7 and model.stats["events"] == len(events)
