"""A rejection's detail goes to the rejected-records sink, the trainer's report and the CLI: it names what was wrong
with a value without the value itself when that could be personal data (``rejections.shown``); a short word, a
number and a time keep their text, so the detail still tells what to fix."""

from __future__ import annotations

import json

import pytest

from clickguard.events import parse_record
from clickguard.rejections import RejectedRecord, shown

EMAIL, ADDRESS, AGENT = "alice.pii@example.com", "198.51.100.77", "Mozilla/5.0 PIIAgent/9.9"


@pytest.mark.parametrize("value", [EMAIL, ADDRESS, AGENT])
@pytest.mark.parametrize("field", ["outcome", "timestamp", "amount"])
def test_a_value_that_may_be_personal_data_never_reaches_a_detail(field, value):
    record = {"user_id": "u1", "event_type": "view", "timestamp": "2024-10-10T13:55:36Z"}
    if field == "amount":
        record["attributes"] = {"amount": value}
    else:
        record[field] = value
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps(record))
    parts = [value, *value.replace("/", " ").replace("@", " ").split()]
    assert not [p for p in parts if len(p) > 3 and p in str(exc.value)], str(exc.value)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("pending", "'pending'"),
        ("1", "'1'"),
        ("-12.5", "'-12.5'"),
        ("123456", "'123456'"),
        ("4111111111111111", "'9999999999999999'"),  # a card's number: longer than a counter or a status
        ("+14155552671", "'+99999999999'"),
        (EMAIL, "'aaaaa.aaa@aaaaaaa.aaa'"),
        (ADDRESS, "'999.99.999.99'"),
    ],
)
def test_a_word_or_a_number_is_quoted_and_anything_else_by_its_shape(value, detail):
    assert shown(value) == detail


def test_a_time_keeps_its_text_so_the_misread_day_is_seen():
    with pytest.raises(RejectedRecord, match="'10/11/2025 13:00'"):
        parse_record(json.dumps({"user_id": "u1", "event_type": "view", "timestamp": "10/11/2025 13:00"}))
