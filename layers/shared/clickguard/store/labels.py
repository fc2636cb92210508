"""Reviewers' decisions under ``labels/``: users confirmed abusive are kept out of the next training window.

Each object is NDJSON of ``{"user_key": ..., "decision": ..., "decided_at": ...}``. The thesis trained on good
users only and kept blocked ones (scammer, spammer, fraud, offensive, other) as a separate set; the latest
decision per user wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from clickguard import settings

BLOCKING_DECISIONS = frozenset({"blocked", "scammer", "spammer", "fraud", "offensive", "other"})
CLEARING_DECISIONS = frozenset({"cleared", "ok", "false_positive"})


class S3Labels:
    """The trainer's ``LabelReader`` over the decisions under ``prefix`` in ``bucket``."""

    def __init__(self, s3: Any, bucket: str, prefix: str = settings.LABELS_PREFIX) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def blocked_users(self) -> set[str]:
        return blocked_users(self.s3, self.bucket, self.prefix)


def blocked_users(s3: Any, bucket: str, prefix: str = settings.LABELS_PREFIX) -> set[str]:
    """Users whose latest decision (by ``decided_at``; a later line wins a tie) is a blocking one."""
    latest: dict[str, tuple[str, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", ()):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for user, when, decision in _decisions(body):
                if when >= latest.get(user, ("", ""))[0]:
                    latest[user] = (when, decision)
    return {u for u, (_, d) in latest.items() if d in BLOCKING_DECISIONS}


def _decisions(body: bytes) -> Iterator[tuple[str, str, str]]:
    """``(user_key, decided_at, decision)`` of every well-formed line with a known decision."""
    for line in body.splitlines():
        try:
            rec = json.loads(line)
            user, decision = str(rec["user_key"]), str(rec["decision"]).lower()
        except (ValueError, KeyError, TypeError):
            continue
        if decision in BLOCKING_DECISIONS | CLEARING_DECISIONS:
            yield user, str(rec.get("decided_at", "")), decision


def put_decisions(
    s3: Any, bucket: str, decisions: list[dict[str, str]], name: str, prefix: str = settings.LABELS_PREFIX
) -> str:
    """Write reviewers' decisions (``user_key``, ``decision``, ``decided_at``) as one NDJSON object."""
    key = f"{prefix}{name}.ndjson"
    body = "".join(json.dumps(d, sort_keys=True) + "\n" for d in decisions).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    return key
