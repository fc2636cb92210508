"""Pure parts of the consumer: event decoding, config, admission rules, per-event scores, flags, item format."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

import msgspec
import pytest

from clickguard import settings
from clickguard.consumer.admission import admit
from clickguard.consumer.config import ConfigError, ConsumerConfig
from clickguard.consumer.flags import flag_id
from clickguard.consumer.kinesis_event import SEQ_DIGITS, decode_event, lambda_event, pad_seq
from clickguard.consumer.rule import allows
from clickguard.consumer.state import (
    AT_HORIZON_IDS,
    ID_DIGEST_BYTES,
    RECENT_EVENT_IDS,
    LastFlag,
    RecentIds,
    UserState,
    event_digest,
    id_digest,
)
from clickguard.events import Event
from clickguard.model.scoring import EventBatch, ScoringTable, SessionState, TopTransition, apply_event, score_batch
from clickguard.model.signals import SignalState
from clickguard.model.visits import VisitState
from clickguard.store.session_item import ItemFormatError, from_item, to_item
from clickguard.timestamps import MAX_FUTURE_SKEW_MS
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


def test_admission_drops_copies_of_events_with_ids_in_and_across_batches():
    recs = to_records([{"user_id": "a", "timestamp": T0 / 1000}] * 5)
    earlier = ev("a", T0 - 5, "e0")  # applied in an earlier batch: its digest is in the state
    events = [ev("a", T0, "e1"), ev("a", T0 + 1, "e2"), ev("a", T0, "e1"), earlier, ev("a", T0 + 3, "e0")]
    state = UserState("a", recent_ids=event_digest(earlier, earlier.ts_ms))
    adm = admit(recs, events, {"a": state}, 1_800_000)
    assert adm.applied == [0, 1, 4] and adm.duplicate_ids == 2  # e0 on another event: a counter, not a copy
    assert adm.touched["a"][SHARD] == recs[4].seq  # skipped records still advance the sequence number
    kept = (earlier, events[0], events[1], events[4])
    assert adm.recent_ids["a"].packed() == b"".join(event_digest(e, e.ts_ms) for e in kept)


def test_an_id_that_numbers_events_per_device_drops_none_of_them():
    """Amplitude's event_id counts a device's events: a user's two devices both send 1, 2, 3; each is an event."""
    two_devices = [ev("a", T0 + i * 1000 + d, str(i)) for i in range(1, 4) for d in (0, 500)]
    recs = to_records([{"user_id": "a", "timestamp": T0 / 1000}] * len(two_devices))
    assert admit(recs, two_devices, {}, 1_800_000).applied == list(range(6))


def test_the_duplicate_window_slides_by_distinct_ids_and_vouches_back_to_its_horizon():
    window = RecentIds()
    ids = [f"e{i}" for i in range(RECENT_EVENT_IDS + 1)]
    assert not any(window.seen_or_add(id_digest(e), T0 + i) for i, e in enumerate(ids))
    assert len(window.packed()) == RECENT_EVENT_IDS * ID_DIGEST_BYTES
    assert window.seen_or_add(id_digest(ids[-1]), T0 + RECENT_EVENT_IDS) and window.seen_or_add(
        id_digest(ids[1]), T0 + 1
    )
    # the oldest slid out: an event dated before the horizon is a copy, whatever its id; at it, a burst's next event
    assert window.horizon_ms == T0 and window.seen_or_add(id_digest("older"), T0 - 1)
    assert not window.seen_or_add(id_digest("new"), T0 + 1)  # after the horizon: a new event


def test_a_burst_of_more_distinct_ids_than_the_window_in_one_instant_drops_none():
    """A bot's 300 events of distinct ids in one whole second: 171 were dropped as copies when an event dated at
    the horizon was one."""
    window = RecentIds()
    assert not any(window.seen_or_add(id_digest(f"b{i}"), T0) for i in range(3 * RECENT_EVENT_IDS))
    assert window.horizon_ms == T0 and window.seen_or_add(id_digest(f"b{3 * RECENT_EVENT_IDS - 1}"), T0)
    assert window.seen_or_add(id_digest("b0"), T0)  # let go of at the horizon's time, still told a copy
    stored = RecentIds(window.packed(), window.packed_times(), window.horizon_ms, window.packed_at_horizon())
    assert stored.seen_or_add(id_digest("b1"), T0) and not stored.seen_or_add(id_digest("b-new"), T0)
    past = RecentIds()  # past AT_HORIZON_IDS ids at one instant, the horizon's time is all copies again
    assert sum(past.seen_or_add(id_digest(f"p{i}"), T0) for i in range(RECENT_EVENT_IDS + AT_HORIZON_IDS + 50)) == 50


