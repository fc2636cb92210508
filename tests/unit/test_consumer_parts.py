"""Pure parts of the consumer: event decoding, config, admission rules, per-event scores, flags, item format."""

from __future__ import annotations

import base64
import dataclasses
import random
from datetime import UTC, datetime

import pytest

from clickguard import settings
from clickguard.consumer.admission import MAX_FUTURE_SKEW_MS, admit
from clickguard.consumer.config import ConfigError, ConsumerConfig
from clickguard.consumer.flags import flag_id
from clickguard.consumer.kinesis_event import SEQ_DIGITS, decode_event, lambda_event, pad_seq
from clickguard.consumer.rule import allows
from clickguard.consumer.state import RECENT_EVENT_IDS, LastFlag, RecentIds, UserState, id_digest
from clickguard.events import Event
from clickguard.model.scoring import EventBatch, ScoringTable, SessionState, TopTransition, apply_event, score_batch
from clickguard.model.visits import VisitState
from clickguard.store.sessions import from_item, to_item
from tests.consumer_support import SEQ0, SHARD, T0, TOKENS, make_model, to_records

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"


def test_lambda_event_round_trips_through_decode():
    seq = "9" * 129  # the longest sequence number Kinesis can hand out
    got = [
        {
            "Data": b'{"a":1}',
            "PartitionKey": "u1",
            "SequenceNumber": seq,
            "ApproximateArrivalTimestamp": datetime(2025, 11, 21, 10, 0, 0, 123000, tzinfo=UTC),
        },
    ]
    event = lambda_event(got, SHARD, STREAM_ARN)
    rec = event["Records"][0]
    assert rec["eventID"] == f"{SHARD}:{seq}" and rec["eventSource"] == "aws:kinesis"
    assert rec["kinesis"]["data"] == base64.b64encode(b'{"a":1}').decode()
    (decoded,) = decode_event(event)
    assert decoded.seq == int(seq) and decoded.seq_str == seq and decoded.shard_id == SHARD
    assert decoded.data == b'{"a":1}' and decoded.partition_key == "u1"
    assert decoded.arrival_ms == int(datetime(2025, 11, 21, 10, 0, 0, 123000, tzinfo=UTC).timestamp() * 1000)


def test_undecodable_base64_becomes_empty_data():
    event = {
        "Records": [
            {
                "eventID": f"{SHARD}:1",
                "kinesis": {
                    "data": "@@@",
                    "sequenceNumber": "1",
                    "partitionKey": "p",
                    "approximateArrivalTimestamp": 1,
                },
            }
        ]
    }
    assert decode_event(event)[0].data == b""


def test_padded_sequence_numbers_sort_like_integers():
    nums = [5, 10**60, 49590338271490256608559692538361571095921575989136588898, 10**128 + 7]
    assert sorted(pad_seq(n) for n in nums) == [pad_seq(n) for n in sorted(nums)]
    assert all(len(pad_seq(n)) == SEQ_DIGITS for n in nums)


def test_config_errors_name_the_variable():
    env = {settings.ENV_TABLE_NAME: "t", settings.ENV_FLAG_QUEUE_URL: "q", settings.ENV_DATA_BUCKET: "b"}
    cfg = ConsumerConfig.from_env(env)
    assert cfg.model_bucket == "b" and cfg.flag_cooldown_seconds == settings.DEFAULT_FLAG_COOLDOWN_SECONDS
    with pytest.raises(ConfigError, match=settings.ENV_FLAG_QUEUE_URL):
        ConsumerConfig.from_env({k: v for k, v in env.items() if k != settings.ENV_FLAG_QUEUE_URL})
    with pytest.raises(ConfigError, match=settings.ENV_STATE_TTL_DAYS):
        ConsumerConfig.from_env({**env, settings.ENV_STATE_TTL_DAYS: "0"})
    with pytest.raises(ConfigError, match=settings.ENV_MODEL_REFRESH_SECONDS):
        ConsumerConfig.from_env({**env, settings.ENV_MODEL_REFRESH_SECONDS: "soon"})
    with pytest.raises(ConfigError, match=settings.ENV_USER_KEY_SOURCE):
        ConsumerConfig.from_env({**env, settings.ENV_USER_KEY_SOURCE: "imei"})


