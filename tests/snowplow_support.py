"""Snowplow Enrich's compressed records, built for the tests from the layout its shared streams library writes
(``snowplow-incubator/common-streams``, ``streams/compression``: a zstd frame or a gzip member holding a version byte 1,
a payload-format byte, then each enriched line after its 4-byte big-endian length), independently of the product's
encoder (``clickguard produce --format snowplow_zstd``)."""

from __future__ import annotations

import gzip
import io

import zstandard


def framed(lines: list[bytes], payload_version: int = 1, version: int = 1) -> bytes:
    return bytes([version, payload_version]) + b"".join(len(x).to_bytes(4, "big") + x for x in lines)


def zstd_record(lines: list[bytes], **header: int) -> bytes:
    """One zstd frame, streamed and flushed after every event as Enrich writes it (no content size, no checksum)."""
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=9, write_checksum=False).stream_writer(out, closefd=False) as writer:
        body = framed(lines, **header)
        writer.write(body[:2])
        at = 2
        while at < len(body):
            size = int.from_bytes(body[at : at + 4], "big")
            writer.write(body[at : at + 4 + size])
            writer.flush(zstandard.FLUSH_BLOCK)
            at += 4 + size
    return out.getvalue()


def gzip_record(lines: list[bytes], **header: int) -> bytes:
    return gzip.compress(framed(lines, **header))


def unzstd(data: bytes) -> bytes:
    """Every frame's content, streamed (the frames carry no content size)."""
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read()
