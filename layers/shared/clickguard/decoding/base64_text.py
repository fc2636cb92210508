"""Records whose bytes are the base64 text of another record.

The AWS CLI v1 (the ``awscli`` package pip installs) sends a blob argument's text as it is, where v2 decodes it from
base64 first. So the command most guides give, ``aws kinesis put-record --data "$(echo '{...}' | base64)"``, puts the
base64 text itself on the stream under v1; so does a producer that base64-encodes its records before an SDK that
encodes them again (API Gateway's ``$util.base64Encode`` of a body already in base64, a hand-made PutRecords
request). Such a record is read as the record its text holds, once.

The text is only taken as base64 when all of it is (the standard or the URL-safe alphabet, padded or not, wrapped
in lines as ``base64`` writes them every 76 characters) and what it decodes to starts as a record the decoder reads:
a JSON object or array, a gzip, zlib or zstd stream, or a KPL aggregate. Plain text that happens to be valid base64
(a word, a hex digest) decodes to neither and keeps its own verdict, and what the text holds can never be base64
again, so a record is unwrapped at most once.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

from clickguard.decoding import compressed, kpl
from clickguard.rejections import Reason, RejectedRecord

_WRAPPING = b" \t\r\n"
# Padding is matched anywhere: two padded texts run together are found from the first and refused as a whole.
_STANDARD = re.compile(rb"[A-Za-z0-9+/][A-Za-z0-9+/=]*")
_URL_SAFE = re.compile(rb"[A-Za-z0-9_-][A-Za-z0-9_=-]*")
_HEAD_CHARS = 64  # decoded first: 48 bytes, room for a byte-order mark and some whitespace before the JSON


def holds_record(data: bytes) -> bool:
    """Whether ``data`` is base64 text of a record the decoder reads (cheap: any other text fails on its first
    characters, and only they are decoded)."""
    head = data[: 2 * _HEAD_CHARS].translate(None, _WRAPPING)[:_HEAD_CHARS]
    if not (_STANDARD.fullmatch(head) or _URL_SAFE.fullmatch(head)) or not _is_record(_decode(head)):
        return False
    return _compact(data) is not None


def inner(data: bytes) -> bytes:
    """The record that ``holds_record`` found in ``data``; ``bad_base64`` when the rest of the text does not decode."""
    text = _compact(data)
    raw = _decode(text) if text is not None else b""
    if not raw:
        raise RejectedRecord(Reason.BAD_BASE64, "it does not decode whole (padding inside it: two texts run together?)")
    return raw


def _compact(data: bytes) -> bytes | None:
    """The text without its line breaks, padded to whole quanta; None unless all of it is base64's alphabet."""
    text = data.translate(None, _WRAPPING)
    if len(text) < 4 or not (_STANDARD.fullmatch(text) or _URL_SAFE.fullmatch(text)):
        return None
    return text + b"=" * (-len(text) % 4)


def _decode(text: bytes) -> bytes:
    text = text[: len(text) - len(text) % 4]
    try:
        if b"-" in text or b"_" in text:
            return base64.urlsafe_b64decode(text)
        return base64.b64decode(text, validate=True)
    except binascii.Error:  # padding in the middle ("ab==cd=="), or a character too many
        return b""


def _is_record(raw: bytes) -> bool:
    text = raw.removeprefix(codecs.BOM_UTF8).lstrip()
    if text[:1] in (b"{", b"["):
        return True
    return compressed.is_gzip(raw) or compressed.is_zstd(raw) or compressed.is_zlib(raw) or kpl.is_aggregate(raw)
