"""Published analytics layouts whose generic fields said less than their specific ones: the action of a page view
is its page, of a structured event its action, of a category/action/name hit its action; a counter is read last
(``events.specific_action``, ``field_names``)."""

from __future__ import annotations

import json

import pytest

from clickguard.events import parse_record
from tests.factories import file_columns

T = 1_538_352_000


def event(record: dict) -> tuple[str, str, str | None]:
    ev = parse_record(json.dumps(record))
    return ev.user_key, ev.token, ev.session_id


def test_a_matomo_event_s_action_is_its_action_not_its_free_text_name():
    hit = {"visitorId": "v1", "type": "event", "eventCategory": "account", "eventAction": "login_failed",
           "eventName": "someone@corp.example", "timestamp": T}  # fmt: skip
    assert event(hit)[1] == "login_failed"


@pytest.mark.parametrize(
    ("record", "action", "session"),
    [
        # Divolte: its party (visitor cookie), a page view's location
        ({"partyId": "0:jq3n:Ab", "sessionId": "0:s:1", "eventType": "pageView",
          "location": "https://shop.example.com/products/42?x=1", "timestamp": T * 1000}, "/products/*", "0:s:1"),
        # Snowplow's enriched event as JSON (its analytics SDK's transform)
        ({"domain_userid": "d1", "domain_sessionid": "s1", "event": "page_view", "event_name": "page_view",
          "page_urlpath": "/cart", "derived_tstamp": "2018-10-01 00:00:00.000"}, "/cart", "s1"),
        ({"domain_userid": "d1", "event": "struct", "event_name": "event", "se_category": "account",
          "se_action": "login_failed", "derived_tstamp": "2018-10-01 00:00:00.000"}, "login_failed", None),
        # GA4's export with its params flattened into columns
        ({"user_pseudo_id": "p1", "event_name": "page_view", "event_timestamp": T * 1_000_000,
          "page_location": "https://x.example/search?q=a", "ga_session_id": 1538352000}, "/search", "1538352000"),
        # PostHog's batch export and Mixpanel's autotrack
        ({"event": "$pageview", "timestamp": "2018-10-01T00:00:00Z", "distinct_id": "ph1",
          "properties": {"distinct_id": "ph1", "$current_url": "https://shop.example.com/",
                         "$session_id": "ps1"}}, "/", "ps1"),
        ({"event": "$mp_web_page_view", "properties": {"time": T, "distinct_id": "mp1",
          "$current_url": "https://shop.example.com/checkout"}}, "/checkout", None),
    ],
)  # fmt: skip
def test_a_page_view_is_the_page_it_viewed_and_its_session_is_read(record, action, session):
    _, token, sid = event(record)
    assert (token, sid) == (action, session)


def test_a_place_is_no_page_and_a_canonical_event_type_is_taken_as_given():
    assert event({"userId": "u", "event": "page_view", "location": "Bakersfield, CA", "ts": T})[1] == "page_view"
    canonical = {"user_id": "u", "event_type": "page_view", "page_url": "/a", "timestamp": T * 1000}
    assert event(canonical)[1] == "page_view"


def test_amplitude_s_user_id_keys_an_event_once_signed_in_as_a_team_labels_and_blocks_it():
    """Keyed by ``amplitude_id`` throughout (tried on 12-01), a person was one user, but flags named Amplitude's ids
    and a labels file naming the team's own user ids matched half the users: the team's id wins where there is one."""
    before = {"amplitude_id": 900001, "user_id": None, "event_type": "Viewed Home",
              "event_time": "2018-10-01 00:00:00.000000", "session_id": 1538352000000}  # fmt: skip
    after = {**before, "user_id": "u1", "event_type": "Login", "event_time": "2018-10-01 00:00:30.000000"}
    assert (event(before)[0], event(after)[0]) == ("900001", "u1")


def test_a_counter_under_an_action_word_is_passed_over_for_the_action(tmp_path):
    """Trivago's RecSys 2019 log: ``step`` (1, 2, 3) comes before ``action_type``."""
    cols = file_columns(
        tmp_path / "train.csv",
        "user_id,session_id,timestamp,step,action_type,reference\n"
        "U1,s1,1541030408,1,search for poi,Newtown\nU1,s1,1541030409,2,interaction item image,666856\n",
    )
    assert cols.tokens == ["search for poi", "interaction item image"]
    # an action named as such may be a number (an event code), and so may one guessed by its name, alone
    assert event({"userId": "u", "event": "101", "ts": T})[1] == "101"
    alone = file_columns(tmp_path / "pages.csv", "user_id,timestamp,page_id\nU1,1541030408,17\n")
    assert alone.tokens == ["17"]
