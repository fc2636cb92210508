"""The orchestrator against in-memory fakes: replays, failures at each call site, boundaries, no model."""

from __future__ import annotations

import itertools
import json

import pytest

from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.flags import MESSAGE_FIELDS
from clickguard.model import detector
from clickguard.review.strength import score_strength
from tests.consumer_support import (
    FakeFlags,
    FakeModel,
    FakeRejected,
    FakeSessions,
    behaviour,
    config,
    event_stream,
    make_model,
    to_records,
)


def deps(model=True, **kw):
    return Deps(FakeSessions(**kw), FakeFlags(), FakeRejected(), FakeModel(make_model() if model else None))


def run(d, recs, cfg=None):
    return process_batch(recs, d, cfg or config())


def snapshot(d):
    return behaviour(d.sessions.items), [(f.flag_id, f.body) for f in d.flags.sent]


@pytest.fixture(scope="module")
def records():
    return to_records(event_stream())


@pytest.fixture(scope="module")
def clean(records):
    d = deps()
    out = run(d, records)
    assert out.failures == []
    return snapshot(d)


def test_the_stream_flags_the_login_failers_and_the_flooders_and_no_one_else(clean):
    states, flags = clean
    bodies = [json.loads(body) for _, body in flags]
    kinds = {int(b["user_key"][1:]) % 5 for b in bodies}
    assert kinds == {3, 4}  # event_stream: kind 3 fails logins, kind 4 floods; 0-2 browse as in training
    for b in bodies:
        kind = int(b["user_key"][1:]) % 5
        assert "fail_share" in b["reasons"] if kind == 3 else {"events", "total_bits"} & set(b["reasons"])
        assert b["score"] > b["threshold"]
    assert len(states) == 30
    assert len({fid for fid, _ in flags}) == len(flags)


def test_replaying_the_batch_and_each_half_changes_nothing(records, clean):
    d = deps()
    run(d, records)
    half = len(records) // 2
    for again in (records, records[:half], records[half:]):
        out = run(d, again)
        assert out.failures == [] and out.applied == 0 and out.replayed == len(again)
        assert out.flags_sent == 0
    assert snapshot(d) == clean


@pytest.mark.parametrize("size", [1, 7, 50, 333])
def test_batch_boundaries_never_change_states_or_flags(records, clean, size):
    d = deps()
    for i in range(0, len(records), size):
        assert run(d, records[i : i + size]).failures == []
    assert snapshot(d) == clean


def replay_from(d, records, checkpoint):
    """What Lambda does with batchItemFailures: redeliver from the checkpoint on."""
    seq = int(checkpoint)
    return run(d, [r for r in records if r.seq >= seq])


def user_of(rec):
    return json.loads(rec.data)["user_id"]


@pytest.mark.parametrize("site", ["get", "put", "flags"])
def test_a_failure_at_each_call_site_checkpoints_and_replays_safely(records, clean, site):
    _, clean_flags = clean
    victims = {user_of(r) for r in records[40:]} & {json.loads(b)["user_key"] for _, b in clean_flags}
    victim = sorted(victims)[0]  # a user that gets flagged, so a flag failure is exercised too
    d = deps()
    {"get": d.sessions.fail_get, "put": d.sessions.fail_put, "flags": d.flags.fail_users}[site].add(victim)
    first = run(d, records)
    expected = min(r.seq for r in records if user_of(r) == victim)
    assert first.failures == [str(expected)]
    assert victim not in d.sessions.items  # nothing of the victim committed
    # every other user is committed: the checkpoint covers only what was not
    assert len(d.sessions.items) == 29
    d.sessions.fail_get.clear(), d.sessions.fail_put.clear(), d.flags.fail_users.clear()
    second = replay_from(d, records, first.failures[0])
    assert second.failures == []
    states, flags = snapshot(d)
    assert states == clean[0]
    # same flags, same ids; a flag sent before a failed state write may come again with the same id
    assert sorted(set(flags)) == sorted(clean_flags)
    if site != "put":
        assert sorted(flags) == sorted(clean_flags)


def test_bad_records_go_to_the_sink_and_never_fail_the_batch(records, clean):
    bad = [b"\xff\xfe", b"not json", b"[1]", json.dumps({"event_type": "x", "timestamp": 1.7e9}).encode()]
    mixed = list(records[:10]) + [r._replace(data=b) for r, b in zip(records[10:14], bad, strict=True)]
    mixed += list(records[14:])
    d = deps()
    out = run(d, mixed)
    assert out.failures == []
    assert [e.reason.value for e in d.rejected.stored] == ["not_utf8", "not_json", "not_object", "missing_user_key"]
    assert [e.record.seq for e in d.rejected.stored] == [r.seq for r in records[10:14]]
    assert sum(out.rejected.values()) == 4
    # log lines carry the sequence number and reason; the payload stays in the sink only
    assert all(b"not json" not in str(line).encode() for line in out.rejected_log)


def test_a_failed_sink_checkpoints_at_the_first_bad_record(records):
    mixed = [*records[:10], records[10]._replace(data=b"{"), *records[11:]]
    d = deps()
    d.rejected.fail = True
    out = run(d, mixed)
    assert out.failures == [records[10].seq_str]
    assert len(d.sessions.items) == 30  # valid records are committed and skipped on replay
    d.rejected.fail = False
    again = replay_from(d, mixed, out.failures[0])
    assert again.failures == [] and len(d.rejected.stored) == 1 and again.applied == 0


