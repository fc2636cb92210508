"""Every producer format on Kinesis, decoded the same way everywhere: see ``clickguard.decoding.records``."""

from clickguard.decoding.records import (
    ALL_FORMATS,
    DecodeConfig,
    Decoder,
    Format,
    Item,
    MissingTime,
    detect,
    lacks_time,
    parse_formats,
)

__all__ = [
    "ALL_FORMATS",
    "DecodeConfig",
    "Decoder",
    "Format",
    "Item",
    "MissingTime",
    "detect",
    "lacks_time",
    "parse_formats",
]
