"""What people (and bots) do on a second-hand marketplace: the states and the behaviour of each user type.

Every behaviour is a Markov chain over the same states plus an absorbing ``END``. A state is an event type with
its outcome: ``login#fail`` is the failed ``login``. Weights are relative per row and normalised when built.
Real behaviour is not a clean chain, which is why each actor later gets its own noisy copy of its chain, benign
users sometimes do odd things, and abnormal actors are mixed with ordinary behaviour by a per-actor intensity.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

import numpy as np

from clickguard.events import FAIL_SUFFIX


class UserType(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    SCRAPER = "scraper"
    SPAMMER = "spammer"
    ACCOUNT_TAKEOVER = "account_takeover"
    CREDENTIAL_STUFFER = "credential_stuffer"

    @property
    def abnormal(self) -> bool:
        return self not in (UserType.BUYER, UserType.SELLER)


BENIGN_TYPES = (UserType.BUYER, UserType.SELLER)
# Labels from a user's own files may use other words for good users (compared without case or surrounding space):
# the words labelled data sets use for "not an abuser", including 0 / false / no (and N / F) of a yes-no column.
BENIGN_LABELS = frozenset(
    {*BENIGN_TYPES, "ordinary", "normal", "good", "cleared", "human", "benign", "legit", "legitimate", "genuine"}
    | {"clean", "negative", "none", "0", "false", "no", "n", "f"}
)
BENIGN_EXAMPLES = ("human", "normal", "benign", "0", "false", "no", "n")  # what a message names of them
# "not a bot", "non-fraud", "no_attack": an abuse word negated is a good user too.
_NEGATED = re.compile(
    r"(?:not?|non)[\s_-]?(?:an?[\s_-])?(?:bot|robot|fraud|fraudulent|abuser?|anomaly|anomalous|malicious|spam"
    r"|spammer|automated|attack|attacker|outlier|suspicious)"
)


def is_abnormal(label: str) -> bool:
    """A ground-truth label names an abuser: any simulator abuse type, or any label not known to be benign."""
    word = label.strip().lower()
    return word not in BENIGN_LABELS and _NEGATED.fullmatch(word) is None


def label_reading(labels: Iterable[str]) -> dict[str, list[str]]:
    """How a file's labels are read: which of its words count as benign and which as abusers (printed with every
    evaluation on a user's own labels, so a word read the wrong way shows)."""
    words = set(labels)
    return {
        "benign": sorted(w for w in words if not is_abnormal(w)),
        "abnormal": sorted(w for w in words if is_abnormal(w)),
    }


ABNORMAL_TYPES = tuple(t for t in UserType if t.abnormal)

EVENT_TYPES = (
    "app_open", "login", "home", "search", "filter", "view_item", "view_photos", "view_seller", "favorite",
    "chat_open", "send_message", "make_offer", "accept_offer", "checkout", "payment", "purchase_confirmed",
    "list_item", "upload_photo", "edit_item", "mark_sold", "ship_item", "rate_user", "notifications", "settings",
    "logout", "reset_password", "change_password", "change_email", "register_device", "add_payout_method",
    "withdraw_funds", "report_item",
)  # fmt: skip
# Which event types can fail in this app (a failure is a state of its own: the notebook's success/fail split).
FAILING = ("login", "payment", "send_message", "upload_photo", "withdraw_funds", "add_payout_method", "checkout")
END = "END"
STATES: tuple[str, ...] = (*EVENT_TYPES, *(e + FAIL_SUFFIX for e in FAILING), END)
INDEX = {s: i for i, s in enumerate(STATES)}
N_STATES = len(STATES)
END_INDEX = INDEX[END]
# The first-event distribution lives in a separate row (not a chain state): a session cannot return to it.
START_ROW = "START"

Edges = dict[str, dict[str, float]]