def ev(user, ts, eid=None):
    return Event(user, "view_item", ts, None, eid)


def test_admission_guards_sequence_numbers_per_shard():
    recs = to_records([{"user_id": "a", "timestamp": T0 / 1000}] * 3)
    events = [ev("a", T0 + i) for i in range(3)]
    state = UserState("a", seqs={SHARD: recs[1].seq, "shardId-000000000009": 10**70})
    adm = admit(recs, events, {"a": state}, 1_800_000)
    assert adm.applied == [2] and adm.replayed == 2
    # a record on a child shard after a reshard is compared with that shard's own history only
    child = [r._replace(shard_id="shardId-000000000001", seq=5) for r in recs[:1]]
    assert admit(child, events[:1], {"a": state}, 1_800_000).applied == [0]


def test_admission_drops_duplicate_event_ids_in_and_across_batches():
    recs = to_records([{"user_id": "a", "timestamp": T0 / 1000}] * 4)
    events = [ev("a", T0, "e1"), ev("a", T0 + 1, "e2"), ev("a", T0 + 2, "e1"), ev("a", T0 + 3, "e0")]
    state = UserState("a", recent_event_ids=(id_digest("e0"),))
    adm = admit(recs, events, {"a": state}, 1_800_000)
    assert adm.applied == [0, 1] and adm.duplicate_ids == 2
    assert adm.touched["a"][SHARD] == recs[3].seq  # skipped records still advance the sequence number
    assert adm.recent_ids["a"].digests() == tuple(map(id_digest, ("e0", "e1", "e2")))


def test_the_duplicate_window_slides_by_distinct_ids():
    window = RecentIds()
    ids = [f"e{i}" for i in range(RECENT_EVENT_IDS + 1)]
    assert not any(window.seen_or_add(id_digest(e)) for e in ids)
    assert len(window.digests()) == RECENT_EVENT_IDS
    assert window.seen_or_add(id_digest(ids[-1])) and window.seen_or_add(id_digest(ids[1]))
    assert not window.seen_or_add(id_digest(ids[0]))  # the oldest slid out: a copy that far back is applied


def test_late_records_are_skipped_and_future_times_clamped():
    gap = 1_800_000
    recs = to_records([{"user_id": "a", "timestamp": T0 / 1000}] * 3)
    events = [ev("a", T0), ev("a", T0 - gap - 1), ev("a", T0 - gap + 1)]
    adm = admit(recs, events, {}, gap)
    assert adm.applied == [0, 2] and adm.late == 1
    future = [recs[0]._replace(arrival_ms=T0)]
    adm = admit(future, [ev("a", T0 + 10 * 3_600_000)], {}, gap)
    assert adm.ts_ms == [T0 + MAX_FUTURE_SKEW_MS] and adm.clamped == 1


def test_per_event_running_values_match_event_by_event_scoring():
    rng = random.Random(3)
    table = ScoringTable.from_model(make_model())
    for _ in range(30):
        n = rng.randint(1, 40)
        users = [rng.choice("abc") for _ in range(n)]
        toks = [rng.choice([*TOKENS[2:], "zzz"]) for _ in range(n)]
        ts = [T0 + rng.randint(0, 5_000_000) for _ in range(n)]
        sids = [rng.choice([None, None, "s1", "s2"]) for _ in range(n)]
        prior = {"a": SessionState(None, "chat", T0, T0 + 10, 4, 7_000_000, ())}
        res = score_batch(table, 1_800_000, EventBatch(users, toks, ts, sids), prior)
        states = dict(prior)
        for i in range(n):
            st, _ = apply_event(states.get(users[i]), toks[i], ts[i], sids[i], table, 1_800_000)
            states[users[i]] = st
            assert res.event_transitions[i] == st.transitions
            assert res.event_total_ubits[i] == st.total_ubits


