"""The model artifact in a blob store (S3 or a directory), published so that readers never see half a model.

Layout::

    models/<version>/model.json            metadata: vocabulary, parameters, thresholds, stats, array checksums
    models/<version>/counts.npy            int64 [V, V]
    models/<version>/surprisal_bits.npy    float32 [V, V]
    models/<version>/start_distribution.npy float32 [V]
    models/latest.json                     {"version", "model_key", "model_sha256"}: written last

Array files and model.json are written first; ``latest.json`` is switched only once they are all in place, so a
reader that follows the pointer always finds a complete, checksummed model. Rolling back is re-pointing.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.model import Model, ModelParams, Thresholds
from clickguard.model.vocabulary import RESERVED
from clickguard.store.blobs import BlobNotFound, BlobStore

FORMAT_VERSION = 1
_ARRAYS = {
    "counts": ("counts.npy", np.int64, 2),
    "surprisal": ("surprisal_bits.npy", np.float32, 2),
    "start_distribution": ("start_distribution.npy", np.float32, 1),
}


class ModelArtifactError(RuntimeError):
    """The artifact is missing, corrupt or from an incompatible format."""


class NoModelPublished(ModelArtifactError):
    pass


def version_prefix(version: str) -> str:
    return f"{settings.MODELS_PREFIX}{version}/"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def model_metadata(model: Model, array_sha: dict[str, str]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "version": model.version,
        "created_at": model.created_at,
        "window": {"start": model.window_start, "end": model.window_end},
        "vocabulary": list(model.tokens),
        "params": asdict(model.params),
        "thresholds": asdict(model.thresholds),
        "stats": model.stats,
        "arrays": {
            name: {"file": spec[0], "dtype": np.dtype(spec[1]).name, "sha256": array_sha[name]}
            for name, spec in _ARRAYS.items()
        },
    }


def write_model(store: BlobStore, model: Model) -> str:
    """Write the version's files (not the pointer). Returns the model.json key."""
    prefix = version_prefix(model.version)
    sha: dict[str, str] = {}
    for name, (filename, dtype, _) in _ARRAYS.items():
        data = _npy_bytes(getattr(model, name).astype(dtype, copy=False))
        sha[name] = _sha256(data)
        store.put(prefix + filename, data)
    meta = json.dumps(model_metadata(model, sha), indent=2, sort_keys=True).encode()
    store.put(prefix + "model.json", meta, "application/json")
    return prefix + "model.json"


def publish(store: BlobStore, model: Model) -> str:
    """Write the model, verify it reads back, then switch ``latest.json`` to it."""
    key = write_model(store, model)
    load_version(store, model.version)  # never point readers at something that does not load
    set_latest(store, model.version)
    return key


def set_latest(store: BlobStore, version: str) -> dict[str, Any]:
    """Point ``latest.json`` at an existing, verified version: this is also how a model is rolled back."""
    key = version_prefix(version) + "model.json"
    try:
        meta_bytes = store.get(key)
    except BlobNotFound:
        raise ModelArtifactError(f"no model version {version!r} in {store.describe()}") from None
    load_version(store, version)
    pointer = {"version": version, "model_key": key, "model_sha256": _sha256(meta_bytes)}
    store.put(settings.LATEST_POINTER_KEY, json.dumps(pointer, sort_keys=True).encode(), "application/json")
    return pointer


def read_pointer(store: BlobStore) -> dict[str, Any]:
    try:
        raw = store.get(settings.LATEST_POINTER_KEY)
    except BlobNotFound:
        raise NoModelPublished(f"no {settings.LATEST_POINTER_KEY} in {store.describe()}") from None
    try:
        pointer = json.loads(raw)
        pointer["version"], pointer["model_key"]
    except (ValueError, KeyError, TypeError):
        raise ModelArtifactError(f"{settings.LATEST_POINTER_KEY} is not a valid pointer") from None
    return pointer


def load_latest(store: BlobStore) -> Model:
    pointer = read_pointer(store)
    return load_version(store, pointer["version"], expected_meta_sha=pointer.get("model_sha256"))


def list_versions(store: BlobStore) -> list[str]:
    keys = store.list(settings.MODELS_PREFIX)
    return sorted({k[len(settings.MODELS_PREFIX) :].split("/", 1)[0] for k in keys if k.endswith("/model.json")})


def load_version(store: BlobStore, version: str, expected_meta_sha: str | None = None) -> Model:
    """Read and verify one version: checksums, dtypes, shapes and vocabulary must all agree."""
    prefix = version_prefix(version)
    where = f"{store.describe()}/{prefix}"
    try:
        meta_bytes = store.get(prefix + "model.json")
    except BlobNotFound:
        raise ModelArtifactError(f"model.json missing at {where}") from None
    if expected_meta_sha and _sha256(meta_bytes) != expected_meta_sha:
        raise ModelArtifactError(f"model.json at {where} does not match the checksum in latest.json")
    try:
        meta = json.loads(meta_bytes)
    except ValueError:
        raise ModelArtifactError(f"model.json at {where} is not JSON") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelArtifactError(
            f"model at {where} has format_version {meta.get('format_version')!r}; this code reads {FORMAT_VERSION}"
        )
    try:
        tokens = tuple(meta["vocabulary"])
        if tokens[: len(RESERVED)] != RESERVED or len(set(tokens)) != len(tokens):
            raise ModelArtifactError(f"model at {where} has a malformed vocabulary")
        n = len(tokens)
        arrays = {}
        for name, (filename, dtype, ndim) in _ARRAYS.items():
            spec = meta["arrays"][name]
            try:
                data = store.get(prefix + filename)
            except BlobNotFound:
                raise ModelArtifactError(f"{filename} missing at {where}") from None
            if _sha256(data) != spec["sha256"]:
                raise ModelArtifactError(f"{filename} at {where} is corrupt (sha256 mismatch)")
            array = np.load(io.BytesIO(data), allow_pickle=False)
            if array.dtype != dtype or array.shape != (n,) * ndim:
                raise ModelArtifactError(
                    f"{filename} at {where} has dtype {array.dtype} shape {array.shape}; "
                    f"expected {np.dtype(dtype).name} {(n,) * ndim}"
                )
            arrays[name] = array
        return Model(
            version=meta["version"],
            created_at=meta["created_at"],
            window_start=meta["window"]["start"],
            window_end=meta["window"]["end"],
            tokens=tokens,
            params=ModelParams(**meta["params"]),
            thresholds=Thresholds(**meta["thresholds"]),
            stats=meta["stats"],
            **arrays,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelArtifactError(f"model at {where} is incompatible: {type(exc).__name__}: {exc}") from None
