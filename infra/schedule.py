"""EventBridge's cron grammar, checked at synth: a Unix-style ``cron(0 3 * * *)`` synthesized and deployed, and only
CloudFormation's rule creation refused it, minutes into a deploy.

EventBridge's cron takes six fields, ``minutes hours day-of-month month day-of-week year``; one of day-of-month and
day-of-week is ``?`` (a value or ``*`` in one needs ``?`` in the other). Each field is a comma-separated list of
``*``, a value or a range ``a-b``, optionally stepped ``/n``; day-of-month also takes ``L``, ``LW`` and ``nW``,
day-of-week ``nL`` and ``n#k`` (the k-th weekday n of the month).
"""

from __future__ import annotations

import re

FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
_RANGES = {
    "minutes": (0, 59),
    "hours": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (1, 7),
    "year": (1970, 2199),
}
_NAMES = {
    "month": ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    "day-of-week": ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
}
_ITEM = re.compile(r"(\*|(\w+)(?:-(\w+))?)(?:/(\d+))?")
_SPECIAL = {  # each names the value it holds, if any, ``v``
    "day-of-month": re.compile(r"L|LW|(?P<v>\d{1,2})W"),
    "day-of-week": re.compile(r"(?P<v>\w+)(?:L|#[1-5])"),
}


def cron_problem(expression: str) -> str | None:
    """What is wrong with ``cron(...)`` for EventBridge, or None when it is well formed."""
    parts = expression[len("cron(") : -1].split()
    if len(parts) != len(FIELDS):
        return (
            f"has {len(parts)} fields; EventBridge's cron takes 6: {' '.join(FIELDS)} "
            "(Unix's 5-field `0 3 * * *` is `cron(0 3 * * ? *)` there)"
        )
    named = dict(zip(FIELDS, parts, strict=True))
    if (named["day-of-month"] == "?") == (named["day-of-week"] == "?"):
        return "needs `?` in exactly one of day-of-month and day-of-week (e.g. `cron(0 3 * * ? *)`)"
    for name, text in named.items():
        problem = _field_problem(name, text.upper())
        if problem:
            return f"{name} field {text!r}: {problem}"
    return None


def _field_problem(name: str, text: str) -> str | None:
    if text == "?":
        return None if name in ("day-of-month", "day-of-week") else "`?` is only for day-of-month or day-of-week"
    for item in text.split(","):
        special = _SPECIAL.get(name)
        match = special.fullmatch(item) if special else None
        if match:
            values = [match["v"]] if match["v"] else []
        else:
            match = _ITEM.fullmatch(item)
            if match is None:
                return f"{item!r} is not `*`, a value, a range `a-b` or a step `/n`"
            values = [v for v in match.group(2, 3) if v is not None]
        lo, hi = _RANGES[name]
        for value in values:
            number = _value(name, value)
            if number is None or not lo <= number <= hi:
                names = f" (or {_NAMES[name][0]}-{_NAMES[name][-1]})" if name in _NAMES else ""
                return f"{value!r} is outside {lo}-{hi}{names}"
    return None


def _value(name: str, value: str) -> int | None:
    if value.isdigit():
        return int(value)
    names = _NAMES.get(name, ())
    return names.index(value) + 1 if value in names else None
