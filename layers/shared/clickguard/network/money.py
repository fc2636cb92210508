"""Amounts as integer cents: exact sums, an exact ``>`` against mean + 3 sd, exact truncation to two decimals.

Why integers: the challenge's amounts are strings with two decimals, and both the comparison and the truncated
``mean`` / ``sd`` ("29.10", not "29.1" nor a float's "29.09") go wrong in binary floating point near the boundary.
A float amount (a decoded Kinesis event) is read by its shortest repr, the digits the producer wrote.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Far beyond any purchase (10**28 in currency units: a public test suite of the challenge flags 50100000000000.83),
# within DynamoDB's 38-digit numbers, and a bound on what one hostile line can make the exact arithmetic handle.
MAX_CENTS = 10**30
_PLAIN = re.compile(r"([0-9]{1,27})\.([0-9]{2})")  # the usual form, read without Decimal


class BadAmount(ValueError):
    """An amount that is not a non-negative number with at most two decimals. ``reason`` says which, without the
    value (a count key); the message quotes a cut of the value."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(f"amount {text[:24]!a} {reason}" if text else f"amount {reason}")
        self.reason = reason


def parse_cents(value: object) -> int:
    """``"16.83"``, ``16.83``, ``16`` -> 1683, 1683, 1600; raises ``BadAmount`` with the reason otherwise."""
    if isinstance(value, str):
        m = _PLAIN.fullmatch(value)
        if m is not None:  # the usual "16.83": no Decimal needed
            return int(m[1]) * 100 + int(m[2])
    if value is None:
        raise BadAmount("is missing")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadAmount("is not a number or a numeric string")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadAmount("is not a number", text) from None
    if not amount.is_finite():
        raise BadAmount("is not finite", text)
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise BadAmount("has more than 2 decimals", text)
    if amount < 0:
        raise BadAmount("is negative", text)
    if cents >= MAX_CENTS:
        raise BadAmount("is too large", text)
    return int(cents)


def format_cents(cents: int) -> str:
    """1683 -> ``"16.83"``, 2910 -> ``"29.10"``, 5 -> ``"0.05"``."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
