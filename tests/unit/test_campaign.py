"""The campaign alert and the flags' group tags on in-memory fakes: one group flag per bucket whatever the batching,
replays and failures; each member counted once; the tags on user flags."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.campaign import MESSAGE_FIELDS, emerging, model_groups, threshold
from clickguard.consumer.campaign_config import CampaignConfig
from clickguard.consumer.flagging import Applied
from clickguard.consumer.state import id_digest
from clickguard.envconfig import ConfigError
from clickguard.model.groups import is_checkpoint
from clickguard.model.scoring import EventBatch, ScoringTable, apply_event, score_batch
from tests.consumer_support import (
    FakeFlags,
    FakeGroupCounter,
    FakeModel,
    FakeRejected,
    FakeSessions,
    behaviour,
    config,
    event_stream,
    to_records,
)
from tests.group_support import campaign, grouped_model, ordinary

GROUP_KIND = "behaviour_group"


@pytest.fixture(scope="module")
def model():
    return grouped_model()


@pytest.fixture(scope="module")
def records():
    """Ordinary traffic, the stream's usual abusers, and a campaign of 30 new accounts in one hour."""
    events = sorted(event_stream() + campaign(30), key=lambda e: (e["timestamp"], e["user_id"]))
    return to_records(events)


def deps(model, **kw):
    return Deps(FakeSessions(), FakeFlags(**kw), FakeRejected(), FakeModel(model), groups=FakeGroupCounter())


def run(d, recs, cfg=None):
    return process_batch(recs, d, cfg or config())


def group_flags(d):
    return [json.loads(f.body) for f in d.flags.sent if json.loads(f.body).get("kind") == GROUP_KIND]


def snapshot(d):
    """States, user flags with their bodies, group flags by id (their body counts the members when they crossed)."""
    bodies = [(f.flag_id, f.body if json.loads(f.body).get("kind") != GROUP_KIND else "") for f in d.flags.sent]
    return behaviour(d.sessions.items), sorted(bodies)


@pytest.fixture(scope="module")
def clean(model, records):
    d = deps(model)
    assert run(d, records).failures == []
    return d


def test_a_campaign_of_new_accounts_raises_one_group_flag_with_its_members(clean):
    (flag,) = group_flags(clean)
    assert set(flag) == set(MESSAGE_FIELDS)
    assert flag["members"] >= flag["threshold"] == 20
    assert flag["signature"] == "OTHER"  # their rarest action: reset_password, no token of the model
    assert len(flag["sample_user_keys"]) == 10 and all(u.startswith("c") for u in flag["sample_user_keys"])
    assert flag["training_peak"] == 0  # nobody did this in the training window


def test_user_flags_carry_their_nearest_group_and_the_emerging_signature(clean, model):
    ids = {g["id"] for g in model.groups["groups"]}
    bodies = [json.loads(f.body) for f in clean.flags.sent]
    users = [b for b in bodies if b.get("kind") != GROUP_KIND]
    assert users
    for b in users:
        assert b["group"] in ids and b["group_distance"] >= 0
        fits = b["group_distance"] <= model.groups["limit"]
        assert (b["emerging_group"] is None) == fits
    campaigners = [b for b in users if b["user_key"].startswith("c")]
    assert campaigners and {b["emerging_group"] for b in campaigners} == {"OTHER"}


@pytest.mark.parametrize("size", [1, 7, 50, 333])
def test_batch_boundaries_never_change_the_flags_or_the_counts(model, records, clean, size):
    d = deps(model)
    for i in range(0, len(records), size):
        assert run(d, records[i : i + size]).failures == []
    assert snapshot(d) == snapshot(clean)
    assert d.groups.members == clean.groups.members


def test_a_replay_counts_nobody_twice_and_sends_nothing_again(model, records, clean):
    d = deps(model)
    run(d, records)
    out = run(d, records)
    assert out.applied == 0 and out.group_flags_sent == 0 and out.group_buckets == 0
    assert d.groups.members == clean.groups.members and len(group_flags(d)) == 1


