"""Envelopes around events.

An object that wraps a list of events: ``{"batch": [...], "sentAt": ...}`` (Segment's and RudderStack's HTTP API),
``{"api_key": ..., "events": [...]}`` (Amplitude's HTTP API), ``{"data": [...], "next": ...}`` (an API's page of an
export). One rule for a Kinesis record and an event file: the object's one list of objects, when the object names no
user of its own (an event holding a list of objects, such as an order's items, is an event). Only the user decides:
an API's page of events may well carry a time or a page number of its own.

An EventBridge event, which a rule puts on a stream with the application's event as its ``detail``
(``eventbridge_detail``); a DynamoDB table's change that Kinesis Data Streams for DynamoDB puts on a stream, with the
new item as its ``NewImage`` (``dynamodb_insert``); a table's row that AWS DMS puts on a stream, with the row as its
``data`` (``dms_row``); a Google Analytics 4 Measurement Protocol request body, its events sharing its user and time
(``measurement_protocol``); a Universal Analytics session row of its BigQuery export, its hits sharing the session's
user and start (``ga360_hits``); an object whose one nested record names the user (``sole_nested_event``)."""

from __future__ import annotations

from typing import Any

from clickguard.field_names import RecordNames, has
from clickguard.rejections import Reason, RejectedRecord, shown

# Where the producers' own shapes keep an event's user (Mixpanel's ``properties.distinct_id``, Pinpoint's
# ``client.client_id``), beside the flat names (``field_names``).
_USER_HOLDERS = ("properties", "client")


def wrapped_events(value: Any) -> list[Any] | None:
    """The events ``value`` wraps, or None when it is not a wrapper."""
    if not isinstance(value, dict) or any(k in value for k in _USER_HOLDERS) or has(value, "user_id"):
        return None
    if has(value, "session_id"):  # a session's events, sharing it (``shared_field_events``)
        return None
    lists = [v for v in value.values() if isinstance(v, list)]
    if len(lists) != 1 or not lists[0] or not all(isinstance(item, dict) for item in lists[0]):
        return None
    return lists[0]


_EVENTBRIDGE_FALLBACKS = (("event_type", "detail-type"), ("timestamp", "time"), ("event_id", "id"))


def eventbridge_detail(value: Any) -> dict[str, Any] | None:
    """An EventBridge event's ``detail`` (the application's event), with what it lacks taken from the envelope: the
    action from ``detail-type``, the time from ``time``, the event id from ``id`` (EventBridge's own, the same on a
    retried delivery); None when ``value`` is no EventBridge event. The envelope's account, region and resources are
    never read."""
    if not isinstance(value, dict) or not isinstance(value.get("detail-type"), str):
        return None
    detail = value.get("detail")
    if not isinstance(detail, dict):
        return None
    merged = dict(detail)
    for field, envelope in _EVENTBRIDGE_FALLBACKS:
        if not has(merged, field):
            merged[field] = value.get(envelope)
    return merged


def dynamodb_insert(value: Any) -> dict[str, Any] | None:
    """A DynamoDB change record (Kinesis Data Streams for DynamoDB: ``eventSource`` ``aws:dynamodb``): the item an
    ``INSERT`` added, as plain JSON, the time from ``ApproximateCreationDateTime`` (ms or us) and the event id from
    ``eventID`` where the item has none; None when ``value`` is no such record. An event table's items are added,
    so a ``MODIFY`` or ``REMOVE`` is no user action (``ignored_message_type``)."""
    if not isinstance(value, dict) or value.get("eventSource") != "aws:dynamodb":
        return None
    change = value.get("dynamodb")
    change = change if isinstance(change, dict) else {}
    image = change.get("NewImage")
    if value.get("eventName") != "INSERT" or not isinstance(image, dict):
        raise RejectedRecord(
            Reason.IGNORED_MESSAGE_TYPE, f"a DynamoDB {shown(value.get('eventName'))} is no user action"
        )
    item = {name: _plain(attr) for name, attr in image.items()}
    for field, fallback in (
        ("timestamp", change.get("ApproximateCreationDateTime")),
        ("event_id", value.get("eventID")),
    ):
        if not has(item, field):
            item[field] = fallback
    return item


# AWS DMS's operations on a Kinesis target that add a row: the full load's and a change's
_DMS_ADDED = frozenset({"load", "insert"})