# Ordinary app use, shared by buyers and sellers; per-type boosts below tilt it.
_HUMAN: Edges = {
    START_ROW: {"app_open": 6, "home": 3, "login": 1.5, "notifications": 1, "search": 1, "chat_open": 1},
    "app_open": {"home": 6, "login": 1.2, "notifications": 1, "search": 1, "chat_open": 0.8, END: 0.3},
    "login": {"home": 6, "notifications": 1, "chat_open": 1, "register_device": 0.05, END: 0.1},
    "login#fail": {"login": 4, "login#fail": 1.2, "reset_password": 1, END: 0.8},
    "reset_password": {"login": 4, "change_password": 1, END: 1},
    "home": {
        "search": 5,
        "view_item": 3,
        "notifications": 1,
        "chat_open": 1.2,
        "list_item": 0.3,
        "settings": 0.2,
        END: 0.8,
    },
    "search": {"view_item": 6, "filter": 2, "search": 1.5, "home": 0.3, END: 0.5},
    "filter": {"view_item": 5, "search": 1, "filter": 0.8, END: 0.3},
    "view_item": {
        "view_item": 1.5,
        "view_photos": 2.5,
        "search": 3,
        "favorite": 0.8,
        "view_seller": 0.8,
        "chat_open": 0.8,
        "make_offer": 0.2,
        "home": 0.6,
        "report_item": 0.02,
        END: 1.1,
    },
    "view_photos": {"view_item": 2, "search": 1.5, "favorite": 0.7, "chat_open": 0.7, "view_seller": 0.4, END: 0.6},
    "view_seller": {"view_item": 3, "rate_user": 0.1, "chat_open": 0.6, "search": 0.8, END: 0.4},
    "favorite": {"view_item": 1.5, "search": 2, "chat_open": 0.5, END: 0.5},
    "chat_open": {"send_message": 5, "view_item": 1, "chat_open": 0.6, "home": 0.3, END: 0.7},
    "send_message": {
        "send_message": 2.5,
        "chat_open": 1.5,
        "make_offer": 0.3,
        "accept_offer": 0.15,
        "send_message#fail": 0.04,
        "view_item": 0.5,
        END: 1.2,
    },
    "send_message#fail": {"send_message": 3, "chat_open": 1, END: 0.5},
    "make_offer": {"send_message": 2, "chat_open": 1, "checkout": 0.3, END: 0.6},
    "accept_offer": {"send_message": 1.5, "checkout": 1, "ship_item": 0.3, END: 0.5},
    "checkout": {"payment": 6, "checkout#fail": 0.2, "view_item": 0.5, END: 0.4},
    "checkout#fail": {"checkout": 2, "view_item": 0.5, END: 1},
    "payment": {"purchase_confirmed": 8, "payment#fail": 0.3, END: 0.2},
    "payment#fail": {"payment": 3, "checkout": 0.5, END: 1},
    "purchase_confirmed": {"send_message": 1.5, "home": 1, "rate_user": 0.3, END: 1.5},
    "list_item": {"upload_photo": 6, "edit_item": 0.5, END: 0.3},
    "upload_photo": {"upload_photo": 3, "edit_item": 1.5, "home": 0.5, "upload_photo#fail": 0.1, END: 0.8},
    "upload_photo#fail": {"upload_photo": 3, END: 0.5},
    "edit_item": {"upload_photo": 1, "home": 1, "list_item": 0.3, "chat_open": 0.5, END: 1},
    "mark_sold": {"ship_item": 2, "chat_open": 1, "home": 0.5, END: 1},
    "ship_item": {"send_message": 1, "home": 1, "rate_user": 0.3, END: 1.2},
    "rate_user": {"home": 1, "chat_open": 0.5, END: 1.5},
    "notifications": {"chat_open": 3, "view_item": 1.5, "home": 1, END: 0.5},
    "settings": {
        "change_password": 0.15,
        "change_email": 0.05,
        "add_payout_method": 0.08,
        "home": 1.5,
        "logout": 0.3,
        END: 0.6,
    },
    "change_password": {"home": 1, "settings": 0.5, END: 1},
    "change_email": {"home": 1, "settings": 0.5, END: 1},
    "register_device": {"home": 3, "login": 0.5, END: 0.3},
    "add_payout_method": {"home": 1, "settings": 0.5, "add_payout_method#fail": 0.05, END: 1},
    "add_payout_method#fail": {"add_payout_method": 2, END: 1},
    "withdraw_funds": {"home": 1, "withdraw_funds#fail": 0.05, END: 1.5},
    "withdraw_funds#fail": {"withdraw_funds": 2, END: 1},
    "logout": {END: 1},
    "report_item": {"view_item": 1, "search": 1, END: 0.5},
}

# Multipliers on edges *into* a state: buyers search and pay, sellers list, ship and answer chats.
_BUYER_BOOST = {"search": 1.3, "view_item": 1.2, "favorite": 1.5, "checkout": 1.5, "make_offer": 1.4}
_SELLER_BOOST = {
    "list_item": 10,
    "upload_photo": 2.5,
    "edit_item": 3,
    "mark_sold": 1,
    "ship_item": 1,
    "send_message": 1.4,
    "withdraw_funds": 1,
    "accept_offer": 3,
    "search": 0.6,
}
_SELLER_EXTRA: Edges = {
    "home": {"mark_sold": 0.3, "withdraw_funds": 0.08},
    "chat_open": {"mark_sold": 0.2},
    "send_message": {"mark_sold": 0.2},
    "settings": {"withdraw_funds": 0.1},
}

