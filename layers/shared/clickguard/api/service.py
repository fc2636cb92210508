"""``POST /score`` as named steps: route, parse, the current model, the user's state, score, answer.

Statuses: 200 with a score (or an empty one and why: a user with no stored state and no events); 400 with the
reason a request was refused (``errors.Reason``); 404 for any other path; 405 (with ``Allow: POST``) for another
method on ``/score``; 503 while no model is published (or the session table could not be read): nothing is wrong
with the request, the caller may retry. A request is checked before anything is read, so a bad one costs no read.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickguard.api.errors import ApiError, Reason
from clickguard.api.function_url import HttpRequest, HttpResponse
from clickguard.api.ports import AllowListSource, ModelProvider, SessionReader
from clickguard.api.request import ScoreRequest, body_bytes, parse_request
from clickguard.api.response import error_body, score_body
from clickguard.api.scoring import Rule, UserScore, score_user
from clickguard.consumer.batch import NO_ALLOWLIST
from clickguard.events import UserKeySource

SCORE_PATH = "/score"
ALLOWED_METHOD = "POST"


@dataclass(frozen=True)
class Policy:
    cooldown_ms: int
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID


@dataclass(frozen=True)
class Answer:
    """The HTTP response, and what the handler logs and counts of it (never the user key)."""

    response: HttpResponse
    model_version: str | None = None
    score: UserScore | None = None


class ScoreService:
    def __init__(
        self,
        sessions: SessionReader,
        model: ModelProvider,
        policy: Policy,
        allowlist: AllowListSource = NO_ALLOWLIST,
    ) -> None:
        self.sessions = sessions
        self.model = model
        self.policy = policy
        self.allowlist = allowlist

    def handle(self, request: HttpRequest, now_ms: int) -> Answer:
        try:
            route(request)
            parsed = parse_request(body_bytes(request.body, request.is_base64), self.policy.user_key_source)
            return self.score(parsed, now_ms)
        except ApiError as exc:
            headers = {"allow": ALLOWED_METHOD} if exc.reason is Reason.METHOD_NOT_ALLOWED else {}
            return Answer(HttpResponse(exc.status, error_body(exc.reason.value, exc.message), headers))

    def score(self, request: ScoreRequest, now_ms: int) -> Answer:
        view = self.model.current()
        if view.model is None or view.table.scorer is None:
            raise ApiError(503, Reason.NO_MODEL, "no model is published yet; the trainer publishes one daily")
        states, failed = self.sessions.get_many([request.user_key])
        if failed:
            raise ApiError(503, Reason.STATE_UNAVAILABLE, "the session table could not be read; retry shortly")
        rule = Rule(view.table, view.model.params.gap_ms, self.policy.cooldown_ms, self.allowlist.current())
        result = score_user(request, states.get(request.user_key), rule, now_ms)
        version = view.model.version
        body = score_body(result, version, rule.threshold, view.table.min_events)
        return Answer(HttpResponse(200, body), version, result)


def route(request: HttpRequest) -> None:
    if request.path != SCORE_PATH:
        raise ApiError(404, Reason.NOT_FOUND, f"no such path; the API serves {ALLOWED_METHOD} {SCORE_PATH}")
    if request.method != ALLOWED_METHOD:
        raise ApiError(405, Reason.METHOD_NOT_ALLOWED, f"{SCORE_PATH} takes {ALLOWED_METHOD} only")