def dms_row(value: Any) -> dict[str, Any] | None:
    """An AWS DMS record on a Kinesis target (``{"data": {...row...}, "metadata": {"record-type", "operation",
    "timestamp", "table-name", ...}}``): a row loaded or inserted, with the change's time (``metadata.timestamp``)
    where the row has none; None when ``value`` is no such record. A control record (a table created or altered) is
    ``control_message``; an update or a delete ``ignored_message_type``, as an event table's rows are added, not
    changed. The schema and table names are never read."""
    if not isinstance(value, dict):
        return None
    meta = value.get("metadata")
    if not isinstance(meta, dict) or "record-type" not in meta or "operation" not in meta:
        return None
    if meta["record-type"] != "data":
        detail = f"a DMS {shown(meta['record-type'])} record ({shown(meta['operation'])})"
        raise RejectedRecord(Reason.CONTROL_MESSAGE, detail)
    if meta["operation"] not in _DMS_ADDED:
        raise RejectedRecord(Reason.IGNORED_MESSAGE_TYPE, f"a DMS {shown(meta['operation'])} is no user action")
    row = value.get("data")
    if not isinstance(row, dict):
        raise RejectedRecord(Reason.NOT_OBJECT, "a DMS record whose data is not an object")
    if not has(row, "timestamp"):
        row = {**row, "timestamp": meta.get("timestamp")}
    return row


def _plain(attr: Any) -> Any:
    """A DynamoDB attribute value (``{"S": ...}``, ``{"N": "12.5"}``, ``{"M": {...}}``...) as plain JSON; binary
    values (never an event's field) are None."""
    if not isinstance(attr, dict) or len(attr) != 1:
        return None
    kind, value = next(iter(attr.items()))
    if kind in ("S", "BOOL"):
        return value
    if kind == "N":
        return _number(value)
    if kind == "M" and isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L" and isinstance(value, list):
        return [_plain(v) for v in value]
    if kind in ("SS", "NS") and isinstance(value, list):
        return [_number(v) for v in value] if kind == "NS" else list(value)
    return None


def _number(text: Any) -> int | float | None:
    if not isinstance(text, str):
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def measurement_protocol(value: Any) -> list[dict[str, Any]] | None:
    """The events of a Google Analytics 4 Measurement Protocol request body (``{"client_id": ..., "user_id": ...,
    "timestamp_micros": ..., "events": [{"name": ..., "params": {...}}]}``, as a server-side forwarder puts it on a
    stream), each as a flat event: the user is ``user_id``, else the web stream's ``client_id``, else the app stream's
    ``app_instance_id``; the action the event's ``name``; the time ``timestamp_micros`` (the event's own, else the
    request's; without one Google reads the request's arrival, as the consumer does: ``missing_time``); the session
    ``params.session_id``. None when ``value`` is no such body. ``user_properties``, ``user_location``, ``device``,
    ``consent`` and the other params are never read."""
    if not isinstance(value, dict) or not ("client_id" in value or "app_instance_id" in value):
        return None
    events = value.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, dict) and "name" in e for e in events):
        return None
    user = next((value[k] for k in ("user_id", "client_id", "app_instance_id") if value.get(k) is not None), None)
    out = []
    for event in events:
        params = event.get("params")
        out.append(
            {
                "user_id": user,
                "event_type": event["name"],
                "timestamp": event.get("timestamp_micros", value.get("timestamp_micros")),
                "session_id": params.get("session_id") if isinstance(params, dict) else None,
            }
        )
    return out