def test_cooldown_and_stronger_reasons():
    last = LastFlag(T0, "v1", "f", ("mean_bits",))
    day = 86_400_000
    assert allows(None, ("mean_bits",), T0, day)
    assert not allows(last, ("mean_bits",), T0 + day - 1, day)
    assert not allows(last, ("total_bits",), T0 + 1, day)  # different, not stronger
    assert allows(last, ("mean_bits", "total_bits"), T0 + 1, day)
    assert allows(last, ("mean_bits",), T0 + day, day)
    assert not allows(last, ("mean_bits",), T0 - 5, day)  # a late event never reopens the cooldown


def test_flag_id_is_stable_and_specific():
    a = flag_id("u", T0, ("total_bits", "mean_bits"), SHARD, SEQ0)
    assert a == flag_id("u", T0, ("mean_bits", "total_bits"), SHARD, SEQ0)
    assert a != flag_id("u", T0, ("mean_bits",), SHARD, SEQ0)
    assert a != flag_id("u", T0 + 1, ("total_bits", "mean_bits"), SHARD, SEQ0)
    assert a != flag_id("u", T0, ("total_bits", "mean_bits"), SHARD, SEQ0 + 1)


def test_state_item_round_trips_exactly():
    s = SessionState(
        "s-1", "login#fail", T0, T0 + 99, 17, 123_456_789_012, (TopTransition(9_000_000, 3, "login", "login#fail"),)
    )
    s = dataclasses.replace(s, visits=VisitState(4, 14_400, 51_840_000))
    ids = (id_digest("e1"), id_digest("e2"))
    state = UserState("user-1", s, {SHARD: 10**128 + 3}, ids, LastFlag(T0, "v1", "abc", ("mean_bits",)), 1_800_000_000)
    item = to_item(state)
    assert item["seqs"]["M"][SHARD]["S"] == pad_seq(10**128 + 3)
    assert item[settings.SESSION_TABLE_TTL_ATTRIBUTE] == {"N": "1800000000"}
    assert from_item(item) == state
    bare = UserState("user-2", None, {SHARD: 1})
    assert from_item(to_item(bare)) == bare
    legacy = {**to_item(bare), "recent_event_ids": {"L": [{"S": "e1"}, {"S": "e2"}]}}  # items from before digests
    assert from_item(legacy).recent_event_ids == ids
    before_visits = {k: v for k, v in item.items() if k != "visits"}  # items from before the visit rhythm
    assert from_item(before_visits) == dataclasses.replace(state, session=dataclasses.replace(s, visits=VisitState()))


def test_state_items_written_before_top_and_tokens_were_json_read_the_same():
    """Until 2026-11-30 ``top`` was a list of lists and ``tokens`` a map of [events, micro-bits]; such items (still
    in the table within their TTL) read back the state a new item does."""
    tops = (TopTransition(9_000_000, 3, "login", "login#fail"), TopTransition(4_000_000, 1, "START", "caf\u00e9"))
    tokens = (("caf\u00e9", 1, 4_000_000), ("login", 2, 1_500_000), ("login#fail", 1, 9_000_000))
    s = SessionState("s-1", "login#fail", T0, T0 + 99, 4, 14_500_000, tops, tokens=tokens)
    state = UserState("user-1", s, {SHARD: 7})
    item = to_item(state)
    assert set(item["top"]) == {"S"} and set(item["tokens"]) == {"S"}
    old = {
        **item,
        "top": {"L": [{"L": [{"N": str(t.ubits)}, {"N": str(t.position)}, {"S": t.from_token}, {"S": t.to_token}]}
                      for t in tops]},
        "tokens": {"M": {tok: {"L": [{"N": str(n)}, {"N": str(ub)}]} for tok, n, ub in reversed(tokens)}},
    }  # fmt: skip
    assert from_item(old) == from_item(item) == state
