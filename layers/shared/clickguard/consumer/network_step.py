"""Seed 003's rule inside the consumer: each batch's purchase, befriend and unfriend events, in shard order, go
through ``network.step.run_step`` (the same code as ``clickguard network``'s file mode) and ``network.commit``.

* Which events: a decoded event whose token is one of the configured network types (``network.config``). The
  behaviour rules still see every event: a purchase is also an action of the user's session.
* A network event without its data (a purchase with no ``attributes.amount``, a befriend with no
  ``attributes.friend_id``) cannot be applied to the network; it is counted (``network_incomplete``) and left to
  the session rules, never guessed and never a reason to reject the action itself.
* Exactly once: every network item carries its own per-shard guard (``network.state``), so a replayed or bisected
  batch re-applies nothing; a read or write that failed after retries returns the lowest sequence number it did not
  commit, which joins the batch's checkpoint (``batch.run_batch``). Purchase flags carry an id from the purchase's
  position, so the FIFO flag queue drops a re-sent one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clickguard.alerts import FlagSink
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.events import Event
from clickguard.network.commit import commit
from clickguard.network.config import NetworkConfig
from clickguard.network.kinesis import BadNetworkEvent, network_event
from clickguard.network.ports import NetworkStore
from clickguard.network.step import NetworkEvent, run_step


@dataclass(frozen=True)
class NetworkOutcome:
    events: int = 0  # network events applied (or found already applied)
    incomplete: int = 0  # network events without their data: left to the session rules
    flags_sent: int = 0
    flags_failed: int = 0
    failing: tuple[KinesisRecord, ...] = ()  # records to replay (from the lowest uncommitted sequence number)


def run_network(
    records: Sequence[KinesisRecord],
    events: Sequence[Event],
    store: NetworkStore,
    sink: FlagSink,
    config: NetworkConfig,
) -> NetworkOutcome:
    """The batch's network events (``records`` and ``events``: the valid ones, shard order) through the rule."""
    picked: list[NetworkEvent] = []
    incomplete = 0
    for rec, ev in zip(records, events, strict=True):
        try:
            net = network_event(ev, rec, config.types)
        except BadNetworkEvent:
            incomplete += 1
            continue
        if net is not None:
            picked.append(net)
    if not picked:
        return NetworkOutcome(incomplete=incomplete)
    result = run_step(picked, store, config)
    done = commit(result, store, sink)
    failing = tuple(r for r in records if done.checkpoint is not None and r.seq == done.checkpoint)
    return NetworkOutcome(result.stats.events, incomplete, done.flags_sent, done.flags_failed, failing)