def test_without_a_model_state_is_kept_and_nothing_is_flagged(records):
    d = deps(model=False)
    out = run(d, records)
    assert out.failures == [] and out.model_version is None
    assert out.unscored == len(records) and d.flags.sent == []
    some = next(iter(d.sessions.items.values()))
    assert some.session.total_ubits == 0 and some.session.transitions > 0


def test_cooldown_holds_unless_the_reasons_get_stronger():
    # one user failing every other login for an hour: each later flag adds a reason, then silence
    evs = []
    t = 1_763_700_000_000
    for k in range(60):
        t += 60_000
        evs.append(
            {"user_id": "bot", "event_type": "login", "outcome": "fail" if k % 2 else "ok", "timestamp": t / 1000}
        )
    d = deps()
    run(d, to_records(evs))
    reasons = [set(json.loads(f.body)["reasons"]) for f in d.flags.sent]
    assert 2 <= len(reasons) < 10 and "fail_share" in reasons[0]
    assert all(later > earlier for earlier, later in itertools.pairwise(reasons))
    d2 = deps()
    run(d2, to_records(evs), config(flag_cooldown_seconds=0))
    assert len(d2.flags.sent) > 2  # without a cooldown every firing event flags


def test_flag_message_carries_what_reviewers_need(clean):
    _, flags = clean
    msg = json.loads(flags[0][1])
    assert set(msg) == set(MESSAGE_FIELDS)
    assert 1 <= len(msg["top_transitions"]) <= 3
    assert msg["model_version"] == "v1" and msg["transitions"] >= 3 and msg["schema_version"] == 2
    names = [s["name"] for s in msg["signals"]]
    assert sorted(names) == sorted(detector.FEATURES)  # every signal, the strongest first
    assert [s["bits"] for s in msg["signals"]] == sorted((s["bits"] for s in msg["signals"]), reverse=True)
    assert all(set(s) == {"name", "value", "typical", "bits"} for s in msg["signals"])
    assert msg["reasons"][0] == names[0]


def test_producer_duplicates_with_new_sequence_numbers_are_dropped():
    evs = event_stream(n_users=10, event_ids=True)
    clean = deps()
    run(clean, to_records(evs))
    # a producer retried the second half of its PutRecords: same events again, later sequence numbers
    dup = deps()
    out = run(dup, to_records(evs + evs[len(evs) // 2 :]))
    assert out.duplicate_ids == len(evs) - len(evs) // 2
    assert {u: s.session for u, s in dup.sessions.items.items()} == {
        u: s.session for u, s in clean.sessions.items.items()
    }
    assert [f.flag_id for f in dup.flags.sent] == [f.flag_id for f in clean.flags.sent]


@pytest.mark.parametrize("size", [3, 1000])
def test_out_of_order_and_late_records_follow_the_rule_at_any_batch_size(size):
    base = event_stream(n_users=8, per_user=10)
    shuffled = list(base)
    for i in range(0, len(shuffled) - 1, 4):  # swap neighbours: out of order by seconds
        shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    late = [dict(e, timestamp=e["timestamp"] - 3 * 3600) for e in base[-8:]]  # hours late: closed sessions
    recs = to_records(shuffled + late)
    whole = deps()
    out = run(whole, recs)
    assert out.failures == [] and out.late >= 1
    pieces = deps()
    for i in range(0, len(recs), size):
        run(pieces, recs[i : i + size])
    assert snapshot(pieces) == snapshot(whole)


def _allowing(flag_body: dict, margin: float = 0.25):
    from clickguard.review import allowlist
    from clickguard.review.decision import Verdict, for_flag
    from tests.review_support import StaticAllowList

    decided = for_flag(flag_body, Verdict.ALLOW, "a known power user", "alice", 1_763_700_000_000)
    allow = allowlist.apply(allowlist.AllowList(), [decided], days=30, margin=margin, now_ms=1_763_700_000_000)
    return StaticAllowList(allow)


def test_a_user_reviewers_allowed_is_not_flagged_again_for_the_same_behaviour(records, clean):
    _, flags = clean
    first = json.loads(flags[0][1])
    user = first["user_key"]
    d = deps()
    d.allowlist = _allowing(first, margin=10.0)  # nothing this user does in the stream is 11x stronger
    run(d, records)
    again = [json.loads(f.body) for f in d.flags.sent if f.user_key == user]
    weaker_or_same = [f for f in again if set(f["reasons"]) <= set(first["reasons"])]
    assert weaker_or_same == []  # every flag with the allowed reasons (or fewer) stayed silent
    assert all(set(f["reasons"]) - set(first["reasons"]) for f in again)  # only new reasons get through
    others = {f.user_key for f in d.flags.sent} - {user}
    assert others == {json.loads(b)["user_key"] for _, b in flags} - {user}


def test_an_allowed_user_is_flagged_again_when_the_behaviour_gets_stronger(records, clean):
    _, flags = clean
    bodies = [json.loads(b) for _, b in flags]
    first = bodies[0]
    user_flags = [b for b in bodies if b["user_key"] == first["user_key"]]
    every_reason = sorted({r for b in user_flags for r in b["reasons"]})
    d = deps()  # allowed for every reason it ever shows, so only strength can let a flag through
    d.allowlist = _allowing(dict(first, reasons=every_reason), margin=0.0)
    run(d, records)
    again = [json.loads(f.body) for f in d.flags.sent if f.user_key == first["user_key"]]
    strength = score_strength(first["score"], first["threshold"])
    assert strength is not None and strength >= 1.0
    # Only a stronger score gets through (the clean run's cooldown hid such flags, so they are not its flags).
    assert all((score_strength(b["score"], b["threshold"]) or 0.0) > strength for b in again)
    assert again  # this user's behaviour does grow stronger in the stream
