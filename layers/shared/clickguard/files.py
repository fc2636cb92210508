"""Event files on disk: NDJSON exports, or CSV with a header row (``.csv``), gzip-compressed when their name ends in
``.gz``."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Iterator
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


def is_csv(path: str | Path) -> bool:
    return Path(path).name.lower().endswith((".csv", ".csv.gz"))


def event_lines(fh: IO[bytes], path: str | Path) -> Iterator[bytes]:
    """The file's events as lines for the decoder: an NDJSON file's own lines; a CSV file's rows (``is_csv``), each
    as the JSON object of its non-empty cells under the header's names, which the decoder then reads as any flat
    JSON event (the canonical names, their aliases, or a field mapping). A cell's text stays text: the decoder reads
    numbers and times in text as it does in JSON strings. A byte that is not UTF-8 reaches the decoder as a lone
    surrogate, so its row alone is rejected (``bad_unicode``); ``csv.Error`` (a cell past the csv module's size
    limit) is raised."""
    if not is_csv(path):
        yield from fh
        return
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    for row in csv.DictReader(text):
        cells = {name: value for name, value in row.items() if name and isinstance(value, str) and value}
        yield json.dumps(cells).encode()
