"""POST /score answers with the consumer's own maths: the stored state plus the request's events gives the state,
score and flag decision the consumer reaches when those events arrive on the stream next; nothing is written."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from clickguard.api.function_url import HttpRequest, encode_response
from clickguard.api.response import DECISION_FIELDS, RESPONSE_FIELDS
from clickguard.api.service import Policy, ScoreService
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.flagging import explain
from clickguard.model import detector
from clickguard.model.live import reasons
from clickguard.model.scoring import score_state
from clickguard.review import allowlist
from clickguard.review.allowlist import AllowList
from clickguard.review.decision import Verdict, for_flag
from tests.consumer_support import (
    SEQ0,
    FakeFlags,
    FakeModel,
    FakeRejected,
    FakeSessions,
    config,
    event_stream,
    make_model,
    to_records,
)
from tests.review_support import StaticAllowList

MODEL = make_model()
TABLE = detector.scoring_table(MODEL)
THRESHOLD = TABLE.scorer.threshold
COOLDOWN_MS = config().flag_cooldown_seconds * 1000
NOW_MS = 4_000_000_000_000  # arrival far after every event: nothing is clamped
STREAM = event_stream()
NO_ALLOW = AllowList()


def user_events(user: str) -> list[dict]:
    return [e for e in STREAM if e["user_id"] == user]


def consumer(payloads: list[dict], deps: Deps | None = None, first: int = 0, allow=NO_ALLOW) -> Deps:
    """The consumer's orchestrator with in-memory stores, ``payloads`` as one batch (sequence numbers from
    position ``first`` on, so a later batch continues the shard)."""
    deps = deps or Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(MODEL), StaticAllowList(allow))
    if payloads:
        process_batch(to_records(payloads, seq0=SEQ0 + 1000 * first), deps, config())
    return deps


def ask(sessions, user: str, events: list[dict] | None = None, model=MODEL, allow=NO_ALLOW) -> tuple[int, dict]:
    service = ScoreService(sessions, FakeModel(model), Policy(COOLDOWN_MS), StaticAllowList(allow))
    payload = {"user_key": user} if events is None else {"user_key": user, "events": events}
    answer = service.handle(HttpRequest("POST", "/score", json.dumps(payload)), NOW_MS)
    wire = encode_response(answer.response)  # what the caller gets: strict JSON (no NaN or Infinity)
    return wire["statusCode"], json.loads(wire["body"])


def finite(x: float) -> float | None:
    return round(x, 6) if math.isfinite(x) else None


FIRST_FLAGS = {}
for _flag in consumer(STREAM).flags.sent:
    FIRST_FLAGS.setdefault(_flag.user_key, json.loads(_flag.body))
FLAGGED = sorted(FIRST_FLAGS)


def allowing(user: str) -> AllowList:
    """A reviewer allowed the user's first flag, margin 0: only a stronger flag, or one with a new reason, goes out."""
    decided = for_flag(FIRST_FLAGS[user], Verdict.ALLOW, "a known power user", "alice", 1_763_700_000_000)
    return allowlist.apply(AllowList(), [decided], days=30, margin=0.0, now_ms=1_763_700_000_000)


CASES = [(user, k, False) for user in ("u1", "u3", "u4", "u8", "u9") for k in (0, 1, 4, 7, 11)]
CASES += [(user, k, True) for user in ("u3", "u4", "u8", "u9") for k in (0, 4, 11)]


@pytest.mark.parametrize(("user", "k", "allowed"), CASES)
def test_events_on_top_of_the_stored_state_give_what_the_consumer_reaches_with_them(user, k, allowed):
    """The first ``k`` events went through the consumer; the rest come in the request. The answer's session, score
    and flag decision equal the consumer's after it reads the rest from the stream (with the same allow-list)."""
    events = user_events(user)
    allow = allowing(user) if allowed else NO_ALLOW
    before = consumer(events[:k], allow=allow)
    stored, flags_before = dict(before.sessions.items), len(before.flags.sent)
    status, answer = ask(before.sessions, user, events[k:], allow=allow)
    assert before.sessions.items == stored and before.sessions.put_calls == (1 if k else 0)  # never written
    after = consumer(events[k:], before, first=k)
    session = after.sessions.items[user].session
    assert status == 200
    assert answer["score"] == finite(score_state(session, TABLE))
    assert answer["session"]["events"] == session.transitions
    assert answer["session"]["total_bits"] == round(session.total_bits, 6)
    assert answer["reasons"] == list(reasons(explain(session, TABLE)))
    assert [s["name"] for s in answer["signals"]][:3] == [s.name for s in explain(session, TABLE)][:3]
    assert [(t["from"], t["to"], t["position"]) for t in answer["top_transitions"]] == [
        (t.from_token, t.to_token, t.position) for t in session.top
    ]
    sent = after.flags.sent[flags_before:]
    assert answer["decision"]["would_flag"] == bool(sent)
    if sent:
        assert answer["decision"]["reasons"] == list(sent[0].last.reasons)
        assert json.loads(sent[0].body)["source"]["sequence_number"] == str(
            SEQ0 + 1000 * (k + answer["decision"]["flag_event"] + 1)
        )
    assert answer["events"] == {"received": len(events) - k, "applied": len(events) - k, "duplicates": 0,
                                "late": 0, "clamped": 0}  # fmt: skip