# Scraping bot: walks listings and seller pages for hours, rarely stops.
_SCRAPER: Edges = {
    START_ROW: {"search": 3, "view_item": 2, "home": 1},
    "search": {"view_item": 6, "filter": 1, "search": 1, END: 0.03},
    "filter": {"view_item": 5, "search": 1},
    "view_item": {"view_item": 3, "view_photos": 1.5, "view_seller": 1.5, "search": 2, END: 0.02},
    "view_photos": {"view_item": 3, "search": 1},
    "view_seller": {"view_item": 4, "search": 0.5, END: 0.02},
    "home": {"search": 3, "view_item": 1},
}
# Spammer: opens chats on many listings and pastes the same message; the app rate-limits some of them.
_SPAMMER: Edges = {
    START_ROW: {"login": 3, "app_open": 1, "search": 1},
    "app_open": {"login": 2, "search": 1},
    "login": {"search": 2, "view_item": 1, "list_item": 0.2},
    "search": {"view_item": 4, "chat_open": 1},
    "view_item": {"chat_open": 5, "view_item": 0.5, "search": 0.5},
    "chat_open": {"send_message": 8, "send_message#fail": 1},
    "send_message": {
        "view_item": 3,
        "search": 1,
        "chat_open": 1.5,
        "send_message": 0.5,
        "send_message#fail": 0.4,
        END: 0.08,
    },
    "send_message#fail": {"send_message#fail": 1, "view_item": 2, "send_message": 1, END: 0.3},
    "list_item": {"upload_photo": 3},
    "upload_photo": {"search": 1, "view_item": 1},
}
# Account takeover: in from a new device, lock the owner out, add a payout method, cash out fast.
_TAKEOVER: Edges = {
    START_ROW: {"login#fail": 3, "login": 1.5, "reset_password": 1},
    "login#fail": {"login#fail": 1.5, "login": 2, "reset_password": 1},
    "reset_password": {"login": 3, "change_password": 1},
    "login": {"register_device": 4, "settings": 1.5, "change_password": 1},
    "register_device": {"settings": 2, "change_password": 2, "change_email": 1},
    "settings": {"change_password": 2, "change_email": 2, "add_payout_method": 2},
    "change_password": {"change_email": 3, "add_payout_method": 2, "settings": 1},
    "change_email": {"add_payout_method": 3, "settings": 1, "checkout": 0.5},
    "add_payout_method": {"withdraw_funds": 4, "add_payout_method#fail": 1, "checkout": 1.5, END: 0.3},
    "add_payout_method#fail": {"add_payout_method": 3, "settings": 1},
    "withdraw_funds": {"withdraw_funds": 1, "withdraw_funds#fail": 1.5, "checkout": 1, END: 1.5},
    "withdraw_funds#fail": {"withdraw_funds": 2, "add_payout_method": 1, END: 0.5},
    "checkout": {"payment": 3, "checkout#fail": 1},
    "checkout#fail": {"checkout": 2, "payment": 1, END: 0.5},
    "payment": {"purchase_confirmed": 2, "payment#fail": 1.5},
    "payment#fail": {"payment": 2, "checkout": 1, END: 0.8},
    "purchase_confirmed": {"checkout": 2, "withdraw_funds": 1, END: 1.5},
}
# Credential stuffing: a list of passwords against one account key; now and then one works.
_STUFFER: Edges = {
    START_ROW: {"login#fail": 8, "app_open": 1, "login": 0.2},
    "app_open": {"login#fail": 5, "login": 0.1},
    "login#fail": {"login#fail": 60, "login": 0.5, "reset_password": 0.3, END: 0.5},
    "reset_password": {"login#fail": 3, "login": 1},
    "login": {"home": 1, "settings": 1, "change_password": 0.5, "login#fail": 1, END: 1},
    "home": {"settings": 1, END: 2},
    "settings": {"change_password": 1, "change_email": 1, END: 1},
    "change_password": {END: 1, "login#fail": 0.5},
    "change_email": {END: 1},
}

BEHAVIOURS: dict[UserType, Edges] = {
    UserType.SCRAPER: _SCRAPER,
    UserType.SPAMMER: _SPAMMER,
    UserType.ACCOUNT_TAKEOVER: _TAKEOVER,
    UserType.CREDENTIAL_STUFFER: _STUFFER,
}


def _matrix(edges: Edges, boost: dict[str, float] | None = None, extra: Edges | None = None) -> np.ndarray:
    """Rows 0..N-1 are chain states, row N is the first-event distribution; END is absorbing."""
    m = np.zeros((N_STATES + 1, N_STATES))
    for source in (edges, extra or {}):
        for frm, row in source.items():
            r = N_STATES if frm == START_ROW else INDEX[frm]
            for to, w in row.items():
                m[r, INDEX[to]] += w * (boost or {}).get(to, 1.0)
    # A state a behaviour never defines still has to go somewhere: it ends the session.
    empty = m.sum(axis=1) == 0
    m[empty, END_INDEX] = 1.0
    m[END_INDEX] = 0.0
    m[END_INDEX, END_INDEX] = 1.0
    rows: np.ndarray = m / m.sum(axis=1, keepdims=True)
    return rows


def base_matrices() -> dict[UserType, np.ndarray]:
    """One ``(N+1) x N`` row-stochastic matrix per user type; abnormal ones are pure (not yet mixed)."""
    out = {
        UserType.BUYER: _matrix(_HUMAN, _BUYER_BOOST),
        UserType.SELLER: _matrix(_HUMAN, _SELLER_BOOST, _SELLER_EXTRA),
    }
    for kind, edges in BEHAVIOURS.items():
        out[kind] = _matrix(edges)
    return out


def split_state(state: str) -> tuple[str, str]:
    """``login#fail`` -> (``login``, ``fail``); ``login`` -> (``login``, ``success``)."""
    if state.endswith(FAIL_SUFFIX):
        return state[: -len(FAIL_SUFFIX)], "fail"
    return state, "success"
