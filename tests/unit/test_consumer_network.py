"""Seed 003's rule through the consumer's orchestrator: purchase, befriend and unfriend records in a Kinesis batch
reach the network step, its flags reach the flag queue, and replays or incomplete events change nothing."""

from __future__ import annotations

import json

from clickguard.consumer.batch import Deps, process_batch
from clickguard.network.config import NetworkConfig
from clickguard.network.memory import InMemoryNetworkStore
from tests.consumer_support import FakeFlags, FakeModel, FakeRejected, FakeSessions, config, make_model, to_records

T = 1_763_700_000.0


def _ev(user, kind, k, **attributes):
    return {"user_id": user, "event_type": kind, "timestamp": T + k, "attributes": attributes}


def _stream():
    evs = [_ev("a", "befriend", 0, friend_id="b"), _ev("b", "befriend", 1, friend_id="c")]
    evs += [_ev("b", "purchase", 2 + i, amount=f"{10 + i % 3}.00") for i in range(6)]
    evs += [_ev("c", "purchase", 10, amount="12.00")]
    evs += [_ev("a", "purchase", 20, amount="500.00"), _ev("a", "purchase", 21, amount="11.00")]
    evs += [_ev("a", "purchase", 22), _ev("a", "view_item", 23)]  # a purchase without its amount; an ordinary view
    return evs


def _deps(store):
    return Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()), network=store)


def test_a_purchase_far_above_the_buyers_network_is_flagged_once_whatever_the_replays():
    store, cfg = InMemoryNetworkStore(), config(network=NetworkConfig(degree=2, window=50))
    d = _deps(store)
    records = to_records(_stream())
    out = process_batch(records, d, cfg)
    assert out.failures == [] and out.network_events == 11 and out.network_incomplete == 1
    flags = [json.loads(f.body) for f in d.flags.sent if json.loads(f.body).get("kind") == "network_purchase"]
    assert [(f["user_key"], f["amount"]) for f in flags] == [("a", "500.00")]
    assert flags[0]["mean"] == "11.14" and flags[0]["sd"] == "0.83"  # b's six and c's one, truncated
    again = process_batch(records, d, cfg)  # a replay: every item's guard has seen it
    assert again.network_flags_sent == 0 and len(d.flags.sent) == out.flags_sent + out.network_flags_sent
    assert len(store.purchases["a"].purchases) == 2  # the amount-less purchase never reached the network


def test_without_a_network_store_the_rule_is_off_and_the_session_rules_see_every_event():
    d = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(make_model()))
    out = process_batch(to_records(_stream()), d, config(network=NetworkConfig(degree=2, window=50)))
    assert out.network_events == 0 and out.applied == len(_stream()) and out.failures == []
