"""Poison records: a record the consumer fails on (a bug) is kept in the sink as internal_error, never lost, and
never holds back the rest of its batch; a failure no record explains is raised for Lambda to retry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from clickguard.consumer.batch import MAX_INTERNAL_ERRORS, Deps, SystemicFailure, process_batch
from clickguard.rejections import Reason
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


@dataclass
class BuggySessions(FakeSessions):
    """A state read that crashes (say, a corrupt item) for some users: a bug, not a StoreError."""

    crash_users: frozenset[str] = frozenset()
    crash_times: int = 10**9  # how many reads crash before the fault goes away

    def get_many(self, user_keys):
        if self.crash_times > 0 and self.crash_users & set(user_keys):
            self.crash_times -= 1
            raise KeyError("first_ts_ms")
        return super().get_many(user_keys)


def deps(**kw):
    return Deps(BuggySessions(**kw), FakeFlags(), FakeRejected(), FakeModel(make_model()))


@pytest.fixture(scope="module")
def records():
    return to_records(event_stream(n_users=20, per_user=8))


def test_a_poison_user_goes_to_the_sink_and_everyone_else_commits(records):
    clean = deps()
    assert process_batch(records, clean, config()).failures == []
    d = deps(crash_users=frozenset({"u7"}))
    out = process_batch(records, d, config())
    assert out.failures == []
    poison = [r for r in records if r.partition_key == "u7"]
    stored = d.rejected.stored
    assert [e.record.seq for e in stored] == [r.seq for r in poison]
    assert {e.reason for e in stored} == {Reason.INTERNAL_ERROR}
    assert all("KeyError" in e.detail and "error id" in e.detail for e in stored)
    assert len(out.internal_errors) == len(poison) and out.rejected[Reason.INTERNAL_ERROR.value] == len(poison)
    assert all(len(err.error_id) == 16 and err.where for err in out.internal_errors)
    assert "first_ts_ms" not in repr(out.internal_errors)  # the exception's message (may quote data) is not kept
    expected = {u: s for u, s in clean.sessions.items.items() if u != "u7"}
    assert behaviour(d.sessions.items) == behaviour(expected)
    assert [f.flag_id for f in d.flags.sent] == [f.flag_id for f in clean.flags.sent if f.user_key != "u7"]
    assert out.records_in == len(records)


def test_a_transient_crash_commits_everything_with_no_internal_error(records):
    clean = deps()
    process_batch(records, clean, config())
    d = deps(crash_users=frozenset({"u3"}), crash_times=1)
    out = process_batch(records, d, config())
    assert out.failures == [] and out.internal_errors == [] and d.rejected.stored == []
    assert behaviour(d.sessions.items) == behaviour(clean.sessions.items)


def test_a_failure_no_record_explains_is_raised_for_lambda_to_retry(records):
    d = deps(crash_users=frozenset(r.partition_key for r in records))
    with pytest.raises(SystemicFailure):
        process_batch(records, d, config())
    assert len(d.rejected.stored) == MAX_INTERNAL_ERRORS  # kept so far; the retry rewrites the same keys


def test_when_the_sink_is_down_the_poison_record_is_the_checkpoint(records):
    d = deps(crash_users=frozenset({"u5"}))
    d.rejected.fail = True
    out = process_batch(records, d, config())
    first_poison = min(r.seq for r in records if r.partition_key == "u5")
    assert out.failures == [str(first_poison)]
    assert all(s.last_seq(records[0].shard_id) < first_poison for s in d.sessions.items.values())
