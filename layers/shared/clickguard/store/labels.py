"""Reviewers' decisions under ``labels/``, read for the trainer: the block list and the reviewed negatives.

Every object under the prefix is NDJSON of ``{"user_key", "decision", "decided_at", ...}``: the decision log
that the decisions Lambda writes (``labels/decisions/``, one object per decision: ``store.decisions``) and any
block list an operator puts there (the thesis's statuses: ``put_decisions``). The latest decision per user wins
(``review.labels``): users it blocks are left out of the training window and are the supervised part's positives;
users it allows are reviewed negatives.
"""

from __future__ import annotations

import json
from typing import Any

from clickguard import settings
from clickguard.review.labels import BLOCKING_DECISIONS, CLEARING_DECISIONS, LabelSet, decision_lines, latest_labels

__all__ = ["BLOCKING_DECISIONS", "CLEARING_DECISIONS", "S3Labels", "blocked_users", "label_set", "put_decisions"]


class S3Labels:
    """The trainer's ``LabelReader`` over the decisions under ``prefix`` in ``bucket``."""

    def __init__(self, s3: Any, bucket: str, prefix: str = settings.LABELS_PREFIX) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def labels(self) -> LabelSet:
        """Both lists in one pass over the prefix."""
        return label_set(self.s3, self.bucket, self.prefix)

    def blocked_users(self) -> set[str]:
        return set(self.labels().blocked)

    def reviewed_users(self) -> set[str]:
        """Users whose latest decision allows them: negatives a reviewer confirmed (for the supervised part)."""
        return set(self.labels().allowed)


def label_set(s3: Any, bucket: str, prefix: str = settings.LABELS_PREFIX) -> LabelSet:
    """The latest decision of every user, over every object under ``prefix`` in key order."""

    def lines() -> Any:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                yield from decision_lines(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())

    return latest_labels(lines())


def blocked_users(s3: Any, bucket: str, prefix: str = settings.LABELS_PREFIX) -> set[str]:
    """Users whose latest decision (by ``decided_at``; a later line wins a tie) is a blocking one."""
    return set(label_set(s3, bucket, prefix).blocked)


def put_decisions(
    s3: Any, bucket: str, decisions: list[dict[str, str]], name: str, prefix: str = settings.LABELS_PREFIX
) -> str:
    """Write reviewers' decisions (``user_key``, ``decision``, ``decided_at``) as one NDJSON object."""
    key = f"{prefix}{name}.ndjson"
    body = "".join(json.dumps(d, sort_keys=True) + "\n" for d in decisions).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    return key