def test_a_producer_replaying_a_busy_user_s_day_applies_no_copy():
    """Put again after it was consumed, a 200-event session applied every copy (each unrecognised copy pushed an
    original out of the window: a tester's busy users' last sessions doubled, with 4 more flags)."""
    day = [ev("a", T0 + i * 1000, f"id{i}") for i in range(200)]
    first = admit(to_records([{}] * 200), day, {}, 1_800_000)
    assert len(first.applied) == 200
    session = SessionState(None, "view", T0, T0 + 199_000, 199, 0)
    window = first.recent_ids["a"]
    stored = UserState("a", session, first.touched["a"], window.packed(), None, 0, 0, window.packed_times(),
                       window.horizon_ms, window.packed_at_horizon())  # fmt: skip
    again = admit(to_records([{}] * 200, seq0=SEQ0 + 10**6), day, {"a": stored}, 1_800_000)
    assert (again.applied, again.duplicate_ids) == ([], 200)


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


def _full_state() -> UserState:
    tops = (TopTransition(9_000_000, 3, "login", "login#fail"), TopTransition(4_000_000, 1, "START", "caf\u00e9"))
    tokens = (("caf\u00e9", 1, 4_000_000), ("login", 2, 1_500_000), ("login#fail", 1, 9_000_000))
    s = SessionState("s-1", "login#fail", T0, T0 + 99, 17, 123_456_789_012, tops, tokens=tokens)
    signals = SignalState(*range(3, 3 + len(SignalState._fields)))
    s = s._replace(peak_mean_ubits=2_500_000, signals=signals, llr_ubits=-7, visits=VisitState(4, 14_400, 51_840_000))
    ids = id_digest("e1") + id_digest("e2")
    flag = LastFlag(T0, "v1", "abc", ("mean_bits", "gap_cv"))
    times = (T0 + 1).to_bytes(8, "big") + (T0 + 2).to_bytes(8, "big")
    return UserState("user-1", s, {SHARD: 10**128 + 3, "shardId-1": 0}, ids, flag, 1_800_000_000, 9, times, T0 - 5)


def test_state_item_round_trips_exactly():
    state = _full_state()
    item = to_item(state)
    assert set(item) == {"user_key", settings.SESSION_TABLE_TTL_ATTRIBUTE, "version", "state"}
    assert item[settings.SESSION_TABLE_TTL_ATTRIBUTE] == {"N": "1800000000"} and item["version"] == {"N": "9"}
    assert from_item(item) == state
    bare = UserState("user-2", None, {SHARD: 1})
    assert from_item(to_item(bare)) == bare


def test_a_state_item_of_another_format_or_corrupt_is_refused_with_a_reason():
    item = to_item(_full_state())
    fmt, *rest = msgspec.msgpack.decode(item["state"]["B"])
    with pytest.raises(ItemFormatError, match="format 2, this code reads format 1"):
        from_item({**item, "state": {"B": msgspec.msgpack.encode([2, *rest])}})
    with pytest.raises(ItemFormatError, match="does not decode"):
        from_item({**item, "state": {"B": item["state"]["B"][:-3]}})
    session = list(rest[0])
    session[SessionState._fields.index("transitions")] = "17"
    with pytest.raises(ItemFormatError, match=r"Expected `int`, got `str` - at `\$\[1\]\[4\]`"):
        from_item({**item, "state": {"B": msgspec.msgpack.encode([fmt, session, *rest[1:]])}})
    with pytest.raises(ItemFormatError, match="Expected `array` of length 6 to 12, got 1"):  # a required field missing
        from_item({**item, "state": {"B": msgspec.msgpack.encode([fmt, rest[0][:1], *rest[1:]])}})


def test_a_state_field_added_later_reads_as_its_default_from_an_older_item():
    state = _full_state()
    assert state.session is not None
    item = to_item(state)
    fmt, session, *rest = msgspec.msgpack.decode(item["state"]["B"])
    assert SessionState._fields[-1] == "visits"
    old_item = {**item, "state": {"B": msgspec.msgpack.encode([fmt, session[:-1], *rest])}}
    assert from_item(old_item).session == state.session._replace(visits=VisitState())
    # an accumulator added at the end of an array: an older, shorter array reads it as 0
    at = SessionState._fields.index("signals")
    shorter = [*session[:at], session[at][:-1], *session[at + 1 :]]
    old_item = {**item, "state": {"B": msgspec.msgpack.encode([fmt, shorter, *rest])}}
    read = from_item(old_item).session
    assert read is not None and read.signals == state.session.signals._replace(token_mask=0)
    # a newer release's longer array is refused, not truncated
    longer = [*session[:at], [*session[at], 1], *session[at + 1 :]]
    with pytest.raises(ItemFormatError, match="does not decode"):
        from_item({**item, "state": {"B": msgspec.msgpack.encode([fmt, longer, *rest])}})


