"""Records a tester's producers put that had been read wrongly: several log shippers' lines in one record (the
Kinesis Agent tailing Docker's JSON log), an aggregate of no records, and a burst of more distinct events in one
instant than the duplicate window holds."""

from __future__ import annotations

import gzip
import hashlib
import json

from clickguard.consumer.admission import admit
from clickguard.consumer.state import RECENT_EVENT_IDS
from clickguard.decoding import Decoder, kpl
from clickguard.events import Event
from clickguard.rejections import Reason
from tests.consumer_support import to_records

T = 1763700000000


def _event(user: str, k: int) -> dict:
    return {"user_id": user, "event_type": "view", "timestamp": T + k, "event_id": f"{user}-{k}"}


def _results(data: bytes) -> list:
    return [i.result if isinstance(i.result, Event) else i.result.reason for i in Decoder().items(data)]


def test_several_shipper_wrapped_lines_in_one_record_are_each_read_as_one_such_record_alone_is():
    docker = [{"log": json.dumps(_event("u1", k)) + "\n", "stream": "stdout", "time": "2025-11-21T04:40:00Z"}
              for k in range(3)]  # fmt: skip
    vector = [{"message": json.dumps(_event("u2", k)), "host": "web-1", "source_type": "file"} for k in range(2)]
    for wrapped, user in ((docker, "u1"), (vector, "u2")):
        body = b"\n".join(json.dumps(w).encode() for w in wrapped) + b"\n"
        for data in (body, gzip.compress(body)):
            got = _results(data)
            assert [e.user_key for e in got] == [user] * len(wrapped), got
            assert [_results(json.dumps(w).encode()) for w in wrapped] == [[e] for e in got]  # as one a record
    mixed = b"\n".join(
        [json.dumps(docker[0]).encode(), b'{"neither": "an event"}', json.dumps(_event("u3", 9)).encode()]
    )
    assert [r if isinstance(r, Reason) else r.user_key for r in _results(mixed)] == [
        "u1", Reason.MISSING_USER_KEY, "u3"]  # fmt: skip


def test_an_aggregate_of_no_records_is_rejected_not_lost():
    empty = kpl.MAGIC + hashlib.md5(b"", usedforsecurity=False).digest()
    assert _results(empty) == [Reason.KPL_MALFORMED]


def test_a_burst_of_distinct_events_in_one_instant_is_applied_whole():
    """300 events of distinct ids in one whole second (a bot's, or a producer that dates a batch once): 171 were
    dropped as copies of one another."""
    burst = [Event("b", "view", T, None, f"id{i}") for i in range(3 * RECENT_EVENT_IDS)]
    adm = admit(to_records([{}] * len(burst)), burst, {}, 1_800_000)
    assert len(adm.applied) == len(burst) and adm.duplicate_ids == 0
    # put twice: each copy told, by the window or by the ids let go of at the horizon's very time
    twice = admit(to_records([{}] * (2 * len(burst))), burst + burst, {}, 1_800_000)
    assert len(twice.applied) == len(burst) and twice.duplicate_ids == len(burst)
