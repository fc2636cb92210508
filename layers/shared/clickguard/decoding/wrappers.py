"""An object that wraps a list of events: ``{"batch": [...], "sentAt": ...}`` (Segment's and RudderStack's HTTP API),
``{"api_key": ..., "events": [...]}`` (Amplitude's HTTP API), ``{"data": [...], "next": ...}`` (an API's page of an
export). One rule for a Kinesis record and an event file: the object's one list of objects, when the object names no
user of its own (an event holding a list of objects, such as an order's items, is an event). Only the user decides:
an API's page of events may well carry a time or a page number of its own."""

from __future__ import annotations

from typing import Any

from clickguard.events import ALIASES

# What names an event's user: the canonical field, its aliases, and where the producers' own shapes keep it
# (Mixpanel's ``properties.distinct_id``, Pinpoint's ``client.client_id``).
USER_NAMES = frozenset(("user_id", *ALIASES["user_id"], "properties", "client"))


def wrapped_events(value: Any) -> list[Any] | None:
    """The events ``value`` wraps, or None when it is not a wrapper."""
    if not isinstance(value, dict) or not USER_NAMES.isdisjoint(value):
        return None
    lists = [v for v in value.values() if isinstance(v, list)]
    if len(lists) != 1 or not lists[0] or not all(isinstance(item, dict) for item in lists[0]):
        return None
    return lists[0]
