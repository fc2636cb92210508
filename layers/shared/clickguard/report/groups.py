"""The report's behaviour groups (``model.groups``): each group of the training window with its size, the users
reviewers had blocked in it, its typical actions and transitions and the users flagged in it since; the flagged
users that fit no group, by their rarest action; and the campaign alerts (``consumer.campaign``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clickguard.consumer.buckets import KIND

TYPICAL = 3  # typical tokens and transitions shown per group


def behaviour_groups(model_groups: Mapping[str, Any] | None, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows for the report from the model's groups and the flag queue's messages (user flags carry ``group``,
    ``group_distance`` and ``emerging_group``; group flags have ``kind`` = ``behaviour_group``). Empty without
    groups."""
    if not model_groups or not model_groups.get("groups"):
        return {}
    user_flags = [m for m in messages if "kind" not in m and "user_key" in m]
    flagged: dict[str, set[str]] = {}
    emerging: dict[str, set[str]] = {}
    for f in user_flags:
        if f.get("emerging_group"):
            emerging.setdefault(f["emerging_group"], set()).add(f["user_key"])
        elif f.get("group"):
            flagged.setdefault(f["group"], set()).add(f["user_key"])
    rows = [
        {
            "id": g["id"],
            "users": g["users"],
            "blocked": g["blocked"],
            "flagged": len(flagged.get(g["id"], ())),
            "tokens": [f"{t} {share:.0%}" for t, share in g["typical_tokens"][:TYPICAL]],
            "transitions": [f"{a} -> {b} {share:.0%}" for a, b, share in g["typical_transitions"][:TYPICAL]],
        }
        for g in model_groups["groups"]
    ]
    alerts = sorted((m for m in messages if m.get("kind") == KIND), key=lambda m: (m["bucket_start"], m["signature"]))
    return {
        "limit": model_groups["limit"],
        "grouped_share": model_groups.get("stats", {}).get("grouped_share"),
        "groups": rows,
        "emerging": sorted(((sig, len(users)) for sig, users in emerging.items()), key=lambda x: (-x[1], x[0])),
        "alerts": [
            {
                "signature": a["signature"],
                "bucket_start": a["bucket_start"],
                "members": a["members"],
                "threshold": a["threshold"],
                "training_peak": a["training_peak"],
                "sample": ", ".join(a["sample_user_keys"][:5]),
            }
            for a in alerts
        ],
    }
