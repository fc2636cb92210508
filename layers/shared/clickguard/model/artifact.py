"""The model artifact in a blob store (S3 or a directory), published so that readers never see half a model and the
current model never goes back in time by accident.

Layout::

    models/<version>/model.json            metadata: vocabulary, parameters, thresholds, stats, array checksums
    models/<version>/counts.npy            int64 [V, V]
    models/<version>/surprisal_bits.npy    float32 [V, V]
    models/<version>/start_distribution.npy float32 [V]
    models/latest.json                     {"version", "model_key", "model_sha256", "window_end"
                                           [, "rolled_back_from": {"version", "window_end"}]}: written last

Array files and model.json are written first; ``latest.json`` is switched only once they are all in place, so a
reader that follows the pointer always finds a complete, checksummed model.

Publishing only moves the pointer forward: ``latest.json`` may name a new model only if that model's training
window ends later than the window of the model it names now. Two trainers running at once, or a late run for an
earlier window, therefore leave the newest model current whatever order they finish in. The check and the switch
are one compare-and-swap (``BlobStore.put_if`` on the pointer's entity tag; create-only when there is no pointer):
a writer that loses the race re-reads the pointer and decides again, a bounded number of times. An operator's
rollback (``rollback_to``) is the one deliberate exception: it re-points at any verified version, back or forward;
going back, it stands until a model whose window ends later than the one it went back from is published.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.model.model import Model, ModelParams, Thresholds
from clickguard.model.ports import BlobNotFound, BlobStore, ConditionalWriteFailed
from clickguard.model.vocabulary import RESERVED

FORMAT_VERSION = 1
_ARRAYS = {
    "counts": ("counts.npy", np.int64, 2),
    "surprisal": ("surprisal_bits.npy", np.float32, 2),
    "start_distribution": ("start_distribution.npy", np.float32, 1),
}
# Compare-and-swap rounds before giving up on the pointer: each lost round means another trainer moved it in
# between, so a handful covers every realistic schedule (the run fails loudly and is retried rather than spin).
POINTER_ATTEMPTS = 5
JSON = "application/json"


class ModelArtifactError(RuntimeError):
    """The artifact is missing, corrupt or from an incompatible format."""


class NoModelPublished(ModelArtifactError):
    pass


class PointerContention(ModelArtifactError):
    """``latest.json`` kept changing under this writer for every attempt: nothing was decided."""


@dataclass(frozen=True)
class PublishOutcome:
    """What ``publish`` did: the version it wrote, and the version ``latest.json`` names afterwards."""

    version: str
    model_key: str
    latest: str
    moved: bool  # this call switched latest.json to ``version``
    reason: str


@dataclass(frozen=True)
class _CurrentPointer:
    etag: str
    version: str | None  # None: the pointer is unreadable and may be replaced
    order_end: datetime | None  # a new model's window must end after this to replace it (see _order_end)
    order_version: str | None = None  # the version whose window end that is (the current one, or a rolled-back one)


def version_prefix(version: str) -> str:
    return f"{settings.MODELS_PREFIX}{version}/"


def window_end_instant(text: str) -> datetime:
    """An ISO-8601 window end as an aware UTC instant (a time without an offset is taken as UTC)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
        "detector": model.detector,
        "groups": model.groups,
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
    store.put(prefix + "model.json", meta, JSON)
    return prefix + "model.json"


# --- the pointer -------------------------------------------------------------------------------------------------


def publish(store: BlobStore, model: Model, attempts: int = POINTER_ATTEMPTS) -> PublishOutcome:
    """Write the model, verify it reads back, then move ``latest.json`` to it if its window ends later than the
    current pointer's (see ``_order_end``). Raises ``PointerContention`` if every compare-and-swap round lost."""
    try:
        ours = window_end_instant(model.window_end)
    except ValueError:
        raise ModelArtifactError(f"window end {model.window_end!r} is not an ISO-8601 time") from None
    key = write_model(store, model)
    pointer = _verified_pointer(store, model.version)  # never point readers at something that does not load
    kept: list[tuple[str, str]] = []  # (the version latest.json keeps, why), from the last round

    def plan(current: _CurrentPointer | None) -> dict[str, Any] | None:
        kept.clear()
        keep = _keep(current, model.version, ours)
        if keep is None:
            return pointer
        kept.append(keep)
        return None

    if _swap_pointer(store, plan, attempts):
        return PublishOutcome(model.version, key, model.version, True, "latest.json now names this model")
    latest, reason = kept[0]
    return PublishOutcome(model.version, key, latest, False, reason)


