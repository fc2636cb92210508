"""An object that wraps a list of events: ``{"batch": [...], "sentAt": ...}`` (Segment's and RudderStack's HTTP API),
``{"api_key": ..., "events": [...]}`` (Amplitude's HTTP API), ``{"data": [...], "next": ...}`` (an API's page of an
export). One rule for a Kinesis record and an event file: the object's one list of objects, when the object names no
user, action or time of its own (an event holding a list of objects, such as an order's items, is an event)."""

from __future__ import annotations

from typing import Any

from clickguard.events import ALIASES

_FIELDS = ("user_id", "event_type", "timestamp")
# What names an event's user, action or time: the canonical fields, their aliases, and the producers' own shapes'.
EVENT_NAMES = frozenset(
    (*_FIELDS, *(alias for field in _FIELDS for alias in ALIASES[field]), "type", "properties", "client")
)


def wrapped_events(value: Any) -> list[Any] | None:
    """The events ``value`` wraps, or None when it is not a wrapper."""
    if not isinstance(value, dict) or not EVENT_NAMES.isdisjoint(value):
        return None
    lists = [v for v in value.values() if isinstance(v, list)]
    if len(lists) != 1 or not lists[0] or not all(isinstance(item, dict) for item in lists[0]):
        return None
    return lists[0]
