"""From decoded Kinesis records to the step (issue 12): the adapter, the consumer's settings, and several events of
one record (a KPL aggregate) applied once each."""

from __future__ import annotations

import json

import pytest

from clickguard import settings
from clickguard.consumer.kinesis_event import KinesisRecord
from clickguard.envconfig import ConfigError
from clickguard.events import Event, parse_record
from clickguard.network.commit import commit
from clickguard.network.config import EventTypes, NetworkConfig
from clickguard.network.kinesis import BadNetworkEvent, network_event
from clickguard.network.memory import InMemoryNetworkStore
from clickguard.network.step import Kind, run_step
from tests.network_support import SEQ0, SHARD, RecordingSink

TYPES = EventTypes()


def record(n: int, sub: int = 0) -> KinesisRecord:
    seq = SEQ0 + n
    return KinesisRecord(SHARD, seq, str(seq), "pk", b"", 0, sub)


def canonical(user: str, event_type: str, **attributes) -> Event:
    payload = {"user_id": user, "event_type": event_type, "timestamp": "2025-11-21T10:00:00Z"}
    if attributes:
        payload["attributes"] = attributes
    return parse_record(json.dumps(payload).encode())


def test_a_canonical_purchase_becomes_a_purchase_in_cents_at_its_position():
    ev = network_event(canonical("1", "purchase", amount=16.83), record(4, sub=2), TYPES)
    assert ev is not None
    assert (ev.user_key, ev.kind, ev.cents, ev.shard_id, ev.seq, ev.sub) == (
        "1",
        Kind.PURCHASE,
        1683,
        SHARD,
        SEQ0 + 4,
        2,
    )


def test_a_decimal_string_amount_is_read_exactly():
    ev = network_event(canonical("1", "purchase", amount="50100000000000.83"), record(1), TYPES)
    assert ev is not None and ev.cents == 5_010_000_000_000_083


def test_befriend_and_unfriend_carry_the_other_user():
    ev = network_event(canonical("1", "befriend", friend_id="2"), record(1), TYPES)
    assert ev is not None and (ev.kind, ev.friend_key) == (Kind.BEFRIEND, "2")
    ev = network_event(canonical("1", "unfriend", friend_id=2), record(2), TYPES)
    assert ev is not None and (ev.kind, ev.friend_key) == (Kind.UNFRIEND, "2")


def test_other_events_and_failed_purchases_are_not_network_events():
    assert network_event(canonical("1", "view_item"), record(1), TYPES) is None
    failed = parse_record(json.dumps({"user_id": "1", "event_type": "purchase", "outcome": "fail",
                                      "timestamp": 1.7e9, "attributes": {"amount": 5}}).encode())  # fmt: skip
    assert network_event(failed, record(1), TYPES) is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [(Event("1", "purchase", 0), "purchase without attributes.amount"),
     (Event("1", "purchase", 0, amount=1.005), "has more than 2 decimals"),
     (Event("1", "befriend", 0), "befriend without attributes.friend_id")],
)  # fmt: skip
def test_a_network_event_without_its_data_is_refused_with_the_reason(event, reason):
    with pytest.raises(BadNetworkEvent, match=reason):
        network_event(event, record(1), TYPES)


def test_an_event_from_before_the_amount_field_existed_is_refused_not_guessed():
    class OldEvent(tuple):  # an Event without amount / friend_id attributes
        user_key, token, ts_ms = "1", "purchase", 0

    with pytest.raises(BadNetworkEvent, match=r"without attributes\.amount"):
        network_event(OldEvent(), record(1), TYPES)  # type: ignore[arg-type]


def test_the_event_type_names_are_configurable():
    types = EventTypes(purchase="order_paid", befriend="follow", unfriend="unfollow")
    ev = network_event(canonical("1", "order_paid", amount=3), record(1), types)
    assert ev is not None and ev.kind is Kind.PURCHASE
    assert network_event(canonical("1", "purchase", amount=3), record(1), types) is None


