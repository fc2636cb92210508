"""``decode_event`` (one C pass over the batch, records built a column at a time) against ``decode_one_by_one`` (the
reference): the same records, or the same exception, for any event, valid base64 or not."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.consumer.kinesis_event import decode_event, decode_one_by_one

SHARDS = ("shardId-000000000000", "shardId-000000000001")

valid_b64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
odd_b64 = st.sampled_from(["aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "aGVs-G8=", "YQ=", "=", "aGVsbG8=YQ==", "é", ""])
arrival = st.one_of(
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.integers(min_value=0, max_value=4_000_000_000),
    st.sampled_from([float("nan"), float("inf"), 1e300, "1763690400.5"]),
)


@st.composite
def records(draw: st.DrawFn) -> dict:
    seq = str(draw(st.integers(min_value=0, max_value=10**60)))
    kinesis: dict = {"sequenceNumber": seq, "data": draw(st.one_of(valid_b64, valid_b64, odd_b64))}
    if draw(st.booleans()):
        kinesis["partitionKey"] = draw(st.text(max_size=8))
    if draw(st.integers(0, 3)):
        kinesis["approximateArrivalTimestamp"] = draw(arrival)
    rec: dict = {"kinesis": kinesis, "eventSource": "aws:kinesis"}
    if draw(st.integers(0, 5)):
        shard = draw(st.sampled_from(SHARDS)) if draw(st.integers(0, 4)) else draw(st.text(max_size=6))
        rec["eventID"] = f"{shard}:{seq}" if draw(st.integers(0, 5)) else shard
    return rec


def outcome(decode, event):
    try:
        return decode(event)
    except Exception as exc:  # the same exception is the same verdict
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(st.lists(records(), max_size=12))
def test_the_columnar_decode_equals_the_record_by_record_reference(recs: list[dict]) -> None:
    event = {"Records": recs}
    assert outcome(decode_event, event) == outcome(decode_one_by_one, event)


def test_each_record_gets_its_own_shard_in_a_batch_of_one_shard_or_of_several() -> None:
    def rec(shard: str, seq: int) -> dict:
        data = base64.b64encode(b'{"a":1}').decode()
        return {"eventID": f"{shard}:{seq}", "kinesis": {"sequenceNumber": str(seq), "data": data}}

    one = {"Records": [rec(SHARDS[0], i) for i in range(5)]}
    two = {"Records": [rec(SHARDS[i % 2], i) for i in range(5)]}
    assert [r.shard_id for r in decode_event(one)] == [SHARDS[0]] * 5
    assert [r.shard_id for r in decode_event(two)] == [SHARDS[i % 2] for i in range(5)]
    assert decode_event({}) == decode_event({"Records": None}) == []
