"""Where a flat JSON event keeps each canonical field when it does not use the canonical name.

Three rounds, each only for a field the one before did not find, so that a record read before reads the same:

1. the canonical name, then each alias in ``ALIASES`` order, spelled as written;
2. the same names compared loosely (``loose``: case, spaces and ``_ - . $ @`` ignored), as spreadsheet headers, SQL
   exports and other languages' conventions spell them: ``UserID``, ``USER_ID``, ``User ID`` and ``user-id`` are
   ``userid``;
3. for the user, the action and the time, the first name (in the record's order) whose words say what it holds
   (``customer_ref``, ``playerId``, ``interaction_type``, ``page_title``, ``click_time``, ``eventTimestamp``,
   ``viewed_at``), never one whose words say it is something else (``user_agent``, ``user_email``, ``event_id``,
   ``referrer_url``, ``session_start_time``, ``response_time``).

In every round, a text that says "no value" is no value (``NO_VALUE``: ``null``, ``NA``, ``\\N``, ``-``, an empty
string, ...); in every round but the canonical name's, a value that cannot be the field is passed over too: an object
or a list; in round 3 also a value of the wrong JSON type, and a record under a user's name
gives its id (``{"user": {"id": 42, "email": ...}}`` is user 42, and nothing else of it is read). Under the canonical
name a value is taken as it is (an object there is ``bad_type``). For the time, ``events`` passes over a value that
does not read as one and tries the next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

# Round 1, tried in order when the canonical name is absent: camelCase clients, GA4's export (user_pseudo_id,
# event_name, event_timestamp in microseconds), e-commerce event dumps (event_time "2019-10-01 00:00:00 UTC",
# user_session), Logstash and Fluentd (@timestamp, time), Amplitude (time, insert_id), retail and web-analytics
# exports (visitorid, customer_id, client_id), web-server JSON logs (a request line or a URL as the action,
# time_local). Event ids only under names that are per event by definition: an id that were per user would drop
# every later event as a duplicate, so a bare "id" or "uuid" is never guessed.
ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": (
        "userId", "user_pseudo_id", "user", "userid", "user_key", "username", "user_name", "userName",
        "visitorid", "visitor_id", "visitorId", "partyId",  # Divolte's party: its visitor cookie
        "customer_id", "customerId", "client_id", "clientId", "account_id", "accountId", "member_id", "uid",
        "distinct_id", "domain_userid", "amplitude_id", "anonymous_id", "anonymousId",  # PostHog, Snowplow, Amplitude
    ),
    "event_type": (
        # A hit's action before its name: in the category / action / name scheme (Matomo, Universal Analytics) the
        # name is a free-text label (an e-mail, a video title) and the action what was done
        "event_name", "eventType", "event", "action", "event_action", "eventAction", "eventName", "activity",
        "page", "path", "url", "page_url", "request",  # a page view's page: read as the page it names (a path
        # before a URL: Segment's pages table holds both, and the URL's scheme and host would name it apart)
        "routeKey", "resourcePath",  # API Gateway's access log: the route an API request took
    ),
    "timestamp": (
        "event_time", "event_timestamp", "@timestamp", "time", "ts", "eventTime", "datetime", "date_time",
        "created_at", "createdAt", "occurred_at", "timestamp_ms", "time_local",
        "derived_tstamp", "collector_tstamp", "client_event_time",  # Snowplow's JSON; Amplitude's export
        "requestTimeEpoch", "requestTime",  # API Gateway's access log
    ),
    "session_id": (
        "sessionId", "user_session", "session", "session_key", "sessionid", "visit_id", "visitId", "domain_sessionid",
        "ga_session_id",  # GA4's export, its event_params flattened (UNNEST) into columns
    ),
    "event_id": ("eventId", "insert_id", "$insert_id", "messageId", "message_id", "event_uuid"),
}  # fmt: skip

# Where a record in another naming scheme keeps its outcome when it has no ``outcome``: the notebook's (seed 001) logs
# are (time, user, path, status) with status success or fail; APIs' and web servers' JSON logs carry an HTTP status.
OUTCOME_ALIASES = ("status", "result", "success", "status_code", "statusCode")

# What exports write for "no value": the text a null becomes in SQL dumps (NULL, MySQL's \N), R and pandas (NA, nan,
# None), JavaScript (null, undefined: a classic analytics bug sends the id as the text), C's printf ((null)) and web
# logs (-). Read as a value, each made every user without an id one user: a tester's Diginetica export, whose
# anonymous sessions say NA, gave one "user" of 3,820 events, flagged first, with every bot merged into it.
NO_VALUE = frozenset(
    {"", "-", "null", "NULL", "Null", "undefined", "None", "none", "NONE", "nil", "NA", "N/A", "n/a", "nan", "NaN",
     "NAN", "\\N", "(null)"}
)  # fmt: skip


def no_value(value: Any) -> bool:
    """Absent, or a text that says "no value" (``NO_VALUE``)."""
    return value is None or (type(value) is str and value in NO_VALUE)


_LOOSE_DROP = str.maketrans("", "", " _-.$@")


# A log's records repeat the same few dozen names: each name's reading is computed once (a web server's JSON log
# read every name's words and rules per record, 1 ms a record for Traefik's 35 fields).
_NAMES_CACHED = 4096


@lru_cache(maxsize=_NAMES_CACHED)
def loose(name: str) -> str:
    """A field name compared without case, spaces or ``_ - . $ @``."""
    return name.translate(_LOOSE_DROP).lower()


_LOOSE_ALIASES = {field: tuple(dict.fromkeys(map(loose, (field, *names)))) for field, names in ALIASES.items()}
_LOOSE_OUTCOMES = tuple(dict.fromkeys(map(loose, ("outcome", *OUTCOME_ALIASES))))


# Every name rounds 1 reads, of any field: a record whose keys are all among them has nothing for rounds 2 and 3.
_KNOWN = frozenset({"outcome", *OUTCOME_ALIASES, *(n for field, names in ALIASES.items() for n in (field, *names))})


def usable(value: Any) -> bool:
    """A value that can be a field of the event (the test of every round but the canonical name's)."""
    return value is not None and type(value) is not dict and type(value) is not list and value not in NO_VALUE


class RecordNames:
    """One record's fields by the three rounds. Built once per record, so that its other keys (those no alias
    names) are listed, spelled loosely and split into words once, and only when round 1 leaves a field unfound."""

    __slots__ = ("_loose", "_others", "_words", "obj")

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        self._others: list[str] | None = None
        self._loose: dict[str, str] = {}
        self._words: dict[str, tuple[str, ...]] = {}

    def named(self, field: str) -> Any:
        """The value of ``field`` (a canonical name), best first; None when the record holds none."""
        obj = self.obj
        value = obj.get(field)
        if not no_value(value):  # the canonical name's value as it is: an object there is bad_type, not skipped
            return value
        for alias in ALIASES[field]:
            value = obj.get(alias)
            if value is not None and type(value) is not dict and type(value) is not list and value not in NO_VALUE:
                return value  # usable(value), inlined: this loop is every aliased record's
        return next(self._other_values(field), None) if self._other_keys() or field in _NESTED else None

    def values(self, field: str) -> Iterator[Any]:
        """Every value the rounds find for ``field``, best first (the time's readers go on until one parses)."""
        obj = self.obj
        if not no_value(obj.get(field)):
            yield obj[field]
        for alias in ALIASES[field]:
            value = obj.get(alias)
            if value is not None and usable(value):
                yield value
        yield from self._other_values(field)

    def by_name(self, field: str) -> bool:
        """``field`` is under its canonical name or an alias (rounds 1 and 2), not only a name's words (round 3)."""
        obj = self.obj
        if not no_value(obj.get(field)) or any(usable(obj.get(alias)) for alias in ALIASES[field]):
            return True
        self._other_keys()
        return any((key := self._loose.get(name)) is not None and usable(obj[key]) for name in _LOOSE_ALIASES[field])

    def other_outcome_values(self) -> Iterator[Any]:
        """Values under the outcome's aliases spelled loosely (``Status``, ``STATUS_CODE``, and ``Outcome``: in
        another scheme's spelling it is read as an alias is); those spelled as written are ``OUTCOME_ALIASES``."""
        if self._other_keys():
            for name in _LOOSE_OUTCOMES:
                if (key := self._loose.get(name)) is not None:
                    yield self.obj[key]

    def date(self) -> str | None:
        """The text of the first field named for a date (``date``, ``event_date``, ``Day``), for a time of day
        that another field holds alone."""
        obj = self.obj
        return next(
            (v for key, v in obj.items() if type(v) is str and (ws := words(key)) and _says_date(ws)),
            None,
        )

    def _other_values(self, field: str) -> Iterator[Any]:
        """Rounds 2 and 3, over the keys no alias names (and, for the user, any key holding a record)."""
        others = self._other_keys()
        obj = self.obj
        for name in _LOOSE_ALIASES[field]:
            if (key := self._loose.get(name)) is not None and usable(obj[key]):
                yield obj[key]
        rule = _WORD_RULES.get(field)
        if rule is None:
            return
        nested = [k for k in obj if k in _KNOWN and type(obj[k]) is dict] if rule.nested else []
        last = []  # read after every other: a counter of digits, an e-mail
        for key in (*others[:_WORDED_KEYS], *nested):
            value = obj[key]
            if (ws := self._words.get(key) or words(key)) and rule.says(ws):
                if type(value) is dict and rule.nested:
                    value = _nested_id(value)  # a user record: {"user": {"id": 42, "email": ...}} is user 42
                elif type(value) not in rule.types:
                    continue
                elif not rule.numbers and type(value) is str and value.isdigit():
                    last.append(value)  # after every name that holds words: a counter, or a page's number
                    continue
                elif rule.nested and type(value) is str and "@" in value:
                    last.append(value)  # an e-mail, after any other id the record offers: personal data as a key
                    continue
                if usable(value):
                    yield value
        yield from last

    def _other_keys(self) -> list[str]:
        if self._others is None:
            obj = self.obj
            if _KNOWN.issuperset(obj):
                self._others = []
            else:  # a log's records name the same keys in the same order: read once per key set
                self._others, self._loose, self._words = _other_names(tuple(obj))
        return self._others


# Keys whose words round 3 reads, in the record's order: an event's own fields come first and are far fewer (Snowplow's
# JSON has 131 in all); a record of thousands of keys cost about 10 us a key (a tester's 4,000 took 37 ms), the
# price of a batch of them a denial of service.
_WORDED_KEYS = 256


@lru_cache(maxsize=256)
def _other_names(keys: tuple[Any, ...]) -> tuple[list[str], dict[str, str], dict[str, tuple[str, ...]]]:
    """The keys no alias names, their loose spellings (``loose_keys``) and their words; shared, never changed."""
    others = [k for k in keys if k not in _KNOWN]  # JSON: str keys
    worded = {key: words(key) for key in others[:_WORDED_KEYS] if isinstance(key, str)}
    return others, loose_keys(others), worded


def loose_keys(keys: Iterable[Any]) -> dict[str, str]:
    """Loose name (``loose``) -> the key it spells; the first key of a loose name wins (non-text keys are skipped)."""
    out: dict[str, str] = {}
    for key in keys:
        if isinstance(key, str):
            out.setdefault(loose(key), key)
    return out


def named(obj: Mapping[str, Any], field: str) -> Any:
    return RecordNames(obj).named(field)


def has(obj: Mapping[str, Any], field: str) -> bool:
    return RecordNames(obj).named(field) is not None


_NESTED_IDS = ("id", "user_id", "userId", "uid", "uuid", "key")


def _nested_id(record: Mapping[str, Any]) -> Any:
    """The id of a nested record (nothing else of it is read: its e-mail, name or address stay where they are)."""
    return next((v for name in _NESTED_IDS if type(v := record.get(name)) is str or type(v) is int), None)


# -- round 3: names by their words ---------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@lru_cache(maxsize=_NAMES_CACHED)
def words(name: str) -> tuple[str, ...]:
    """A field name's words, lower-case: ``eventTimestamp``, ``event_timestamp`` and ``EVENT TIMESTAMP`` are
    (event, timestamp); ``userID`` is (user, id)."""
    return tuple(w.lower() for w in _WORD.findall(name))


def _vocabulary(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Whose it is when it is not the acting user's, or what it is instead of an identity (personal data included).
# ``remote``: a web server's authenticated user (nginx's and Apache's ``remote_user``), a login and personal data,
# never the client an access log is keyed by.
_NOT_THE_USER = _vocabulary(
    "agent ip address email mail phone name type token password secret session event device age segment remote"
    " group count is has referrer referer referring friend parent target recipient receiver sender seller"
    " merchant owner invited inviter invitee other previous prev next new old"
)
# Which of the user's ids, between a user's word and an id word (fake-web-events' ``user_domain_id``): never what the
# user belongs to or holds (``player_guild_id``, ``user_role_id``, ``user_cart_id``), the user's id for none of them.
_KINDS_OF_ID = _vocabulary(
    "domain custom unique internal external global public hashed anon anonymous pseudo pseudonymous canonical primary"
)
# Not ``account`` (an AWS event's ``account`` is the AWS account), ``client`` (an app's platform name) or ``profile``:
# as bare words they name other things too often; ``account_id`` and ``client_id`` are aliases above.
_USERS = _vocabulary(
    "user visitor customer cust member player actor subscriber shopper buyer viewer guest consumer"
    " patron learner student"
)
_USER_TAILS = _vocabulary("id key uuid guid identifier ident no num number ref code hash handle")

# Another page than this one (where the visitor came from, an image's), or something other than the action.
_NOT_THE_ACTION = _vocabulary(
    "referrer referer ref referring previous prev from landing entry exit image img avatar icon thumbnail"
    " photo callback redirect origin source src count time timestamp date session duration is has"
)
_ACTIONS = _vocabulary(
    "event action activity interaction hit operation op click behavior behaviour step page screen view"
    " url uri path route endpoint"
)
_ACTION_TAILS = _vocabulary("type name kind category action label code title url uri path")
_PAGES, _PAGE_TAILS = frozenset(("page", "screen", "view")), frozenset(("id", "key"))  # page_id, but never event_id

# Durations, zones, and the times of something other than this event (a session's start, an expiry, a birthday).
_NOT_THE_TIME = _vocabulary(
    "duration elapsed spent response load latency run up down life dwell wait processing process render"
    " ttl expires expire expiry expiration expired timeout zone tz offset delta diff total avg mean max"
    " min session start end first last birth dob birthday signup registration registered updated modified"
    " deleted valid until is has"
)
_TIME_UNITS = _vocabulary("ms millis us micros ns nanos s sec secs seconds utc gmt iso unix")
_TIMES = _vocabulary("timestamp tstamp time datetime ts epoch")


@lru_cache(maxsize=_NAMES_CACHED)
def _says_user(name_words: tuple[str, ...]) -> bool:
    ws = _head_tail(name_words, _USERS, _USER_TAILS)
    last, before = ws[-1], ws[-2] if len(ws) > 1 else ""
    # user_id, customer_ref; and fake-web-events' user_custom_id, user_domain_id: the user's word first
    return _NOT_THE_USER.isdisjoint(ws) and (
        last in _USERS
        or (last in _USER_TAILS and (before in _USERS or (len(ws) == 3 and ws[0] in _USERS and before in _KINDS_OF_ID)))
    )


@lru_cache(maxsize=_NAMES_CACHED)
def _says_action(name_words: tuple[str, ...]) -> bool:
    ws = _head_tail(name_words, _ACTIONS, _ACTION_TAILS | _PAGE_TAILS)
    if not _NOT_THE_ACTION.isdisjoint(ws):
        return False
    last, before = ws[-1], ws[-2] if len(ws) > 1 else ""
    if ws == ("type",):  # a bare type: what generators' events are most often named by, last of all
        return True
    return (
        last in _ACTIONS or (last in _ACTION_TAILS and before in _ACTIONS) or (last in _PAGE_TAILS and before in _PAGES)
    )


@lru_cache(maxsize=_NAMES_CACHED)
def _says_time(name_words: tuple[str, ...]) -> bool:
    ws = _ends_in(name_words, _TIMES)
    while len(ws) > 1 and (ws[-1] in _TIME_UNITS or ws[-1].isdigit()):  # ts_ms, time_iso8601: the unit after it
        ws = ws[:-1]
    return _NOT_THE_TIME.isdisjoint(ws) and (ws[-1] in _TIMES or (len(ws) > 1 and ws[-1] == "at"))


@lru_cache(maxsize=_NAMES_CACHED)
def _says_date(name_words: tuple[str, ...]) -> bool:
    return name_words[-1] in ("date", "day") and _NOT_THE_TIME.isdisjoint(name_words)


def _head_tail(ws: tuple[str, ...], heads: frozenset[str], tails: frozenset[str]) -> tuple[str, ...]:
    """``ws`` with a last word written as a head and a tail in one (``customerid``, ``eventtype``) split in two."""
    last = ws[-1]
    if last not in heads and last not in tails:
        for tail in sorted(tails, key=len, reverse=True):  # the longest first: the same split on every run
            if last.endswith(tail) and last[: -len(tail)] in heads:
                return (*ws[:-1], last[: -len(tail)], tail)
    return ws


def _ends_in(ws: tuple[str, ...], heads: frozenset[str]) -> tuple[str, ...]:
    """``ws`` with a last word that ends in a head of four letters or more (``eventtimestamp``, ``viewtime``) split."""
    last = ws[-1]
    if last not in heads:
        for head in sorted(heads, key=len, reverse=True):
            if len(head) >= 4 and len(last) > len(head) and last.endswith(head):
                return (*ws[:-1], last[: -len(head)], head)
    return ws


class _WordRule(NamedTuple):
    says: Callable[[tuple[str, ...]], bool]
    types: tuple[type, ...]
    nested: bool = False  # a record under the name (``user``: {...}) gives its id
    numbers: bool = True  # a text of digits is the field as soon as any (an id); else only when no word is


_WORD_RULES = {
    "user_id": _WordRule(_says_user, (str, int), nested=True),
    # A counter under an action word (Trivago's ``step`` 1, 2, 3 before its ``action_type``) is read after every
    # name that holds words: read first, every session was the same walk of numbers. Alone (a ``page_id`` of
    # numbers), it is still the action.
    "event_type": _WordRule(_says_action, (str,), numbers=False),
    "timestamp": _WordRule(_says_time, (str, int, float)),
}
_NESTED = frozenset(field for field, rule in _WORD_RULES.items() if rule.nested)
