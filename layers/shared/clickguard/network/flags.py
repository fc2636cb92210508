"""A purchase flag: what fired, its stable id, and the message reviewers receive on the flag queue.

Identity: ``flag_id`` hashes the rule, the buyer and the purchase's position (shard, sequence number, sub). A replay of
the purchase recomputes a flag with the same id, which the FIFO flag queue drops as a duplicate (as the session
flags of ``clickguard.consumer.flags``): one purchase, at most one flag, whatever the retries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from clickguard.alerts import Flag, LastFlag
from clickguard.network.baseline import Baseline
from clickguard.network.money import format_cents
from clickguard.timestamps import format_ms

SCHEMA_VERSION = 1
RULE = "network_purchase"  # the message's ``kind``, and what ``LastFlag.model_version`` says raised it
REASON = "purchase_above_network"
# The message's fields, once: the README and the tests read this list.
MESSAGE_FIELDS = (
    "schema_version", "kind", "flag_id", "user_key", "reasons", "amount", "mean", "sd", "baseline_purchases",
    "network_size", "degree", "window", "event_time", "flagged_at", "source",
)  # fmt: skip


def flag_id(user_key: str, shard_id: str, seq: int, sub: int = 0) -> str:
    key = "\x1f".join((RULE, user_key, shard_id, str(seq), str(sub)))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PurchaseFlag:
    user_key: str
    cents: int
    baseline: Baseline
    network_size: int  # users in the buyer's degree-D network
    degree: int
    window: int
    ts_ms: int
    shard_id: str
    seq: int
    sub: int = 0

    @property
    def flag_id(self) -> str:
        return flag_id(self.user_key, self.shard_id, self.seq, self.sub)

    def message(self) -> dict[str, Any]:
        when = format_ms(self.ts_ms)
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": RULE,
            "flag_id": self.flag_id,
            "user_key": self.user_key,
            "reasons": [REASON],
            "amount": format_cents(self.cents),
            "mean": self.baseline.mean_text,  # truncated to 2 decimals, as the challenge reports them
            "sd": self.baseline.sd_text,
            "baseline_purchases": self.baseline.count,
            "network_size": self.network_size,
            "degree": self.degree,
            "window": self.window,
            "event_time": when,
            "flagged_at": when,  # event time: a replayed flag says the same thing
            "source": {"shard_id": self.shard_id, "sequence_number": str(self.seq), "sub": self.sub},
        }

    def as_flag(self) -> Flag:
        """The consumer's ``Flag``, so the same ``FlagSink`` (the FIFO queue) sends both kinds."""
        body = json.dumps(self.message(), sort_keys=True, separators=(",", ":"))
        return Flag(self.flag_id, self.user_key, body, LastFlag(self.ts_ms, RULE, self.flag_id, (REASON,)))
