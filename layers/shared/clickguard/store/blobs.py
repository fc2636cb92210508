"""The model package's ``BlobStore`` over S3 or a local directory, so the artifact code is written once.

Both honour ``put_if``, the compare-and-swap that keeps ``latest.json`` from moving backwards: S3 through its
conditional writes (``IfMatch`` / ``IfNoneMatch="*"`` on PutObject), a directory through an exclusive lock held
while the current bytes are compared and replaced.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from clickguard.model.ports import (
    OCTET_STREAM,
    BlobNotFound,
    BlobStore,
    ConditionalWriteFailed,
    VersionedBlob,
)

__all__ = ["BlobNotFound", "BlobStore", "ConditionalWriteFailed", "LocalDirStore", "S3Store", "VersionedBlob"]

# S3's answers to a conditional write that lost: the precondition no longer holds (412), another conditional write
# to the key overlapped (409), or IfMatch named a key that has been deleted since (404).
_CONDITION_LOST = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"}
_HIDDEN_PREFIXES = (".tmp-", ".lock-")


class LocalDirStore:
    """Keys are relative paths under ``root``; writes are atomic (temp file + rename), as S3 PUTs are.

    The entity tag of a file is the quoted SHA-256 of its bytes: equal bytes, equal tag, as for a single-part S3
    object (S3 uses MD5). ``put_if`` holds an exclusive ``flock`` on a ``.lock-<name>`` file beside the key, so two
    processes publishing into one directory take turns.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def get_versioned(self, key: str) -> VersionedBlob:
        data = self.get(key)
        return VersionedBlob(data, _etag(data))

    def put(self, key: str, data: bytes, content_type: str = OCTET_STREAM) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def put_if(self, key: str, data: bytes, expected_etag: str | None, content_type: str = OCTET_STREAM) -> None:
        with self._locked(key):
            try:
                current: str | None = self.get_versioned(key).etag
            except BlobNotFound:
                current = None
            if current != expected_etag:
                raise ConditionalWriteFailed(f"{key}: entity tag is {current}, expected {expected_etag}")
            self.put(key, data, content_type)

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".lock-{path.name}", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        top = base if base.is_dir() else base.parent
        if not top.exists():
            return []
        paths = (p for p in top.rglob("*") if p.is_file() and not p.name.startswith(_HIDDEN_PREFIXES))
        keys = (p.relative_to(self.root).as_posix() for p in paths)
        return sorted(k for k in keys if k.startswith(prefix))

    def describe(self) -> str:
        return str(self.root)


class S3Store:
    """One bucket. ``put_if`` is PutObject with ``IfMatch=<etag>``, or ``IfNoneMatch="*"`` to create only."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def get(self, key: str) -> bytes:
        return self.get_versioned(key).data

    def get_versioned(self, key: str) -> VersionedBlob:
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None
        return VersionedBlob(resp["Body"].read(), str(resp["ETag"]))

    def put(self, key: str, data: bytes, content_type: str = OCTET_STREAM) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_if(self, key: str, data: bytes, expected_etag: str | None, content_type: str = OCTET_STREAM) -> None:
        condition = {"IfNoneMatch": "*"} if expected_etag is None else {"IfMatch": expected_etag}
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _CONDITION_LOST:
                raise ConditionalWriteFailed(f"s3://{self.bucket}/{key}: {code}") from None
            raise

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", ()))
        return sorted(keys)

    def describe(self) -> str:
        return f"s3://{self.bucket}"


def _etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()}"'