def test_the_consumers_flagged_users_are_among_the_cases():
    assert {"u3", "u4", "u8", "u9"} <= set(FLAGGED) and "u1" not in FLAGGED


@pytest.mark.parametrize("user", [f"u{i}" for i in range(30)])
def test_without_events_the_answer_is_the_stored_sessions_score(user):
    deps = consumer(STREAM)
    state = deps.sessions.items[user]
    status, answer = ask(deps.sessions, user)
    score = score_state(state.session, TABLE)
    assert status == 200 and answer["score"] == finite(score)
    assert answer["started_from"]["score"] == answer["score"] and answer["started_from"]["stored"]
    assert answer["decision"]["fires"] == (score > THRESHOLD)
    if answer["decision"]["fires"]:  # the consumer flagged this very session: the cooldown holds a second flag
        assert user in FLAGGED
        assert answer["decision"]["held_by"] == "cooldown" and not answer["decision"]["would_flag"]
        assert answer["decision"]["last_flag"]["flag_id"] == state.last_flag.flag_id


def test_a_user_the_consumer_flagged_at_its_last_event_scores_above_the_threshold():
    deps = consumer(STREAM)
    above = [u for u in FLAGGED if ask(deps.sessions, u)[1]["score"] > THRESHOLD]
    assert above, "at least one flagged user's session still stands above the threshold"
    for user in above:
        assert ask(deps.sessions, user)[1]["decision"]["fires"]


def test_a_flag_is_held_back_by_the_cooldown_and_let_out_after_it():
    user = "u3"  # fails logins: flagged
    events = user_events(user)
    deps = consumer(events)
    state = deps.sessions.items[user]
    assert state.last_flag is not None
    # its last flag gave every reason there is, so no later flag can add one: only the cooldown decides
    last = replace(state.last_flag, reasons=detector.FEATURES)
    deps.sessions.items[user] = state._replace(last_flag=last)
    more = [{**events[-1], "timestamp": events[-1]["timestamp"] + 1 + i} for i in range(3)]
    held = ask(deps.sessions, user, more)[1]["decision"]
    assert held["fires"] and held["held_by"] == "cooldown" and not held["would_flag"] and held["flag_event"] is None
    assert held["reasons"] and held["last_flag"]["reasons"] == list(detector.FEATURES)
    # the same state with its last flag a cooldown ago: the flag goes out on the first firing event
    deps.sessions.items[user] = state._replace(last_flag=replace(last, ts_ms=last.ts_ms - COOLDOWN_MS))
    free = ask(deps.sessions, user, more)[1]["decision"]
    assert free["would_flag"] and free["held_by"] is None and free["flag_event"] == free["first_firing_event"]


def test_a_user_a_reviewer_allowed_is_held_by_the_allow_list_as_the_consumer_holds_them():
    user, allow = "u9", allowing("u9")
    answer = ask(FakeSessions(), user, user_events(user), allow=allow)[1]["decision"]
    assert answer["fires"] and not answer["would_flag"] and answer["held_by"] == "allow_list"
    assert answer["allowed"]["flag_id"] == FIRST_FLAGS[user]["flag_id"]
    assert not consumer(user_events(user), allow=allow).flags.sent
    assert ask(FakeSessions(), user, user_events(user))[1]["decision"]["would_flag"]  # without the entry: flagged


def test_copies_of_applied_events_and_late_events_are_dropped_and_counted():
    user = "u2"
    events = [{**e, "event_id": f"id-{i}"} for i, e in enumerate(user_events(user))]
    deps = consumer(events)
    _, plain = ask(deps.sessions, user)
    late = {**events[0], "event_id": "late-1", "timestamp": events[-1]["timestamp"] - 3 * 3600}
    _, answer = ask(deps.sessions, user, [*events[-3:], late])
    assert answer["events"] == {"received": 4, "applied": 0, "duplicates": 3, "late": 1, "clamped": 0}
    assert answer["score"] == plain["score"] and answer["session"] == plain["session"]


