"""Event files on disk: NDJSON exports, gzip-compressed when their name ends in ``.gz``."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO


def open_binary(path: str | Path) -> IO[bytes]:
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
