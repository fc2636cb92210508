"""Dates written with slashes (``timestamps``): ``21/11/2026`` can only be day first and ``11/21/2026`` month first,
so each reads as it tells; ``5/6/2024`` reads only in a declared order (``date_order``), never guessed. Two PyPI
clickstream generators (faker-clickstream, faker-mobile-bank-clickstream) write ``21/11/2026 03:13:07.324994``:
every one of their events was ``bad_timestamp``."""

from __future__ import annotations

import json

import pytest

from clickguard import settings
from clickguard.decoding import DecodeConfig, Decoder
from clickguard.decoding.records import decode_config_from_env
from clickguard.envconfig import ConfigError
from clickguard.events import parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import DateOrder, date_order, format_ms, parse_timestamp, seen_date_orders


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("21/11/2026 03:13:07.324994", "2026-11-21T03:13:07.324Z"),  # the generators' own form
        ("21/11/2026", "2026-11-21T00:00:00.000Z"),
        ("11/21/2026 3:13 PM", "2026-11-21T15:13:00.000Z"),  # a US spreadsheet's
        ("12/31/2019T00:00:00", "2019-12-31T00:00:00.000Z"),
        ("31/1/2024 12:05 am", "2024-01-31T00:05:00.000Z"),
    ],
)
def test_a_date_whose_number_passes_12_reads_in_the_only_order_it_can(value, iso):
    assert format_ms(parse_timestamp(value)) == iso


def test_a_date_of_two_numbers_up_to_12_reads_only_in_a_declared_order():
    with pytest.raises(RejectedRecord, match="ambiguous date '5/6/2024 10:00'"):
        parse_timestamp("5/6/2024 10:00")
    with date_order(DateOrder.DAY_FIRST):
        assert format_ms(parse_timestamp("5/6/2024 10:00")) == "2024-06-05T10:00:00.000Z"
        with pytest.raises(RejectedRecord, match="unparseable timestamp '11/21/2026'"):  # no 21st month
            parse_timestamp("11/21/2026")
    with date_order(DateOrder.MONTH_FIRST):
        assert format_ms(parse_timestamp("5/6/2024 10:00")) == "2024-05-06T10:00:00.000Z"


@pytest.mark.parametrize("value", ["13/13/2024", "0/5/2024", "11/21/2026 13:13 PM", "32/1/2024"])
def test_no_such_date_is_unparseable_not_ambiguous(value):
    with pytest.raises(RejectedRecord) as exc:
        parse_timestamp(value)
    assert exc.value.reason is Reason.BAD_TIMESTAMP and exc.value.detail.startswith("unparseable timestamp")


def test_the_orders_dates_told_are_counted_for_a_file_s_reader():
    with seen_date_orders() as seen:
        for value in ("21/11/2026", "22/11/2026", "11/21/2026"):
            parse_timestamp(value)
        with pytest.raises(RejectedRecord):
            parse_timestamp("5/6/2024")
    assert seen == {DateOrder.DAY_FIRST: 2, DateOrder.MONTH_FIRST: 1}
    assert parse_record(b'{"user_id": "u", "event_type": "v", "timestamp": "21/11/2026 03:13"}').ts_ms == (
        parse_timestamp("2026-11-21T03:13:00Z")
    )


def test_a_deployment_s_date_order_reads_the_stream_s_ambiguous_dates_and_the_file_s_too():
    record = json.dumps({"user_id": "u1", "event_type": "view", "timestamp": "05/06/2024 10:00"}).encode()
    (refused,) = Decoder().items(record)
    assert isinstance(refused.result, RejectedRecord) and "set date_order" in refused.result.detail
    for order, iso in (
        (DateOrder.DAY_FIRST, "2024-06-05T10:00:00.000Z"),
        (DateOrder.MONTH_FIRST, "2024-05-06T10:00:00.000Z"),
    ):
        decoder = Decoder(DecodeConfig(date_order=order))
        assert format_ms(decoder.items(record)[0].result.ts_ms) == iso
        assert [format_ms(e.ts_ms) for e in decoder.decode_many([record, record])] == [iso, iso]  # the batch path
    assert parse_timestamp("21/11/2026") == parse_timestamp("2026-11-21T00:00:00Z")  # outside: as before


def test_the_setting_is_read_from_the_environment_and_a_wrong_one_refused():
    env = {settings.ENV_DATE_ORDER: "day_first"}
    assert decode_config_from_env(env).date_order is DateOrder.DAY_FIRST
    assert decode_config_from_env({}).date_order is DateOrder.TOLD
    with pytest.raises(ConfigError, match="CLICKGUARD_DATE_ORDER='dmy' must be one of"):
        decode_config_from_env({settings.ENV_DATE_ORDER: "dmy"})


@pytest.mark.parametrize("value", ["1/1/2024", "12/12/2024 10:00", "05/05/2026"])
def test_a_date_whose_day_is_its_month_reads_either_way(value):
    day = value.split("/")[0]
    assert format_ms(parse_timestamp(value))[5:10] == f"{int(day):02d}-{int(day):02d}"
