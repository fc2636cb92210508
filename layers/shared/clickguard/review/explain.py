"""A flag, explained for a reviewer in a terminal: who, why, how strong, which transitions, which signals.

Works on any flag message: schema 1 (reasons, bits and their thresholds, the most surprising transitions) and
schema 2 (detector v2: score and threshold, the Markov bits, and ``signals``: ``{name, value, typical, bits}``, each
a measure of the session beside its typical value and the surprise it added, printed strongest first). A field
that is missing or of the wrong type is left out, never an error. Every string from the message is printed with its
control characters escaped, so a hostile user key cannot move the cursor or recolour the reviewer's terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from clickguard.review.strength import flag_strength

MAX_SIGNALS = 8
# Control characters, and the bidirectional marks and overrides that reorder what a terminal shows after them (an id
# "abc\u202egnp.exe" shows as "abcexe.png"): a reviewer reads the id as it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# Message kinds other than a session flag (``consumer.buckets.KIND``, ``network.flags.RULE``; a test holds them equal).
GROUP_KIND = "behaviour_group"
PURCHASE_KIND = "network_purchase"


def clean(value: object, limit: int = 200) -> str:
    """Printable: control characters as ``\\xNN``, bidirectional ones as ``\\uNNNN``, cut to ``limit``
    characters."""
    text = _CONTROL.sub(_escaped, str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def explain(flag: Mapping[str, Any] | None, raw: str = "") -> list[str]:
    """The lines a reviewer reads about one flag."""
    if flag is None:
        return [f"(not a JSON object: {clean(raw, 60)})"]
    if flag.get("kind") == GROUP_KIND:
        return _campaign(flag)
    if flag.get("kind") == PURCHASE_KIND:
        return [_headline(flag), _why(flag), _purchase(flag)]
    lines = [_headline(flag)]
    lines += [line for line in (_why(flag), _bits(flag)) if line]
    lines += _transitions(flag)
    lines += _signals(flag)
    return lines


def _campaign(flag: Mapping[str, Any]) -> list[str]:
    """A campaign alert names a group of users, not one: information (each member's own flags are decided)."""
    sample = flag.get("sample_user_keys")
    users = ", ".join(clean(u) for u in sample[:5]) if isinstance(sample, list) else "?"
    return [
        f"campaign alert {clean(flag.get('flag_id', '?'))}: {clean(flag.get('members', '?'))} users whose sessions "
        f"fit no behaviour group, rarest action {clean(flag.get('signature', '?'))}, "
        f"from {clean(flag.get('bucket_start', '?'))}",
        f"  e.g. {users} (information only: decide each member's own flags)",
    ]


def _purchase(flag: Mapping[str, Any]) -> str:
    """Seed 003's rule: the purchase against its network's baseline."""
    return (
        f"  purchase {clean(flag.get('amount', '?'))} above mean {clean(flag.get('mean', '?'))} + 3 sd "
        f"{clean(flag.get('sd', '?'))} of the last {clean(flag.get('baseline_purchases', '?'))} purchases of "
        f"{clean(flag.get('network_size', '?'))} users within degree {clean(flag.get('degree', '?'))}"
    )


def decidable(flag: Mapping[str, Any] | None) -> bool:
    """A message a reviewer can block or allow: a flag about one user (not a campaign alert, not garbage)."""
    return flag is not None and "flag_id" in flag and "user_key" in flag and flag.get("kind") != GROUP_KIND


def _headline(flag: Mapping[str, Any]) -> str:
    parts = [
        f"user {clean(flag.get('user_key', '?'))}",
        f"flag {clean(flag.get('flag_id', '?'))}",
        f"flagged at {clean(flag.get('flagged_at', '?'))}",
        f"model {clean(flag.get('model_version', '?'))}",
    ]
    return "  ".join(parts)


def _why(flag: Mapping[str, Any]) -> str:
    reasons = flag.get("reasons")
    text = ", ".join(clean(r) for r in reasons) if isinstance(reasons, list) else "?"
    strength = flag_strength(flag)
    how = f"  strength {strength:.2f} (1 = where the rule fires)" if strength is not None else ""
    return f"  reasons: {text}{how}"


def _bits(flag: Mapping[str, Any]) -> str:
    """The numbers behind the decision: v2's score and threshold, the Markov bits (v1: against their thresholds)."""
    raw = flag.get("thresholds")
    thresholds: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    parts = []
    score, threshold = flag.get("score"), flag.get("threshold")
    if _is_number(score) and _is_number(threshold):
        parts.append(f"score {score:.2f} (threshold {threshold:.2f})")
    for field, label in (
        ("mean_bits", "mean bits per transition"),
        ("peak_mean_bits", "peak mean bits"),
        ("total_bits", "total bits"),
    ):
        value = flag.get(field)
        if _is_number(value):
            limit = thresholds.get(field)
            parts.append(f"{label} {value:.2f}" + (f" (threshold {limit:.2f})" if _is_number(limit) else ""))
    if _is_number(flag.get("transitions")):
        parts.append(f"transitions {int(flag['transitions'])}")
    return "  " + ";  ".join(parts) if parts else ""


def _transitions(flag: Mapping[str, Any]) -> list[str]:
    top = flag.get("top_transitions")
    if not isinstance(top, list):
        return []
    rows = []
    for t in top:
        if isinstance(t, Mapping) and _is_number(t.get("bits")):
            where = f" (transition {t['position']})" if _is_number(t.get("position")) else ""
            rows.append(f"    {clean(t.get('from', '?'))} -> {clean(t.get('to', '?'))}  {t['bits']:.1f} bits{where}")
    return ["  most surprising transitions:", *rows] if rows else []


def _signals(flag: Mapping[str, Any]) -> list[str]:
    signals = flag.get("signals")
    if not isinstance(signals, list):
        return []
    usable = [s for s in signals if isinstance(s, Mapping) and "name" in s]
    usable.sort(key=lambda s: -float(s["bits"]) if _is_number(s.get("bits")) else 0.0)
    rows = []
    for s in usable[:MAX_SIGNALS]:
        value, typical, bits = s.get("value"), s.get("typical"), s.get("bits")
        text = f"    {clean(s['name'], 40)}: {_fmt(value)}"
        if typical is not None:
            text += f" (typical {_fmt(typical)})"
        if _is_number(bits):
            text += f"  +{bits:.1f} bits"
        rows.append(text)
    return ["  signals:", *rows] if rows else []


def _fmt(value: object) -> str:
    if _is_number(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)
    return clean(value, 40)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
