"""The allow-list object in S3 (``settings.ALLOWLIST_KEY`` in the model bucket), for its writer and its reader.

* ``S3AllowListStore``: the decisions Lambda's read-modify-write, with S3 conditional writes (``IfMatch`` on the
  ETag read, ``IfNoneMatch="*"`` to create): a write that lost the race raises ``ConditionalWriteFailed`` and the
  recorder reads again.
* ``S3AllowListSource``: the consumer's view, kept in memory and re-checked at most every ``refresh_seconds``
  with a conditional GET (``IfNoneMatch`` on its ETag), as ``store.model_source`` re-checks the model: a 304 when
  nothing changed costs no parsing. It never raises: no list reads as empty, an unreadable or unreachable one
  keeps the last good list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.model.ports import ConditionalWriteFailed
from clickguard.review.allowlist import AllowList, AllowListError
from clickguard.review.ports import DecisionStoreError

_MISSING = {"NoSuchKey", "404"}
_NOT_MODIFIED = {"304", "NotModified"}
# The conditional write lost: changed since read (412), a concurrent conditional write (409), deleted (404).
_CONDITION_LOST = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3AllowListStore:
    def __init__(self, client: Any, bucket: str, key: str = settings.ALLOWLIST_KEY) -> None:
        self.client, self.bucket, self.key = client, bucket, key

    def read(self) -> tuple[AllowList, str | None]:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.key)
            data = resp["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return AllowList(), None
            raise DecisionStoreError(f"allow-list read: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DecisionStoreError(f"allow-list read: {type(exc).__name__}") from exc
        return AllowList.from_json(data), str(resp["ETag"])

    def write(self, allow: AllowList, expected_etag: str | None) -> None:
        condition = {"IfNoneMatch": "*"} if expected_etag is None else {"IfMatch": expected_etag}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=allow.to_json(), ContentType="application/json", **condition
            )
        except ClientError as exc:
            if _code(exc) in _CONDITION_LOST:
                raise ConditionalWriteFailed(f"s3://{self.bucket}/{self.key}: {_code(exc)}") from None
            raise DecisionStoreError(f"allow-list write: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DecisionStoreError(f"allow-list write: {type(exc).__name__}") from exc


class S3AllowListSource:
    """The consumer's ``AllowListSource``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        refresh_seconds: float,
        key: str = settings.ALLOWLIST_KEY,
        clock: Callable[[], float] = time.monotonic,
        logger: Any = None,
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.log = logger or logging.getLogger(__name__)  # Powertools Logger in the Lambda; same interface
        self.allow = AllowList()
        self.etag: str | None = None
        self.checked_at: float | None = None
        self.calls = 0

    def current(self) -> AllowList:
        now = self.clock()
        if self.checked_at is None or now - self.checked_at >= self.refresh_seconds:
            self.checked_at = now
            self._refresh()
        return self.allow

    def _refresh(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.etag:
            kwargs["IfNoneMatch"] = self.etag
        try:
            self.calls += 1
            resp = self.client.get_object(**kwargs)
            data = resp["Body"].read()
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING:
                self.allow, self.etag = AllowList(), None  # deleted by an operator: nobody is allowed
            elif code not in _NOT_MODIFIED:
                self.log.warning("allow-list check failed; keeping the current list", extra={"error": code})
            return
        except BotoCoreError as exc:
            self.log.warning("allow-list check failed; keeping the current list", extra={"error": type(exc).__name__})
            return
        try:
            self.allow, self.etag = AllowList.from_json(data), str(resp["ETag"])
        except AllowListError as exc:  # etag not updated: the next interval reads it again
            self.log.error("allow-list unreadable; keeping the current list", extra={"error": str(exc)[:200]})
