"""A consumer test model with behaviour groups, and traffic that fits none of them (a campaign)."""

from __future__ import annotations

from dataclasses import replace

from clickguard.model.group_fit import fit_groups
from clickguard.model.model import Model
from clickguard.model.scoring import EventBatch
from tests.consumer_support import T0, event_stream, make_model


def ordinary(n_users: int = 300, seed: int = 99) -> list[dict]:
    """``event_stream``'s ordinary kinds (0-2): browsing and odd event types, no failed logins, no floods."""
    return [e for e in event_stream(n_users=n_users, seed=seed) if int(e["user_id"][1:]) % 5 < 3]


def grouped_model(version: str = "v1") -> Model:
    """``make_model`` with the groups of ordinary traffic: a session of failed logins fits none of them."""
    model = make_model(version)
    events = ordinary()
    batch = EventBatch(
        [e["user_id"] for e in events],
        [e["event_type"] for e in events],
        [int(e["timestamp"] * 1000) for e in events],
        [None] * len(events),
    )
    return replace(model, groups=fit_groups(model, batch))


def campaign(n_users: int = 30, per_user: int = 10, start_s: float = T0 / 1000 + 60, prefix: str = "c") -> list[dict]:
    """New accounts that all do the same new thing within minutes: fail logins and reset passwords."""
    out = []
    for u in range(n_users):
        t = start_s + u * 3
        for k in range(per_user):
            etype, outcome = ("login", "fail") if k % 2 == 0 else ("reset_password", "success")
            out.append({"user_id": f"{prefix}{u}", "event_type": etype, "outcome": outcome, "timestamp": t + 2 * k})
    out.sort(key=lambda e: (e["timestamp"], e["user_id"]))
    return out
