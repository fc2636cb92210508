"""The campaign alert's unit of counting: a bucket of (signature, hour), what a batch adds to it and what the
store answers (``consumer.campaign`` decides, ``store.groups`` keeps the counts)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from clickguard import settings
from clickguard.timestamps import format_ms

KIND = "behaviour_group"  # the group flag's ``kind`` (session flags have none; purchase flags say network_purchase)
HOUR_MS = settings.CAMPAIGN_BUCKET_SECONDS * 1000
# A bucket's item key in the session table: longer than any user key can be (the decoder rejects keys past
# MAX_USER_KEY_CHARS), so a counter can never share an item with a user's state.
_KEY_PREFIX = "#group#"


@dataclass(frozen=True)
class Bucket:
    signature: str
    hour_ms: int  # start of the hour

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.signature.encode()).hexdigest()[:16]
        return f"{_KEY_PREFIX}{format_ms(self.hour_ms)}#{digest}".ljust(settings.MAX_USER_KEY_CHARS + 1, "#")

    @property
    def flag_id(self) -> str:
        """One per signature and hour: the FIFO queue's deduplication id, so a repeat is dropped."""
        return hashlib.sha256(f"{KIND}\x1f{self.signature}\x1f{self.hour_ms}".encode()).hexdigest()[:32]

    @property
    def message_group(self) -> str:
        """The FIFO message group: SQS allows only a few characters there, token names may hold any."""
        return "group-" + self.flag_id[:16]


@dataclass(frozen=True)
class GroupUpdate:
    """One bucket's share of a batch: its new members, as digests and (a few) keys."""

    bucket: Bucket
    digests: tuple[bytes, ...]
    sample: tuple[str, ...]  # a few keys, sorted: stored if the bucket has none yet
    cap: int  # the members set stops growing here (never below the threshold)
    expires_at: int  # epoch seconds (the table's TTL)


@dataclass(frozen=True)
class GroupCount:
    members: int  # distinct users the bucket holds after the update (``cap`` when full)
    alerted: bool  # the bucket's group flag has been sent
    sample: tuple[str, ...]
