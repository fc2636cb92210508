"""A tiny blob-store interface over S3 or a local directory, so the artifact code is written once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


class BlobNotFound(KeyError):
    pass


class BlobStore(Protocol):
    def get(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def list(self, prefix: str) -> list[str]: ...

    def describe(self) -> str: ...


class LocalDirStore:
    """Keys are relative paths under ``root``; writes are atomic (temp file + rename), as S3 PUTs are."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        top = base if base.is_dir() else base.parent
        if not top.exists():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in top.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and "/.tmp-" not in k)

    def describe(self) -> str:
        return str(self.root)


class S3Store:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def get(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", ()))
        return sorted(keys)

    def describe(self) -> str:
        return f"s3://{self.bucket}"
