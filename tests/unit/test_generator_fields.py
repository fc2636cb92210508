"""Fields as third-party clickstream generators name them, read by the rounds of ``field_names`` (a tester's probe
of generators the project had not met): a duration under a name that says time is no time; a user's id after a
word between (``user_domain_id``) is the user, an e-mail the last choice for a key; a page view's path."""

from __future__ import annotations

import json

import pytest

from clickguard.events import parse_record
from clickguard.rejections import Reason, RejectedRecord
from clickguard.timestamps import time_if_missing

# Confluent's kafka-connect-datagen shoe_clickstream.avro: view_time is seconds spent on the page (10-120)
SHOE = {"product_id": "p1", "user_id": "u1", "view_time": 112, "page_url": "https://www.acme.com/product/ycidp"}
# fake-web-events 0.2.5 (PyPI): user_custom_id is an e-mail, user_domain_id a uuid, after the event's fields
WEB_EVENT = {
    "event_id": "e1", "event_timestamp": "2026-11-19 23:59:59.244000", "event_type": "pageview",
    "page_url": "http://www.dummywebsite.com/home", "page_url_path": "/home", "ip_address": "57.2.200.139",
    "browser_user_agent": "Mozilla/5.0", "user_custom_id": "phaynes@example.com", "user_domain_id": "069a1d0e-9b56",
}  # fmt: skip


def test_a_duration_under_a_name_that_says_time_leaves_the_record_without_a_time():
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps(SHOE))
    assert exc.value.reason is Reason.MISSING_TIMESTAMP
    with time_if_missing(1_795_219_200_068):  # on the stream: timed by its arrival, as a record with no time is
        assert parse_record(json.dumps(SHOE)).ts_ms == 1_795_219_200_068


def test_a_value_under_a_time_s_own_name_keeps_its_own_verdict():
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps({**SHOE, "time": 112}))
    assert exc.value.reason is Reason.BAD_TIMESTAMP


def test_the_user_s_id_after_another_word_is_the_user_and_an_e_mail_the_last_choice():
    event = parse_record(json.dumps(WEB_EVENT))
    assert (event.user_key, event.token) == ("069a1d0e-9b56", "/home")
    only_mail = {k: v for k, v in WEB_EVENT.items() if k != "user_domain_id"}
    assert parse_record(json.dumps(only_mail)).user_key == "phaynes@example.com"  # the record's only user id


@pytest.mark.parametrize("name", ["player_team_id", "user_agent_id", "customer_group_id", "user_session_id"])
def test_the_id_of_what_a_user_belongs_to_is_not_the_user(name):
    record = {name: "t1", "player": "p9", "event_type": "view", "timestamp": "2026-11-19T00:00:00Z"}
    assert parse_record(json.dumps(record)).user_key == "p9"


def test_a_page_view_s_page_under_page_url_path():
    record = {"uid": "u1", "event": "pageview", "page_url_path": "/c/shoes", "ts": "2026-11-19T00:00:00Z"}
    assert parse_record(json.dumps(record)).token == "/c/shoes"


def test_round_3_reads_the_words_of_a_record_s_first_256_other_keys_only():
    filler = {f"k{i}": 1 for i in range(300)}
    late = {**filler, "customer_ref": "c1", "event_type": "view", "timestamp": "2026-11-19T00:00:00Z"}
    with pytest.raises(RejectedRecord) as exc:  # thousands of keys cost ~10 us each to read by their words
        parse_record(json.dumps(late))
    assert exc.value.reason is Reason.MISSING_USER_KEY
    assert parse_record(json.dumps({**late, "userId": "u7"})).user_key == "u7"  # an alias, wherever it is
    assert parse_record(json.dumps({"customer_ref": "c1", **late})).user_key == "c1"


def test_an_ambiguous_date_under_a_guessed_name_is_a_bad_time_not_none():
    with pytest.raises(RejectedRecord) as exc:
        parse_record(json.dumps({"user_id": "u1", "event_type": "view", "visit_time": "05/11/2026 10:00:00"}))
    assert exc.value.reason is Reason.BAD_TIMESTAMP and "ambiguous date" in exc.value.detail


@pytest.mark.parametrize(
    ("record", "user"),
    [
        ({"player_guild_id": "G", "playerId": "U"}, "U"),  # what the user belongs to, never the user
        ({"user_role_id": "R", "customer_ref": "U"}, "U"),
        ({"user_cart_id": "C", "visitor": "U"}, "U"),
        ({"user_unique_id": "U", "team": "T"}, "U"),  # which of the user's ids
        ({"user_external_id": "U"}, "U"),
    ],
)
def test_a_middle_word_names_which_of_the_user_s_ids_or_it_is_not_the_user(record, user):
    record = {**record, "event_type": "view", "timestamp": "2026-11-19T00:00:00Z"}
    assert parse_record(json.dumps(record)).user_key == user
