"""Repository paths, independent of the working directory the CDK CLI or pytest runs from."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def asset_dir(relative: str) -> Path:
    path = ROOT / relative
    if not path.is_dir():
        raise FileNotFoundError(f"Lambda asset directory {path} is missing")
    return path
