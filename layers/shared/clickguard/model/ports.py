"""What the artifact code needs from storage: a few named blobs, and one compare-and-swap for the pointer.

``clickguard.store.blobs`` implements this over S3 and over a local directory; tests use an in-memory fake. The
model package defines the interface and imports no adapter, so the maths and the format never depend on AWS.

``put_if`` is the one operation that is not a plain write: it replaces a blob only if it is still the version the
caller read (``expected_etag``), or creates it only if it does not exist yet (``expected_etag=None``). On S3 that
is ``PutObject`` with ``IfMatch`` / ``IfNoneMatch="*"``; a write that loses the race raises ``ConditionalWriteFailed``
(S3 answers 412 Precondition Failed, or 409 ConditionalRequestConflict when two conditional writes overlap), and the
caller re-reads and decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

OCTET_STREAM = "application/octet-stream"


class BlobNotFound(KeyError):
    """No blob under that key."""


class ConditionalWriteFailed(RuntimeError):
    """A ``put_if`` precondition did not hold: the blob changed (or appeared, or vanished) since it was read."""


@dataclass(frozen=True)
class VersionedBlob:
    """A blob's bytes with the entity tag that names this exact version of it (S3's ETag)."""

    data: bytes
    etag: str


class BlobStore(Protocol):
    def get(self, key: str) -> bytes:
        """The blob's bytes; raises ``BlobNotFound``."""
        ...

    def get_versioned(self, key: str) -> VersionedBlob:
        """The blob's bytes and its entity tag, read together; raises ``BlobNotFound``."""
        ...

    def put(self, key: str, data: bytes, content_type: str = OCTET_STREAM) -> None:
        """Write the whole blob at once (readers see the old bytes or the new, never a mix)."""
        ...

    def put_if(self, key: str, data: bytes, expected_etag: str | None, content_type: str = OCTET_STREAM) -> None:
        """Write only if the blob's entity tag is still ``expected_etag`` (``None``: only if it does not exist);
        raises ``ConditionalWriteFailed`` otherwise."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        ...

    def describe(self) -> str:
        """Where the store is, for messages (``s3://bucket`` or a directory)."""
        ...