def rollback_to(store: BlobStore, version: str, attempts: int = POINTER_ATTEMPTS) -> dict[str, Any]:
    """The operator's re-point: ``latest.json`` names ``version`` (verified first) whatever its window, back or
    forward. Going back records the window end it went back from (``rolled_back_from``): the rollback stands until
    a model whose window ends later than *that* is published, so a re-run of the bad model's window cannot undo it.
    """
    pointer = _verified_pointer(store, version)
    target_end = _instant_or_none(pointer["window_end"])
    chosen: list[dict[str, Any]] = []

    def plan(current: _CurrentPointer | None) -> dict[str, Any]:
        chosen.clear()
        if current is None or current.order_end is None or (target_end is not None and current.order_end <= target_end):
            chosen.append(pointer)
        else:
            held = {"version": current.order_version, "window_end": _iso(current.order_end)}
            chosen.append({**pointer, "rolled_back_from": held})
        return chosen[0]

    _swap_pointer(store, plan, attempts)
    return chosen[0]


def read_pointer(store: BlobStore) -> dict[str, Any]:
    try:
        raw = store.get(settings.LATEST_POINTER_KEY)
    except BlobNotFound:
        raise NoModelPublished(f"no {settings.LATEST_POINTER_KEY} in {store.describe()}") from None
    pointer = _parse_pointer(raw)
    if pointer is None:
        raise ModelArtifactError(f"{settings.LATEST_POINTER_KEY} is not a valid pointer")
    return pointer


def _swap_pointer(
    store: BlobStore, plan: Callable[[_CurrentPointer | None], dict[str, Any] | None], attempts: int
) -> bool:
    """Read the pointer, ask ``plan`` what it should become (None: leave it), write that only if the pointer is
    still the one read; re-read and re-plan when another writer got in first. True if a pointer was written."""
    for _ in range(attempts):
        current = _read_current(store)
        pointer = plan(current)
        if pointer is None:
            return False
        try:
            store.put_if(settings.LATEST_POINTER_KEY, _pointer_bytes(pointer), current.etag if current else None, JSON)
        except ConditionalWriteFailed:
            continue
        return True
    raise PointerContention(f"{settings.LATEST_POINTER_KEY} in {store.describe()} changed during {attempts} attempts")


def _verified_pointer(store: BlobStore, version: str) -> dict[str, Any]:
    """The pointer to an existing version, after the version loaded and passed every check."""
    key = version_prefix(version) + "model.json"
    try:
        meta_bytes = store.get(key)
    except BlobNotFound:
        raise ModelArtifactError(f"no model version {version!r} in {store.describe()}") from None
    model = load_version(store, version, expected_meta_sha=_sha256(meta_bytes))
    return {"version": version, "model_key": key, "model_sha256": _sha256(meta_bytes), "window_end": model.window_end}


def _pointer_bytes(pointer: dict[str, Any]) -> bytes:
    return json.dumps(pointer, sort_keys=True).encode()


def _parse_pointer(raw: bytes) -> dict[str, Any] | None:
    try:
        pointer = json.loads(raw)
        if isinstance(pointer, dict) and isinstance(pointer["version"], str) and "model_key" in pointer:
            return pointer
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _read_current(store: BlobStore) -> _CurrentPointer | None:
    """The pointer as it is now, with its entity tag; one that cannot be read at all is reported as replaceable."""
    try:
        blob = store.get_versioned(settings.LATEST_POINTER_KEY)
    except BlobNotFound:
        return None
    pointer = _parse_pointer(blob.data)
    if pointer is None:
        return _CurrentPointer(blob.etag, None, None)
    order = _order_end(store, pointer)
    if order is None:
        return _CurrentPointer(blob.etag, pointer["version"], None)
    return _CurrentPointer(blob.etag, pointer["version"], order[0], order[1])


