"""gzip, zlib and zstd payloads (Fluent Bit's ``compression``, CloudWatch Logs subscriptions, Clickstream Analytics on
AWS, Snowplow's compressed enriched stream), inflated with a cap on the output.

gzip and zlib: ``decompressobj().decompress(data, max_length)`` inflates at most the cap plus one byte. zstd
(``zstandard``, whose one-shot call refuses a streamed frame without a content size, as Snowplow's are): each frame is
first read through ``read_to_iter`` in 64 KiB pieces and abandoned past the cap, then decompressed knowing its size
is under it. So a decompression bomb costs its cap in memory and time and is rejected as ``decompressed_too_large``,
never an out-of-memory. A corrupt or truncated stream, or bytes after its end that are not another gzip member or
zstd frame, is ``bad_compression``.
"""

from __future__ import annotations

import codecs
import re
import zlib

import zstandard

from clickguard.rejections import Reason, RejectedRecord

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # RFC 8878: a zstd frame's magic number, little-endian 0xFD2FB528
_ZSTD_PIECE = 65_536
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def is_zstd(data: bytes) -> bool:
    return data[:4] == ZSTD_MAGIC


def is_zlib(data: bytes) -> bool:
    """RFC 1950 header: deflate (CM 8) with a window of at most 32 KiB, and a header checksum that is a multiple
    of 31; and not text. ``78`` is the usual first byte, but one text in 31 that starts with ``8``, ``H``, ``X``,
    ``h`` or ``x`` passes the header (``80.1.2.3 - - [...`` is an access log line from a client at 80.1.2.3), while
    the deflate data after a real header is never 64 bytes of text."""
    if len(data) < 2:
        return False
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0 and not _is_text(data[:64])


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_text(head: bytes) -> bool:
    """UTF-8 (a character cut at the end allowed) with no control character but tab, CR and LF."""
    if _CONTROL.search(head):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def inflate(data: bytes, cap: int) -> bytes:
    """The decompressed payload of a gzip (every member), zlib or zstd (every frame) record, at most ``cap`` bytes."""
    if is_zstd(data):
        return _unzstd(data, cap)
    gzip = is_gzip(data)
    out: list[bytes] = []
    left, rest = cap, data
    while True:
        stream = zlib.decompressobj(_GZIP_WBITS if gzip else _ZLIB_WBITS)
        try:
            chunk = stream.decompress(rest, left + 1)
        except zlib.error as exc:
            raise RejectedRecord(
                Reason.BAD_COMPRESSION, f"corrupt {'gzip' if gzip else 'zlib'} stream ({exc})"
            ) from None
        if len(chunk) > left:
            raise RejectedRecord(Reason.DECOMPRESSED_TOO_LARGE, f"inflates past the cap of {cap} bytes")
        out.append(chunk)
        left -= len(chunk)
        if not stream.eof:  # all input consumed (the output stayed under max_length) and no end marker
            raise RejectedRecord(Reason.BAD_COMPRESSION, "truncated stream: it ends before its end marker")
        rest = stream.unused_data
        if not rest:
            return b"".join(out)
        if not (gzip and is_gzip(rest)):
            raise RejectedRecord(Reason.BAD_COMPRESSION, f"{len(rest)} bytes after the end of the stream")


def _unzstd(data: bytes, cap: int) -> bytes:
    out: list[bytes] = []
    left, rest = cap, data
    reader = zstandard.ZstdDecompressor()
    while True:
        try:
            size = 0
            for piece in reader.read_to_iter(rest, write_size=_ZSTD_PIECE):  # this frame only, piece by piece
                size += len(piece)
                if size > left:
                    raise RejectedRecord(Reason.DECOMPRESSED_TOO_LARGE, f"inflates past the cap of {cap} bytes")
            frame = reader.decompressobj()
            chunk = frame.decompress(rest)  # under the cap: measured above
        except zstandard.ZstdError as exc:
            raise RejectedRecord(Reason.BAD_COMPRESSION, f"corrupt zstd stream ({exc})") from None
        if not frame.eof:
            raise RejectedRecord(Reason.BAD_COMPRESSION, "truncated stream: it ends before its end marker")
        out.append(chunk)
        left -= len(chunk)
        rest = frame.unused_data
        if not rest:
            return b"".join(out)
        if not is_zstd(rest):
            raise RejectedRecord(Reason.BAD_COMPRESSION, f"{len(rest)} bytes after the end of the stream")