def test_a_bucket_not_counted_holds_its_users_back_and_the_replay_alerts(model, records, clean):
    d = deps(model)
    d.groups.fail_signatures = {"OTHER"}
    out = run(d, records)
    assert out.failures and not group_flags(d)
    assert not any(u.startswith("c") for u in d.sessions.items)  # the campaign's users stay uncommitted
    d.groups.fail_signatures = set()
    checkpoint = out.failures[0]
    assert run(d, [r for r in records if int(r.seq_str) >= int(checkpoint)]).failures == []
    assert len(group_flags(d)) == 1
    assert behaviour(d.sessions.items) == behaviour(clean.sessions.items)


def test_a_group_flag_not_sent_is_sent_by_the_replay_and_marked_once(model, records):
    d = deps(model)
    d.flags.send = _failing_group_flags(d.flags.send)
    out = run(d, records)
    assert out.failures and not group_flags(d) and not d.groups.alerted
    d.flags.send = FakeFlags.send.__get__(d.flags)
    assert run(d, [r for r in records if int(r.seq_str) >= int(out.failures[0])]).failures == []
    assert len(group_flags(d)) == 1 and len(d.groups.alerted) == 1


def _failing_group_flags(send):
    def wrapped(flags):
        group = {f.flag_id for f in flags if json.loads(f.body).get("kind") == GROUP_KIND}
        return send([f for f in flags if f.flag_id not in group]) | group

    return wrapped


def test_a_lost_mark_lets_a_later_batch_resend_the_same_flag_id(model, records):
    d = deps(model)
    d.groups.fail_marks = True
    half = len(records) // 2
    run(d, records[:half])
    run(d, records[half:])
    ids = {f["flag_id"] for f in group_flags(d)}
    assert len(ids) == 1  # the FIFO queue drops the repeat within its five-minute window


def test_ordinary_traffic_raises_no_group_flag(model):
    d = deps(model)
    run(d, to_records(sorted(ordinary(n_users=200, seed=5), key=lambda e: e["timestamp"])))
    assert group_flags(d) == []


def test_no_groups_in_the_model_means_no_tags_and_no_counting(records):
    from dataclasses import replace

    d = deps(replace(grouped_model(), groups=None))
    out = run(d, records)
    assert out.group_buckets == 0 and d.groups.calls == 0 and not group_flags(d)
    assert all(json.loads(f.body)["group"] is None for f in d.flags.sent)


def test_threshold_is_the_larger_of_the_minimum_and_growth_times_the_training_peak(model):
    groups = model_groups(FakeModel(model).current())
    groups.baseline["x+y"] = 7
    assert threshold(groups, "x+y", CampaignConfig(min_users=20, growth=4)) == 28
    assert threshold(groups, "x+y", CampaignConfig(min_users=30, growth=4)) == 30
    assert threshold(groups, "never+seen", CampaignConfig(min_users=20, growth=4)) == 20
    del groups.baseline["x+y"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLICKGUARD_CAMPAIGN_MIN_USERS": "1"}, "must be >= 2"),
        ({"CLICKGUARD_CAMPAIGN_MIN_USERS": "20001"}, "must be <= 10000"),
        ({"CLICKGUARD_CAMPAIGN_GROWTH": "0.5"}, "must be >= 1"),
        ({"CLICKGUARD_CAMPAIGN_GROWTH": "lots"}, "not a valid float"),
    ],
)
def test_campaign_settings_are_validated_at_cold_start(env, message):
    with pytest.raises(ConfigError, match=message):
        CampaignConfig.from_env(env)
    assert CampaignConfig.from_env({"CLICKGUARD_CAMPAIGN_MIN_USERS": "5"}).min_users == 5


