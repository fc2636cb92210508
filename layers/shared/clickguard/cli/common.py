"""Helpers shared by CLI commands: argument errors and where a store lives."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from clickguard import settings
from clickguard.store.blobs import BlobStore, LocalDirStore, S3Store


class CliError(Exception):
    """A user error: printed as ``clickguard: error: ...`` with exit code 2."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def s3_client(endpoint_url: str | None = None, region: str | None = None):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


def open_store(target: str, endpoint_url: str | None = None, region: str | None = None) -> BlobStore:
    """``s3://bucket`` or a directory path."""
    if target.startswith("s3://"):
        bucket = target[5:].strip("/")
        if not bucket or "/" in bucket:
            fail(f"--store/--out {target!r}: give s3://BUCKET (artifacts live under models/ in it)")
        return S3Store(s3_client(endpoint_url, region), bucket)
    return LocalDirStore(target)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def quantile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    low, high = settings.MODEL_PARAM_RANGES["mean_bits_quantile"]
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value} must be in [{low}, {high}]")
    return value


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr)