def _order_end(store: BlobStore, pointer: dict[str, Any]) -> tuple[datetime, str] | None:
    """The instant a new model's window must end after to replace this pointer, and whose window end it is: the
    pointer's model's, or that of the model a rollback went back from if it ends later. A pointer written before
    window ends were recorded is completed from its model.json; None when no end can be read (the pointer may then
    be replaced)."""
    end = pointer.get("window_end")
    if not isinstance(end, str):
        end = _window_end_of(store, pointer["version"])
    candidates = [(_instant_or_none(end), pointer["version"])]
    held = pointer.get("rolled_back_from")
    if isinstance(held, dict):
        candidates.append((_instant_or_none(held.get("window_end")), str(held.get("version"))))
    known = [(instant, version) for instant, version in candidates if instant is not None]
    return max(known) if known else None


def _instant_or_none(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return window_end_instant(text)
    except ValueError:
        return None


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window_end_of(store: BlobStore, version: str) -> str | None:
    try:
        end = json.loads(store.get(version_prefix(version) + "model.json"))["window"]["end"]
    except (BlobNotFound, ValueError, KeyError, TypeError):
        return None
    return end if isinstance(end, str) else None


def _keep(current: _CurrentPointer | None, version: str, window_end: datetime) -> tuple[str, str] | None:
    """``(the version latest.json keeps, why)`` when it must stay as it is; None when it may move to ``version``."""
    if current is None or current.version is None or current.order_end is None:
        return None
    if current.version == version:
        return current.version, "latest.json already names this model"
    if window_end > current.order_end:
        return None
    return current.version, (
        f"latest.json stays on {current.version}: a new model's window must end after {_iso(current.order_end)}, "
        f"and this one ends {_iso(window_end)} (to use it all the same: clickguard models rollback --store STORE "
        f"--to {version})"
    )


# --- reading -----------------------------------------------------------------------------------------------------


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
    meta = _read_meta(store, prefix, where, expected_meta_sha)
    try:
        tokens = _vocabulary(meta, where)
        arrays = {name: _read_array(store, prefix, where, meta, name, len(tokens)) for name in _ARRAYS}
        return Model(
            version=meta["version"],
            created_at=meta["created_at"],
            window_start=meta["window"]["start"],
            window_end=meta["window"]["end"],
            tokens=tokens,
            params=ModelParams(**meta["params"]),
            thresholds=Thresholds(**meta["thresholds"]),
            stats=meta["stats"],
            detector=meta.get("detector"),  # absent in models written before detector v2
            groups=meta.get("groups"),  # absent in models written before behaviour groups
            **arrays,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelArtifactError(f"model at {where} is incompatible: {type(exc).__name__}: {exc}") from None


def _read_meta(store: BlobStore, prefix: str, where: str, expected_sha: str | None) -> dict[str, Any]:
    try:
        meta_bytes = store.get(prefix + "model.json")
    except BlobNotFound:
        raise ModelArtifactError(f"model.json missing at {where}") from None
    if expected_sha and _sha256(meta_bytes) != expected_sha:
        raise ModelArtifactError(f"model.json at {where} does not match the checksum in latest.json")
    try:
        meta = json.loads(meta_bytes)
    except ValueError:
        raise ModelArtifactError(f"model.json at {where} is not JSON") from None
    if not isinstance(meta, dict):
        raise ModelArtifactError(f"model.json at {where} is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelArtifactError(
            f"model at {where} has format_version {meta.get('format_version')!r}; this code reads {FORMAT_VERSION}"
        )
    return meta


def _vocabulary(meta: dict[str, Any], where: str) -> tuple[str, ...]:
    tokens = tuple(meta["vocabulary"])
    if tokens[: len(RESERVED)] != RESERVED or len(set(tokens)) != len(tokens):
        raise ModelArtifactError(f"model at {where} has a malformed vocabulary")
    return tokens


def _read_array(store: BlobStore, prefix: str, where: str, meta: dict[str, Any], name: str, n: int) -> np.ndarray:
    filename, dtype, ndim = _ARRAYS[name]
    try:
        data = store.get(prefix + filename)
    except BlobNotFound:
        raise ModelArtifactError(f"{filename} missing at {where}") from None
    if _sha256(data) != meta["arrays"][name]["sha256"]:
        raise ModelArtifactError(f"{filename} at {where} is corrupt (sha256 mismatch)")
    array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    if array.dtype != dtype or array.shape != (n,) * ndim:
        raise ModelArtifactError(
            f"{filename} at {where} has dtype {array.dtype} shape {array.shape}; expected {np.dtype(dtype).name} "
            f"{(n,) * ndim}"
        )
    return array