def test_an_event_far_in_the_future_is_clamped_to_the_requests_arrival_as_the_consumer_clamps_it():
    user = "u2"
    deps = consumer(user_events(user))
    future = {**user_events(user)[-1], "timestamp": (NOW_MS + 3_600_000) / 1000}
    service = ScoreService(deps.sessions, FakeModel(MODEL), Policy(COOLDOWN_MS))
    now = int(user_events(user)[-1]["timestamp"] * 1000) + 60_000
    answer = service.handle(HttpRequest("POST", "/score", json.dumps({"user_key": user, "events": [future]})), now)
    assert answer.response.body["events"]["clamped"] == 1
    assert answer.score is not None and answer.score.session.last_ts_ms == now + 5 * 60_000


def test_a_user_with_no_state_and_no_events_gets_an_empty_score_and_why():
    status, answer = ask(consumer(STREAM).sessions, "nobody")
    assert status == 200
    assert answer["score"] is None and answer["session"] is None and answer["signals"] == []
    assert answer["empty"]["reason"] == "no_state"
    assert answer["started_from"] == {"stored": False, "state_version": 0, "session": None, "score": None}
    assert answer["decision"]["fires"] is False and answer["decision"]["last_flag"] is None


def test_a_session_shorter_than_min_events_has_no_score_yet_and_says_so():
    one = user_events("u1")[:1]
    status, answer = ask(FakeSessions(), "u1", one)
    assert status == 200 and answer["score"] is None and answer["session"]["events"] == 1
    assert answer["empty"]["reason"] == "too_short" and str(MODEL.params.min_events) in answer["empty"]["detail"]
    assert answer["signals"], "the signals of a short session still explain it"


def test_a_session_without_a_score_has_no_reasons():
    """Reasons are the signals past 1% of a score: a session too short to have one has none, though its signals are
    listed (a tester's answer gave ["peak_mean_bits"], every signal's value null and its bits 0)."""
    status, answer = ask(FakeSessions(), "u1", user_events("u1")[:1])
    assert status == 200 and answer["score"] is None and answer["empty"]["reason"] == "too_short"
    assert answer["signals"] and answer["reasons"] == [] and answer["decision"]["reasons"] == []


def test_a_short_session_of_a_user_on_a_timer_is_judged_on_the_visit_rhythm():
    """One event an hour, all in one UTC day: from the user's ``min_events``-th gap between visits its one-event
    session has a score, and the answer gives no ``empty`` reason."""
    midnight = 1_800_000_000 // 86_400 * 86_400
    hourly = [{"user_id": "timer", "event_type": "view_item", "timestamp": midnight + k * 3600} for k in range(5)]
    status, answer = ask(FakeSessions(), "timer", hourly)
    assert status == 200 and answer["session"]["events"] == 1
    assert answer["score"] is not None and answer["empty"] is None
    status, answer = ask(FakeSessions(), "timer", hourly[: MODEL.params.min_events])  # one gap short
    assert answer["score"] is None and answer["empty"]["reason"] == "too_short"


def test_the_answer_carries_exactly_the_documented_fields():
    status, answer = ask(consumer(STREAM).sessions, "u3", user_events("u3")[-2:])
    assert status == 200
    assert tuple(answer) == RESPONSE_FIELDS and tuple(answer["decision"]) == DECISION_FIELDS
    assert answer["model_version"] == MODEL.version and answer["threshold"] == round(THRESHOLD, 6)
    assert {tuple(s) for s in answer["signals"]} == {("name", "value", "typical", "bits")}


def test_without_a_model_the_answer_is_503_and_says_why():
    status, answer = ask(FakeSessions(), "u1", model=None)
    assert (status, answer["reason"]) == (503, "no_model")


def test_an_unreadable_state_is_503_not_an_empty_score():
    sessions = consumer(STREAM).sessions
    sessions.fail_get = {"u3"}
    status, answer = ask(sessions, "u3")
    assert (status, answer["reason"]) == (503, "state_unavailable")


def test_a_bad_request_is_refused_before_anything_is_read():
    sessions = FakeSessions()
    status, answer = ask(sessions, "u1", [{"user_id": "u2", "event_type": "x", "timestamp": 1.8e9}], model=None)
    assert (status, answer["reason"]) == (400, "user_key_mismatch")
    assert sessions.get_calls == 0


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [("GET", "/score", 405, "method_not_allowed"), ("PUT", "/score", 405, "method_not_allowed"),
     ("POST", "/", 404, "not_found"), ("POST", "/predict_behavior", 404, "not_found"),
     ("GET", "/score/u1", 404, "not_found")],
)  # fmt: skip
def test_wrong_paths_and_methods(method, path, status, reason):
    service = ScoreService(FakeSessions(), FakeModel(MODEL), Policy(COOLDOWN_MS))
    response = service.handle(HttpRequest(method, path, '{"user_key": "u1"}'), NOW_MS).response
    assert (response.status, response.reason) == (status, reason)
    assert (response.headers.get("allow") == "POST") == (status == 405)
