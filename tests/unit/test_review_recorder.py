"""The decisions Lambda's logic on in-memory stores: recorded once, malformed kept, allow-list kept, order per user."""

from __future__ import annotations

import json

from clickguard.review.allowlist import AllowList, apply
from clickguard.review.decision import Verdict
from clickguard.review.recorder import ALLOWLIST_ATTEMPTS, AllowPolicy, Inbound, RecorderDeps, record_batch
from tests.review_support import T0_MS, MemoryAllowList, MemoryLog, MemoryRejected, decision

POLICY = AllowPolicy(days=30, margin=0.25)


def world():
    return RecorderDeps(MemoryLog(), MemoryRejected(), MemoryAllowList())


def msg(i, d=None, body=None, group=None):
    d = d or decision()
    return Inbound(f"m{i}", body if body is not None else d.to_json(), group if group is not None else d.user_key)


def run(deps, *messages, now_ms=T0_MS + 1000):
    return record_batch(list(messages), deps, POLICY, now_ms)


def test_each_decision_is_recorded_once_and_allows_land_on_the_allow_list():
    deps = world()
    block, allow = decision(user="u-1", verdict=Verdict.BLOCK, flag_id="f1"), decision(user="u-2", flag_id="f2")
    out = run(deps, msg(1, block), msg(2, allow))
    assert out.response() == {"batchItemFailures": []}
    assert dict(out.recorded) == {"block": 1, "allow": 1} and out.duplicates == 0
    assert set(deps.log.objects) == {block.log_key(), allow.log_key()}
    assert json.loads(deps.log.objects[allow.log_key()]) == allow.as_dict()
    assert deps.allowlist.current.entries.keys() == {"u-2"} and deps.allowlist.writes == 1
    assert out.allowlist_entries == 1 and out.allowlist_written


def test_a_redelivered_decision_is_a_duplicate_not_a_second_record():
    deps = world()
    run(deps, msg(1))
    again = run(deps, msg(1))
    assert not again.recorded and again.duplicates == 1 and len(deps.log.objects) == 1
    assert deps.allowlist.writes == 1 and not again.allowlist_written  # nothing changed: no write


def test_a_malformed_message_is_kept_and_counted_and_never_fails():
    deps = world()
    out = run(deps, msg(1, body="not json", group="g"), msg(2, body=json.dumps({"flag_id": "x"}), group="g"))
    assert out.failed == [] and dict(out.rejected) == {"not_json": 1, "missing_field": 1}
    kept = deps.rejected.kept["m1"]
    assert (kept.reason, kept.body, kept.received_at_ms) == ("not_json", "not json", T0_MS + 1000)
    assert not deps.log.objects and deps.allowlist.writes == 0


def test_a_failed_log_write_fails_that_message_and_the_later_ones_of_its_user_only():
    deps = world()
    deps.log.fail = 1
    a1 = decision(user="a", flag_id="fa1", verdict=Verdict.BLOCK)
    a2 = decision(user="a", flag_id="fa2", at_ms=T0_MS + 1)
    b1 = decision(user="b", flag_id="fb1")
    out = run(deps, msg(1, a1), msg(2, a2), msg(3, b1))
    assert out.failed == ["m1", "m2"] and out.response()["batchItemFailures"][0] == {"itemIdentifier": "m1"}
    assert set(deps.log.objects) == {b1.log_key()}  # a2 never tried: it must not overtake a1
    assert deps.allowlist.current.entries.keys() == {"b"}


def test_a_failed_reject_sink_fails_the_message():
    deps = world()
    deps.rejected.fail = 1
    out = run(deps, msg(1, body="{}", group="g"))
    assert out.failed == ["m1"] and not out.rejected


def test_a_conflicting_allow_list_write_is_re_read_and_re_applied():
    deps = world()
    rival = apply(AllowList(), [decision(user="rival", flag_id="fr")], days=30, margin=0.25, now_ms=T0_MS)
    deps.allowlist.before_write = lambda: deps.allowlist.put(rival)  # another batch writes between read and write
    out = run(deps, msg(1, decision(user="mine")))
    assert out.failed == [] and out.allowlist_conflicts == 1
    assert deps.allowlist.current.entries.keys() == {"rival", "mine"}  # neither write lost the other's entry


def test_when_the_allow_list_cannot_be_written_every_decision_is_retried_and_a_retry_records_no_duplicate():
    deps = world()
    deps.allowlist.fail_reads = 1  # a store error is not retried here: SQS redelivers
    block, allow = decision(user="u-1", verdict=Verdict.BLOCK, flag_id="f1"), decision(user="u-2", flag_id="f2")
    bad = msg(3, body="[]", group="u-3")
    out = run(deps, msg(1, block), bad, msg(2, allow))
    assert out.failed == ["m1", "m2"] and out.errors == ["DecisionStoreError"]
    assert dict(out.recorded) == {"block": 1, "allow": 1}  # the log objects were created on this attempt
    retry = run(deps, msg(1, block), msg(2, allow))
    assert retry.failed == [] and not retry.recorded and retry.duplicates == 2
    assert deps.allowlist.current.entries.keys() == {"u-2"}


def test_endless_conflicts_give_up_after_the_attempts():
    deps = world()

    class Always(MemoryAllowList):
        def write(self, allow, expected_etag):
            self.put(AllowList())  # someone else always wins
            super().write(allow, expected_etag)

    deps = RecorderDeps(deps.log, deps.rejected, Always())
    out = run(deps, msg(1))
    assert out.failed == ["m1"] and out.allowlist_conflicts == ALLOWLIST_ATTEMPTS


def test_decisions_of_one_batch_apply_in_order():
    deps = world()
    allow = decision(user="u", flag_id="f1", at_ms=T0_MS)
    block = decision(user="u", flag_id="f2", verdict=Verdict.BLOCK, at_ms=T0_MS + 10)
    run(deps, msg(1, allow), msg(2, block))
    assert len(deps.allowlist.current) == 0
