"""Event files on disk: NDJSON exports, gzip-compressed when their name ends in ``.gz``."""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path
from typing import IO


def open_binary(path: str | Path) -> IO[bytes]:
    """The file's bytes, inflated when it is gzip; a UTF-8 byte-order mark at its start (Windows tools and some
    exporters write one) is skipped, so the first line reads as the others do."""
    path = Path(path)
    fh: IO[bytes] = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # noqa: SIM115 (the caller's)
    try:
        if fh.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            fh.seek(0)
    except BaseException:  # not gzip after all, truncated...: closed here, raised to the caller
        fh.close()
        raise
    return fh
