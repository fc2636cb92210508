"""The consumer's model: loaded from ``models/latest.json``, cached, re-checked at most every N seconds.

A re-check is one conditional GET of the small pointer object (``IfNoneMatch`` on its ETag): 304 when nothing
changed, the new pointer otherwise. Only a new version triggers loading arrays. Nothing here raises: without a
model the consumer runs unscored; with a broken new one (bad checksums, an incompatible format, no detector v2, as
a model trained by an older release) it logs why, keeps the model it has and tries again next interval.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickguard import settings
from clickguard.consumer.ports import ModelView
from clickguard.model import detector
from clickguard.model.artifact import ModelArtifactError, load_version
from clickguard.model.model import Model
from clickguard.model.scoring import ScoringTable
from clickguard.store.blobs import S3Store

_NOT_MODIFIED = {"304", "NotModified"}
_MISSING = {"NoSuchKey", "404", "NoSuchBucket"}


class S3ModelSource:
    def __init__(
        self,
        client: Any,
        bucket: str,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        logger: Any = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.wall = wall
        self.log = logger or logging.getLogger(__name__)  # Powertools Logger in the Lambda; same interface
        self.model: Model | None = None
        self.table = ScoringTable.unscored()
        self.etag: str | None = None
        self.checked_at: float | None = None
        self.calls = 0

    def current(self) -> ModelView:
        now = self.clock()
        if self.checked_at is None or now - self.checked_at >= self.refresh_seconds:
            self.checked_at = now
            self._refresh()
        return ModelView(self.table, self.model, self._age())

    def _age(self) -> float | None:
        if self.model is None:
            return None
        try:
            created = datetime.fromisoformat(self.model.created_at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
        return max(0.0, self.wall() - created)

    def _refresh(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": settings.LATEST_POINTER_KEY}
        if self.etag:
            kwargs["IfNoneMatch"] = self.etag
        try:
            self.calls += 1
            resp = self.client.get_object(**kwargs)
            raw = resp["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_MODIFIED:
                return
            if code in _MISSING:
                if self.model is None:
                    self.log.warning("no model published yet; running unscored")
                return
            self.log.warning("model pointer check failed; keeping current model", extra={"error": code})
            return
        except BotoCoreError as exc:
            self.log.warning("model pointer check failed; keeping current model", extra={"error": type(exc).__name__})
            return
        try:
            pointer = json.loads(raw)
            version = pointer["version"]
            if self.model is None or version != self.model.version:
                model = load_version(S3Store(self.client, self.bucket), version, pointer.get("model_sha256"))
                self.table = detector.scoring_table(model)  # refuses a model without a usable detector v2
                self.model = model
                self.log.info("model loaded", extra={"version": version})
            self.etag = resp.get("ETag")
        except (ValueError, KeyError, TypeError, ModelArtifactError, ClientError, BotoCoreError) as exc:
            # etag not updated: the next interval tries this pointer again.
            self.log.error("model could not be loaded; keeping current model", extra={"error": str(exc)[:200]})
