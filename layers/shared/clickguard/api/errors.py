"""The API's refusals: an HTTP status, a stable reason a client can branch on, and a sentence a person can act on.

The message never quotes more of the request than a short, escaped snippet (the event decoder's rejection details
follow the same rule), and handlers log the reason only, never the message.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    # 400: the request
    BODY_TOO_LARGE = "body_too_large"
    EMPTY_BODY = "empty_body"
    BAD_BASE64 = "bad_base64"
    NOT_UTF8 = "not_utf8"
    BAD_JSON = "bad_json"  # not JSON, NaN/Infinity, nested too deep, a number too long
    NOT_OBJECT = "not_object"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_USER_KEY = "missing_user_key"
    BAD_USER_KEY = "bad_user_key"  # not a string, empty, too long, not UTF-8
    BAD_EVENTS = "bad_events"  # events is not a list
    TOO_MANY_EVENTS = "too_many_events"
    BAD_EVENT = "bad_event"  # one event is rejected by the consumer's decoder (its reason is in the message)
    USER_KEY_MISMATCH = "user_key_mismatch"  # an event of another user
    # routing
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 503: nothing wrong with the request, try again later
    NO_MODEL = "no_model"
    STATE_UNAVAILABLE = "state_unavailable"


class ApiError(Exception):
    """A request answered with an error status instead of a score."""

    def __init__(self, status: int, reason: Reason, message: str) -> None:
        super().__init__(f"{status} {reason.value}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def bad_request(reason: Reason, message: str) -> ApiError:
    return ApiError(400, reason, message)
