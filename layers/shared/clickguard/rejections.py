"""Why a record becomes no event: the rejection reasons every decoder, the consumer's sink and the trainer's report
share, and the exception that carries one (``detail`` is short ASCII and never the payload)."""

from __future__ import annotations

import enum
import re
import string


class Reason(enum.StrEnum):
    """Why a record was rejected; used as a metric dimension and in the rejected-records sink."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_USER_KEY = "missing_user_key"
    EMPTY_USER_KEY = "empty_user_key"
    MISSING_EVENT_TYPE = "missing_event_type"
    BAD_TIMESTAMP = "bad_timestamp"
    MISSING_TIMESTAMP = "missing_timestamp"
    USER_KEY_TOO_LONG = "user_key_too_long"
    EVENT_TYPE_TOO_LONG = "event_type_too_long"
    RECORD_TOO_LARGE = "record_too_large"
    UNKNOWN_OUTCOME = "unknown_outcome"
    TOO_DEEP = "too_deep"  # JSON nested deeper than MAX_DEPTH
    BAD_NUMBER = "bad_number"  # NaN / Infinity, a non-finite timestamp, an integer with too many digits
    BAD_TYPE = "bad_type"  # an object, list, float or boolean (allowed for an outcome) where a string is read
    BAD_UNICODE = "bad_unicode"  # a kept string that is not valid UTF-8 (a lone surrogate escape)
    GZIP_GARBAGE = "gzip_garbage"  # trainer: bytes of an archive object after its last whole gzip member
    INTERNAL_ERROR = "internal_error"  # valid or not, the consumer failed on it (a bug): kept with its payload
    IGNORED_MESSAGE_TYPE = "ignored_message_type"  # a Segment/RudderStack message that is no action (identify...)
    BAD_AMOUNT = "bad_amount"  # attributes.amount not a finite number >= 0 (a JSON number or a decimal string)
    # Producer formats (clickguard.decoding): each one's own failure, so a dashboard tells them apart.
    FORMAT_DISABLED = "format_disabled"  # the record's format (detected from its first bytes) is switched off
    KPL_CHECKSUM = "kpl_checksum"  # a KPL aggregate whose MD5 trailer does not match: corrupt or truncated
    KPL_MALFORMED = "kpl_malformed"  # a KPL aggregate whose checksum matches but whose protobuf does not parse
    BAD_COMPRESSION = "bad_compression"  # a gzip/zlib/zstd payload that is corrupt, truncated or followed by garbage
    DECOMPRESSED_TOO_LARGE = "decompressed_too_large"  # inflates past the cap: a decompression bomb, never inflated
    CONTROL_MESSAGE = "control_message"  # a CloudWatch Logs CONTROL_MESSAGE (the subscription's own probe)
    BAD_TSV = "bad_tsv"  # a Snowplow enriched line without the published column count
    BAD_SNOWPLOW_FRAME = "bad_snowplow_frame"  # a Snowplow compressed record whose header or lengths do not parse
    BAD_ACCESS_LOG = "bad_access_log"  # a line of an access log record that is not a common or combined log line
    BAD_BASE64 = "bad_base64"  # base64 text of a record (AWS CLI v1's --data) whose whole does not decode
    STATIC_FILE = "static_file"  # a page's image, script, stylesheet or font: its browser's doing, not its user's
    NO_REQUEST = "no_request"  # an access log's "-": a connection closed before it sent a request (a preconnect)
    # A user key or action holding a control character (C0, DEL, C1: NUL, ESC, BEL...): no id or action is written
    # so, and kept it reached scores.csv, the report and a reviewer's terminal raw, or merged ids ("a\x00" and "a").
    CONTROL_CHARACTER = "control_character"


# Records that hold no user action: counted by reason (metrics, the trainer's report) but neither sunk nor logged one
# by one. A web server's log is mostly static files; a sink object and a log line each would cost more than the rest.
SKIPPED: frozenset[Reason] = frozenset({Reason.STATIC_FILE, Reason.NO_REQUEST})


def shown(value: object, limit: int = 24) -> str:
    """A record's value as a rejection's detail may quote it: a short word or a number of up to six digits as it is
    (``'pending'``, ``'identify'``: what a producer's enumerations hold; ``'1'``: a counter); anything else as its
    shape, letters ``a``/``A``, digits ``9``, other characters ``?``, punctuation and spaces kept
    (``'aaaaa@aaaaaaa.aaa'``, ``'999.99.999.99'``), so a format is still told and an e-mail, an address or a user
    agent in a wrong field never reaches the sink or a log (a time has its own, ``timestamps._shown_time``)."""
    text = str(value)[:limit]
    if _WORD.fullmatch(text) or (_NUMBER.fullmatch(text) and sum(map(str.isdigit, text)) <= _NUMBER_DIGITS):
        return ascii(text)
    return ascii("".join(c if c in _KEPT else "?" for c in text.translate(_SHAPE)))


_WORD = re.compile(r"[A-Za-z][A-Za-z_-]{0,23}")
_NUMBER = re.compile(r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?")
# Digits of a number quoted as it is (a counter, a status, an amount): a longer one may be a card's, a phone's.
_NUMBER_DIGITS = 6
_SHAPE = str.maketrans(string.ascii_lowercase + string.ascii_uppercase + string.digits, "a" * 26 + "A" * 26 + "9" * 10)
_KEPT = frozenset("aA9" + string.punctuation + " ")


class RejectedRecord(ValueError):
    """A record that cannot become an event. ``detail`` never contains the payload itself."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