def ga360_hits(value: Any) -> list[dict[str, Any]] | None:
    """The hits of a Universal Analytics session as its BigQuery export writes it (``ga_sessions_YYYYMMDD``: one row
    a session, ``fullVisitorId``, ``visitId``, ``visitStartTime`` in seconds, ``hits``), each a flat event: the user
    ``userId``, else ``fullVisitorId``; the session ``visitId``; the time ``visitStartTime`` plus the hit's ``time``,
    milliseconds since the session's start (read alone, every hit was ``bad_timestamp``); the action a page hit's
    ``page.pagePath``, an app's ``appInfo.screenName``, an event's ``eventInfo.eventAction`` (else its category),
    else the hit's ``type`` (``TRANSACTION``, ``ITEM``, ...); the event id ``visitId`` and ``hitNumber``. The device,
    geography, traffic source, custom dimensions, titles and hostnames are never read. None when ``value`` is no
    such row."""
    if not isinstance(value, dict) or "visitStartTime" not in value or not isinstance(hits := value.get("hits"), list):
        return None
    if not hits or not all(isinstance(h, dict) for h in hits):
        return None
    user = next((value[k] for k in ("userId", "fullVisitorId", "clientId") if value.get(k) not in (None, "")), None)
    start_s = value["visitStartTime"]
    start_ms = start_s * 1000 if type(start_s) in (int, float) else None
    visit = value.get("visitId")
    out = []
    for hit in hits:
        offset = hit.get("time")
        out.append(
            {
                "user_id": user,
                "event_type": _ga360_action(hit),
                "timestamp": start_ms + offset if start_ms is not None and type(offset) is int else start_s,
                "session_id": visit,
                "event_id": f"{visit}.{hit['hitNumber']}" if visit is not None and "hitNumber" in hit else None,
            }
        )
    return out


def _ga360_action(hit: dict[str, Any]) -> Any:
    kind = hit.get("type")
    for holder, names in (("page", ("pagePath",)), ("appInfo", ("screenName",)), ("eventInfo", _EVENT_NAMES)):
        part = hit.get(holder)
        if isinstance(part, dict) and (kind in _GA360_KINDS[holder]):
            found = next((part[n] for n in names if part.get(n) not in (None, "")), None)
            if found is not None:
                return found
    return kind.lower() if isinstance(kind, str) else kind


_EVENT_NAMES = ("eventAction", "eventCategory")
_GA360_KINDS = {"page": ("PAGE",), "appInfo": ("APPVIEW", "SCREENVIEW"), "eventInfo": ("EVENT",)}


# Items of a list looked at to tell whether they are events.
_LOOKED_AT = 8


def shared_field_events(value: Any) -> list[dict[str, Any]] | None:
    """The events of an object that names a user (or only a session) but no action, and holds one list of objects (a
    session as some generators, SDKs and data sets write it: ``{"user_id": ..., "session_id": ..., "events":
    [{"type": ..., "ts": ...}]}``; OTTO's ``{"session": ..., "events": [...]}``):
    each item an event of its own, taking from the object what it lacks (the user, the session, the time: the object's
    other fields are never read). Empty lists do not count, and of several lists of objects, the one whose items
    name an action (Matomo's visit holds ``actionDetails`` and ``pluginsIcons``; GA360's session ``hits`` and
    ``customDimensions``). None when ``value`` is no such object."""
    if not isinstance(value, dict) or has(value, "event_type"):
        return None
    if not has(value, "user_id") and not has(value, "session_id"):  # OTTO's sessions name no user: their visitors'
        return None
    lists = [v for v in value.values() if isinstance(v, list) and v and all(isinstance(item, dict) for item in v)]
    if len(lists) > 1:  # beside the events, a list of other records: the one whose items say what was done
        lists = [v for v in lists if any(has(item, "event_type") for item in v[:_LOOKED_AT])]
    if len(lists) != 1:
        return None
    names = RecordNames(value)
    shared = {f: names.named(f) for f in ("user_id", "session_id", "timestamp")}
    shared = {f: v for f, v in shared.items() if v is not None}
    out = []
    for item in lists[0]:
        own = RecordNames(item)
        out.append({**item, **{f: v for f, v in shared.items() if own.named(f) is None}})
    return out


def sole_nested_event(value: Any) -> dict[str, Any] | None:
    """The one record nested in ``value`` that names a user, when ``value`` names none of its own: Kafka Connect's
    JSON with schemas (``{"schema": {...}, "payload": {event}}``), an API's ``{"data": {event}}``, a change record's
    ``after`` (a record that holds such a record counts: Debezium's ``payload.after``); the time taken from ``value``
    where the record has none. None when no record, or more than one, names a user. The rest of ``value`` is never
    read."""
    if not isinstance(value, dict):
        return None
    records = [v for v in value.values() if isinstance(v, dict) and (has(v, "user_id") or sole_nested_event(v))]
    if len(records) != 1:
        return None
    (record,) = records
    if has(record, "timestamp") or (when := RecordNames(value).named("timestamp")) is None:
        return record
    return {**record, "timestamp": when}