def _attribute_item(state: UserState, json_rows: bool = True) -> dict:
    """An item as written before 2026-11-30 (evening): one attribute per field; ``top`` and ``tokens`` as JSON
    strings, or as a list and a map (``json_rows`` False, before that)."""
    s, f = state.session, state.last_flag
    assert s is not None and f is not None
    n = lambda v: {"N": str(v)}  # noqa: E731
    item = {
        "user_key": {"S": state.user_key},
        "seqs": {"M": {shard: {"S": pad_seq(seq)} for shard, seq in state.seqs.items()}},
        "expires_at": n(state.expires_at),
        "version": n(state.version),
        "last_token": {"S": s.last_token},
        "session_id": {"S": s.session_id},
        "first_ts_ms": n(s.first_ts_ms),
        "last_ts_ms": n(s.last_ts_ms),
        "transitions": n(s.transitions),
        "total_ubits": n(s.total_ubits),
        "total_bits": n(s.total_bits),
        "mean_bits": n(s.mean_bits),
        "peak_mean_ubits": n(s.peak_mean_ubits),
        "llr_ubits": n(s.llr_ubits),
        "signals": {"S": ",".join(map(str, s.signals))},
        "visits": {"S": ",".join(map(str, s.visits))},
        "recent_ids": {"B": state.recent_ids},
        "last_flag": {"M": {"ts_ms": n(f.ts_ms), "model_version": {"S": f.model_version}, "flag_id": {"S": f.flag_id},
                            "reasons": {"L": [{"S": r} for r in f.reasons]}}},
    }  # fmt: skip
    if json_rows:
        item["top"] = {"S": json.dumps([list(t) for t in s.top])}
        item["tokens"] = {"S": json.dumps(list(s.tokens))}
    else:
        item["top"] = {"L": [{"L": [n(t.ubits), n(t.position), {"S": t.from_token}, {"S": t.to_token}]} for t in s.top]}
        item["tokens"] = {"M": {tok: {"L": [n(c), n(ub)]} for tok, c, ub in reversed(s.tokens)}}
    return item


def test_an_item_written_before_the_duplicate_window_s_horizon_reads_without_one():
    state = _full_state()
    item = to_item(state)
    fmt, session, seqs, ids, flag, *_new = msgspec.msgpack.decode(item["state"]["B"])
    old = from_item({**item, "state": {"B": msgspec.msgpack.encode([fmt, session, seqs, ids, flag])}})
    assert old == state._replace(recent_times=b"", id_horizon_ms=0)
    window = RecentIds(old.recent_ids, old.recent_times, old.id_horizon_ms)
    assert list(window.times) == [0, 0] and not window.seen_or_add(id_digest("e3"), T0)  # undated: no horizon
    full = RecentIds(b"".join(id_digest(f"x{i}") for i in range(RECENT_EVENT_IDS)))  # undated, full
    assert not full.seen_or_add(id_digest("y"), T0) and full.horizon_ms == 0  # the undated one left: horizon stays


def test_state_items_written_attribute_by_attribute_read_the_same():
    """Items written before the state became one MessagePack attribute (still in the table within their TTL), with
    ``top`` and ``tokens`` as JSON strings or, earlier, as a list and a map, read back the state a new item does;
    so do items from before the visit rhythm, before event ids were digested, and from before detector v2 (all of
    them from before the duplicate window's times and horizon)."""
    state = _full_state()._replace(recent_times=b"", id_horizon_ms=0)
    s = state.session
    assert s is not None
    assert from_item(_attribute_item(state)) == from_item(_attribute_item(state, json_rows=False)) == state
    before_visits = {k: v for k, v in _attribute_item(state).items() if k != "visits"}
    assert from_item(before_visits) == state._replace(session=s._replace(visits=VisitState()))
    before_digests = {k: v for k, v in _attribute_item(state).items() if k != "recent_ids"}
    before_digests["recent_event_ids"] = {"L": [{"S": "e1"}, {"S": "e2"}]}
    assert from_item(before_digests) == state
    v1 = {k: v for k, v in _attribute_item(state).items() if k not in {"signals", "peak_mean_ubits", "llr_ubits"}}
    v1_state = s._replace(signals=SignalState(), peak_mean_ubits=-1, llr_ubits=0)
    assert from_item(v1) == state._replace(session=v1_state)
