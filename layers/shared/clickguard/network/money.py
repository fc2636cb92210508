"""Amounts as integer cents: exact sums, an exact ``>`` against mean + 3 sd, exact truncation to two decimals.

Why integers: the challenge's amounts are strings with two decimals, and both the comparison and the truncated
``mean`` / ``sd`` ("29.10", not "29.1" nor a float's "29.09") go wrong in binary floating point near the boundary.
A float amount (a JSON number) is read by its shortest repr, the digits the producer wrote; one a hair off whole
cents (``0.30000000000000004``, JavaScript's ``0.1 + 0.2``) is those cents: the producer's float arithmetic, not a
third decimal. A string is taken as written: ``"30.015"`` is refused, as is ``"0.30000000000000004"``.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation

from clickguard.rejections import shown

# Far beyond any purchase (10**28 in currency units: a public test suite of the challenge flags 50100000000000.83),
# within DynamoDB's 38-digit numbers, and a bound on what one hostile line can make the exact arithmetic handle.
MAX_CENTS = 10**30
_MAX_AMOUNT = Decimal(MAX_CENTS).scaleb(-2)
_PLAIN = re.compile(r"([0-9]{1,27})\.([0-9]{2})")  # the usual form, read without Decimal
_CENT = Decimal("0.01")
# Decimal's default 28 digits would round "1.0000000000000000000000000000001" to whole cents: below _MAX_AMOUNT an
# amount's cents take at most 30 digits, and a float's repr at most 17, so 60 keeps every step exact.
_EXACT = Context(prec=60)
# Float noise: up to a billionth of the amount (a few operations' rounding is ~1e-16 of their operands) and at most
# a hundredth of a cent, so 10000000.005 stays three decimals.
_NOISE = Decimal("1e-9")
_MAX_NOISE = Decimal("0.0001")


class BadAmount(ValueError):
    """An amount that is not a non-negative number with at most two decimals. ``reason`` says which, without the
    value (a count key); the message quotes a cut of the value."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(f"amount {shown(text)} {reason}" if text else f"amount {reason}")
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
    if amount < 0:
        raise BadAmount("is negative", text)
    if amount >= _MAX_AMOUNT:
        raise BadAmount("is too large", text)
    cents = _whole_cents(amount, noisy=isinstance(value, float))
    if cents is None:
        raise BadAmount("has more than 2 decimals", text)
    return cents


def _whole_cents(amount: Decimal, *, noisy: bool) -> int | None:
    """``amount`` (0 <= amount < _MAX_AMOUNT) in whole cents, exactly; a float's (``noisy``) also when it is float
    noise away from them; None otherwise."""
    nearest = amount.quantize(_CENT, context=_EXACT)
    if nearest != amount and not (noisy and _is_noise(amount, nearest)):
        return None
    return int(nearest.scaleb(2, context=_EXACT))


def _is_noise(amount: Decimal, nearest: Decimal) -> bool:
    off = _EXACT.subtract(amount, nearest).copy_abs()
    return off <= min(_EXACT.multiply(_NOISE, max(nearest, _CENT)), _MAX_NOISE)


def format_cents(cents: int) -> str:
    """1683 -> ``"16.83"``, 2910 -> ``"29.10"``, 5 -> ``"0.05"``."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
