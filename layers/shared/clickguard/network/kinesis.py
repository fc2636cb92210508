"""From the consumer's decoded event and its Kinesis position to the step's input.

Canonical events carry the network in ``attributes``::

    {"user_id": "1", "event_type": "purchase", "timestamp": ..., "attributes": {"amount": 16.83}}
    {"user_id": "1", "event_type": "befriend", "timestamp": ..., "attributes": {"friend_id": "2"}}

The decoder (``clickguard.events``) puts them on ``Event.amount`` / ``Event.friend_id``; they are read with
``getattr`` so this adapter works with events decoded before those fields existed (a purchase then has no amount
and is refused with a reason, never guessed).
"""

from __future__ import annotations

from typing import Protocol

from clickguard.events import Event
from clickguard.network.config import EventTypes
from clickguard.network.money import BadAmount, parse_cents
from clickguard.network.step import Kind, NetworkEvent


class Position(Protocol):
    """A record's place in the stream (``clickguard.consumer.kinesis_event.KinesisRecord`` is one)."""

    @property
    def shard_id(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def sub(self) -> int: ...


class BadNetworkEvent(ValueError):
    """A purchase / befriend / unfriend event that cannot be applied; the message is the reason (no payload)."""


def kind_of(token: str, types: EventTypes) -> Kind | None:
    """The event's kind by its token; a failed event (``purchase#fail``) is none: nothing was bought."""
    if token == types.purchase:
        return Kind.PURCHASE
    if token == types.befriend:
        return Kind.BEFRIEND
    if token == types.unfriend:
        return Kind.UNFRIEND
    return None


def network_event(event: Event, position: Position, types: EventTypes) -> NetworkEvent | None:
    """The step's input for a network event, None for any other event; ``BadNetworkEvent`` if it lacks its data."""
    kind = kind_of(event.token, types)
    if kind is None:
        return None
    if kind is Kind.PURCHASE:
        amount = getattr(event, "amount", None)
        if amount is None:
            raise BadNetworkEvent("purchase without attributes.amount")
        try:
            cents = parse_cents(amount)
        except BadAmount as exc:
            raise BadNetworkEvent(str(exc)) from None
        return NetworkEvent(
            event.user_key, kind, event.ts_ms, position.shard_id, position.seq, cents=cents, sub=position.sub
        )
    friend = getattr(event, "friend_id", None)
    if not isinstance(friend, str) or not friend:
        raise BadNetworkEvent(f"{event.token} without attributes.friend_id")
    return NetworkEvent(
        event.user_key, kind, event.ts_ms, position.shard_id, position.seq, friend_key=friend, sub=position.sub
    )