def reference(model, events):
    """Event by event with the reference ``apply_event``: at each checkpoint, where the session stands."""
    groups = model_groups(FakeModel(model).current())
    table = ScoringTable.from_model(model)
    states, out = {}, set()
    for e in events:
        token = e["event_type"] + ("#fail" if e.get("outcome") == "fail" else "")
        ts = int(e["timestamp"] * 1000)
        states[e["user_id"]], _ = apply_event(states.get(e["user_id"]), token, ts, None, table, model.params.gap_ms)
        state = states[e["user_id"]]
        if is_checkpoint([state.transitions], groups.first_checkpoint)[0]:
            tag = groups.tag(state.tokens)
            if not tag.fits:
                out.add((tag.signature, ts // 3_600_000 * 3_600_000, e["user_id"]))
    return out


def members_in_batches(model, events, bounds):
    """``emerging`` over ``events`` cut into the batches ``bounds``, states carried from batch to batch."""
    groups = model_groups(FakeModel(model).current())
    table = ScoringTable.from_model(model)
    prior, got = {}, set()
    for lo, hi in bounds:
        part = events[lo:hi]
        batch = EventBatch(
            [e["user_id"] for e in part],
            [e["event_type"] + ("#fail" if e.get("outcome") == "fail" else "") for e in part],
            [int(e["timestamp"] * 1000) for e in part],
            [None] * len(part),
        )
        result = score_batch(table, model.params.gap_ms, batch, prior)
        applied = Applied(batch, ["s"] * len(part), list(range(len(part))), [0] * len(part))
        for bucket, users in emerging(result, applied, prior, groups, table).items():
            got |= {(bucket.signature, bucket.hour_ms, u) for u in users}
        prior = {**prior, **result.final}
    return got


@pytest.mark.parametrize("size", [1, 13, 10_000])
def test_members_at_any_batching_are_the_event_by_event_reference(model, size):
    events = sorted(event_stream(n_users=40, seed=3) + campaign(8), key=lambda e: (e["timestamp"], e["user_id"]))
    want = reference(model, events)
    bounds = [(lo, lo + size) for lo in range(0, len(events), size)]
    assert members_in_batches(model, events, bounds) == want and any(u.startswith("c") for _, _, u in want)


def test_members_are_counted_as_digests_of_their_keys(clean):
    digests = set().union(*clean.groups.members.values())
    assert id_digest("c0") in digests and all(len(d) == 8 for d in digests)


def test_groups_this_release_cannot_read_leave_flags_untagged_and_batches_whole(records):
    from dataclasses import replace

    model = grouped_model()
    d = deps(replace(model, groups={**model.groups, "format": 99}))
    out = run(d, records)
    assert out.failures == [] and out.flags_sent > 0 and out.group_buckets == 0
    assert all(json.loads(f.body)["group"] is None for f in d.flags.sent)


def test_a_threshold_never_asks_more_users_than_a_bucket_can_hold(model):
    from clickguard.consumer.campaign import MAX_THRESHOLD

    groups = model_groups(FakeModel(model).current())
    groups.baseline["huge"] = 10**6
    assert threshold(groups, "huge", CampaignConfig(min_users=20, growth=4)) == MAX_THRESHOLD == 10_000
    del groups.baseline["huge"]


@st.composite
def cut_stream(draw):
    """A campaign beside ordinary users, with session ids and gaps that split sessions, cut at random places."""
    users = draw(st.integers(1, 6))
    events = sorted(
        event_stream(n_users=draw(st.integers(2, 12)), seed=draw(st.integers(0, 50))) + campaign(users, per_user=12),
        key=lambda e: (e["timestamp"], e["user_id"]),
    )
    cuts = sorted(set(draw(st.lists(st.integers(0, len(events)), max_size=6))))
    return events, cuts


@settings(max_examples=40, deadline=None, derandomize=True)
@given(cut_stream())
def test_members_at_any_cuts_are_the_event_by_event_reference(model, case):
    events, cuts = case
    bounds = list(zip([0, *cuts], [*cuts, len(events)], strict=True))
    assert members_in_batches(model, events, bounds) == reference(model, events)
