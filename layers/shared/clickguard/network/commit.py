"""Committing a step: flags first, then the items; where a replay must start when something did not commit.

Order (as the consumer's session state, ``clickguard.consumer.batch``):

1. Flags go to the sink. A flag's id is its purchase's position, so a re-sent flag is dropped by the FIFO queue.
2. Items are written, except the purchases item of a buyer whose flag was not accepted: that purchase must be
   replayed (and its flag re-sent), so its effect must not be recorded.

The write of an item is the commit point of every event it applied (its guard moves with it). Uncommitted are the
items whose write failed, the held-back purchases items and every event from ``stopped_seq`` on; the checkpoint is
the lowest sequence number among them (each item's ``first_touch``), and Lambda redelivers from there.

A crash, or a failed write, between item writes: the items that were written skip their events on the replay (the
guard), the others apply them again, so no purchase is appended twice and no friendship change re-applied out of
order. The one approximation: a purchase replayed after later events of the batch were committed on other items
is scored on a slightly newer network; its flag keeps its id (one message reaches reviewers), its mean and sd may
then differ from an uninterrupted run's.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickguard.alerts import FlagSink
from clickguard.network.ports import NetworkStore
from clickguard.network.state import Part
from clickguard.network.step import StepResult


@dataclass(frozen=True)
class CommitOutcome:
    checkpoint: int | None  # lowest sequence number not committed: redeliver from it (None: all committed)
    flags_sent: int
    flags_failed: int
    items_written: int
    items_failed: int  # failed writes and held-back purchases items


def commit(result: StepResult, store: NetworkStore, sink: FlagSink | None) -> CommitOutcome:
    """``sink=None``: the caller takes ``result.flags`` itself (the file mode writes them to its output)."""
    failed_ids: set[str] = set()
    if sink is not None and result.flags:
        failed_ids = sink.send([f.as_flag() for f in result.flags])
    held = {f.user_key for f in result.flags if f.flag_id in failed_ids}
    purchases = [p for p in result.purchases if p.user_key not in held]
    failed = store.put(result.friends, purchases) if result.friends or purchases else set()
    uncommitted = failed | {(Part.PURCHASES, user) for user in held}
    starts = [result.first_touch[key] for key in uncommitted if key in result.first_touch]
    if result.stopped_seq is not None:
        starts.append(result.stopped_seq)
    return CommitOutcome(
        checkpoint=min(starts) if starts else None,
        flags_sent=len(result.flags) - len(failed_ids),
        flags_failed=len(failed_ids),
        items_written=len(result.friends) + len(purchases) - len(failed),
        items_failed=len(uncommitted),
    )
