"""The rule's arithmetic (issue 12): amounts in cents, the exact mean + 3 sd test, truncated mean and sd."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clickguard.network.baseline import Baseline
from clickguard.network.money import MAX_CENTS, BadAmount, format_cents, parse_cents


@pytest.mark.parametrize(
    ("value", "cents"),
    [("16.83", 1683), ("0.05", 5), ("16", 1600), ("16.8", 1680), (16.83, 1683), (16, 1600), (" 7.10 ", 710),
     ("1e3", 100_000), ("50100000000000.83", 5010000000000083), ("16.830", 1683),
     ("9999999999999999999999999999.99", MAX_CENTS - 1), ("-0.00", 0), (50100000000000.83, 5010000000000083)],
)  # fmt: skip
def test_amounts_parse_to_exact_cents(value, cents):
    assert parse_cents(value) == cents


@pytest.mark.parametrize(
    ("value", "cents"),
    [(0.1 + 0.2, 30), (1.1 - 1.0, 10), (0.7 * 3, 210), (0.1 * 112, 1120), (0.1 + 0.2 - 0.3, 0),
     (math.nextafter(16.83, 0), 1683), (math.nextafter(1e9 + 0.07, math.inf), 100_000_000_007)],
)  # fmt: skip
def test_a_float_a_noise_away_from_whole_cents_is_those_cents(value, cents):
    """What a producer's float arithmetic writes (JavaScript's 0.1 + 0.2 is 0.30000000000000004): not a third
    decimal, and skipping it would change other users' baselines."""
    assert parse_cents(value) == cents


@given(st.integers(1, 10**11), st.integers(-4, 4))
def test_any_cents_amount_a_few_float_steps_off_reads_as_those_cents(cents, steps):
    value = cents / 100
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.copysign(math.inf, steps))
    assert parse_cents(value) == cents


@given(st.integers(0, 10**11), st.integers(1, 9))
def test_a_third_decimal_is_never_float_noise(cents, digit):
    text = f"{cents // 100}.{cents % 100:02d}{digit}"
    assert repr(float(text)) == text  # the digits the producer wrote
    with pytest.raises(BadAmount, match="has more than 2 decimals"):
        parse_cents(float(text))


@pytest.mark.parametrize(
    ("value", "reason"),
    [("16.835", "has more than 2 decimals"), ("30.015", "has more than 2 decimals"),
     (1.005, "has more than 2 decimals"), (10_000_000.005, "has more than 2 decimals"),
     ("0.30000000000000004", "has more than 2 decimals"),
     ("123456789012345678901234567.015", "has more than 2 decimals"),
     ("1.0000000000000000000000000000001", "has more than 2 decimals"), ("-1.00", "is negative"),
     (0.3 - 0.1 - 0.2, "is negative"),
     ("abc", "is not a number"), ("NaN", "is not finite"), ("Infinity", "is not finite"), (None, "is missing"),
     (True, "is not a number or a numeric string"), ([1], "is not a number or a numeric string"),
     (str(MAX_CENTS), "is too large")],
)  # fmt: skip
def test_bad_amounts_are_refused_with_their_reason(value, reason):
    with pytest.raises(BadAmount) as caught:
        parse_cents(value)
    assert caught.value.reason == reason


def test_cents_format_with_two_decimals():
    assert [format_cents(c) for c in (1683, 2910, 5, 0, 100)] == ["16.83", "29.10", "0.05", "0.00", "1.00"]


def test_the_challenge_sample_gives_its_published_mean_and_sd():
    baseline = Baseline.of([1683, 5928, 1120])
    assert baseline is not None
    assert (baseline.mean_text, baseline.sd_text) == ("29.10", "21.46")
    assert baseline.exceeds(160_183)


def test_fewer_than_two_purchases_make_no_baseline():
    assert Baseline.of([]) is None
    assert Baseline.of([1000]) is None
    assert Baseline.of([1000, 1000]) is not None


def test_an_amount_exactly_at_mean_plus_three_sd_is_not_flagged_where_floats_would_flag_it():
    """12.42 and 11.63: mean 12.025, sd 0.395, so mean + 3 sd is exactly 13.21 (floats say 13.2099999...)."""
    baseline = Baseline.of([1242, 1163])
    assert baseline is not None
    xs = [12.42, 11.63]
    mean = sum(xs) / 2
    float_bound = mean + 3 * math.sqrt(sum((x - mean) ** 2 for x in xs) / 2)
    assert float_bound < 13.21  # the float rule would flag 13.21
    assert not baseline.exceeds(1321)
    assert baseline.exceeds(1322)


def test_the_mean_is_truncated_exactly_where_float_truncation_loses_a_cent():
    """17.24, 7.70, 10.58 average exactly 11.84; floor(mean * 100) in floats gives 11.83."""
    baseline = Baseline.of([1724, 770, 1058])
    assert baseline is not None
    assert math.floor(sum([17.24, 7.70, 10.58]) / 3 * 100) == 1183
    assert baseline.mean_text == "11.84"


def test_mean_and_sd_are_truncated_not_rounded():
    baseline = Baseline.of([0, 1, 1])  # mean 0.00666..., sd 0.00471...
    assert baseline is not None
    assert (baseline.mean_text, baseline.sd_text) == ("0.00", "0.00")
    baseline = Baseline.of([1001, 1002, 1002])  # mean 10.01666..., sd 0.00471...
    assert baseline is not None
    assert (baseline.mean_text, baseline.sd_text) == ("10.01", "0.00")


def test_equal_amounts_have_zero_sd_and_anything_above_them_is_flagged():
    baseline = Baseline.of([500, 500, 500])
    assert baseline is not None
    assert baseline.sd_text == "0.00"
    assert not baseline.exceeds(500)
    assert baseline.exceeds(501)


def _decimal_rule(amounts: list[int], cents: int) -> tuple[bool, str, str]:
    with localcontext() as ctx:
        ctx.prec = 80
        xs = [Decimal(a) / 100 for a in amounts]
        mean = sum(xs) / len(xs)
        sd = (sum((x - mean) ** 2 for x in xs) / len(xs)).sqrt()
        cent = Decimal("0.01")
        return (
            Decimal(cents) / 100 > mean + 3 * sd,
            str(mean.quantize(cent, rounding=ROUND_DOWN)),
            str(sd.quantize(cent, rounding=ROUND_DOWN)),
        )


@given(st.lists(st.integers(0, 10**9), min_size=2, max_size=60), st.integers(0, 10**10))
def test_integer_rule_equals_the_rule_in_80_digit_decimals(amounts, cents):
    baseline = Baseline.of(amounts)
    assert baseline is not None
    assert (baseline.exceeds(cents), baseline.mean_text, baseline.sd_text) == _decimal_rule(amounts, cents)


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 25))
def test_the_amount_at_the_exact_boundary_is_never_flagged_and_one_cent_more_is(mid, spread, pairs):
    """k pairs (m - d, m + d): mean m and sd d exactly, so mean + 3 sd = m + 3d is an amount in cents."""
    spread = min(spread, mid)
    baseline = Baseline.of([mid - spread, mid + spread] * pairs)
    assert baseline is not None
    assert (baseline.mean_cents, baseline.sd_cents) == (mid, spread)
    assert not baseline.exceeds(mid + 3 * spread)
    assert baseline.exceeds(mid + 3 * spread + 1)