def test_the_events_of_one_record_apply_once_each_and_a_redelivery_skips_them_all():
    """One KPL aggregate (one sequence number) holding three purchases and a befriend."""
    events = [
        network_event(canonical("a", "befriend", friend_id="b"), record(1, 0), TYPES),
        network_event(canonical("b", "purchase", amount=10), record(1, 1), TYPES),
        network_event(canonical("b", "purchase", amount=12), record(1, 2), TYPES),
        network_event(canonical("a", "purchase", amount=500), record(1, 3), TYPES),
    ]
    batch = [e for e in events if e is not None]
    store, sink = InMemoryNetworkStore(), RecordingSink()
    config = NetworkConfig(degree=1, window=10)
    first = run_step(batch, store, config)
    commit(first, store, sink)
    assert [len(store.purchases[u].purchases) for u in ("a", "b")] == [1, 2]
    assert [(f.user_key, f.baseline.mean_text) for f in first.flags] == [("a", "11.00")]
    again = run_step(batch, store, config)
    assert (again.flags, again.purchases, again.friends) == ([], [], [])
    assert again.stats.replayed == 4


def test_consumer_settings_come_from_the_environment_with_defaults_and_bounds():
    assert NetworkConfig.from_env({}) == NetworkConfig(
        settings.DEFAULT_NETWORK_DEGREE, settings.DEFAULT_NETWORK_WINDOW, settings.DEFAULT_NETWORK_MAX_FRIENDS
    )
    env = {settings.ENV_NETWORK_DEGREE: "3", settings.ENV_NETWORK_WINDOW: "20", settings.ENV_PURCHASE_EVENT_TYPE: "buy"}
    config = NetworkConfig.from_env(env)
    assert (config.degree, config.window, config.types.purchase) == (3, 20, "buy")


@pytest.mark.parametrize(
    ("env", "message"),
    [({settings.ENV_NETWORK_DEGREE: "0"}, "CLICKGUARD_NETWORK_DEGREE=0 must be in \\[1, 4\\]"),
     ({settings.ENV_NETWORK_DEGREE: "9"}, "CLICKGUARD_NETWORK_DEGREE=9"),
     ({settings.ENV_NETWORK_WINDOW: "1"}, "CLICKGUARD_NETWORK_WINDOW=1 must be in \\[2, 1000\\]"),
     ({settings.ENV_NETWORK_WINDOW: "x"}, "CLICKGUARD_NETWORK_WINDOW='x' is not a valid int"),
     ({settings.ENV_NETWORK_MAX_FRIENDS: "100000"}, "CLICKGUARD_NETWORK_MAX_FRIENDS=100000"),
     ({settings.ENV_BEFRIEND_EVENT_TYPE: "purchase"}, "CLICKGUARD_BEFRIEND_EVENT_TYPE.*3 distinct names")],
)  # fmt: skip
def test_a_bad_setting_fails_the_cold_start_naming_it(env, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig.from_env(env)


def test_the_readme_settings_table_gives_each_default_and_range():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Purchases far above the buyer's network", 1)[1].split("\n## ", 1)[0]
    table = section.split("### Settings", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].startswith("`CLICKGUARD_"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    for variable, name, default in (
        (settings.ENV_NETWORK_DEGREE, "degree", settings.DEFAULT_NETWORK_DEGREE),
        (settings.ENV_NETWORK_WINDOW, "window", settings.DEFAULT_NETWORK_WINDOW),
        (settings.ENV_NETWORK_MAX_FRIENDS, "max_friends", settings.DEFAULT_NETWORK_MAX_FRIENDS),
    ):
        low, high = settings.NETWORK_PARAM_RANGES[name]
        assert rows[variable] == (str(default), f"{low}..{high}")
    for variable, type_name in (
        (settings.ENV_PURCHASE_EVENT_TYPE, settings.DEFAULT_PURCHASE_EVENT_TYPE),
        (settings.ENV_BEFRIEND_EVENT_TYPE, settings.DEFAULT_BEFRIEND_EVENT_TYPE),
        (settings.ENV_UNFRIEND_EVENT_TYPE, settings.DEFAULT_UNFRIEND_EVENT_TYPE),
    ):
        assert rows[variable][0] == type_name
    assert settings.ENV_NETWORK_TABLE_NAME in rows
