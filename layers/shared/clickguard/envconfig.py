"""Reading a handler's environment at cold start: one place for "required", "a number", "one of".

Every error names the variable and what was wrong, so a bad deploy fails its first invocation with a message an
operator can act on instead of a KeyError deep inside a batch.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from clickguard.events import UserKeySource

N = TypeVar("N", int, float)
E = TypeVar("E", bound=enum.Enum)


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def number(env: Mapping[str, str], name: str, default: N, kind: type[N], minimum: N | None = None) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a valid {kind.__name__}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"environment variable {name}={value} must be >= {minimum}")
    return value


def choice(env: Mapping[str, str], name: str, enum_type: type[E], default: E) -> E:
    raw = env.get(name, "").strip() or default.value
    try:
        return enum_type(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be one of {[m.value for m in enum_type]}") from None


def user_key_source(env: Mapping[str, str], name: str) -> UserKeySource:
    return choice(env, name, UserKeySource, UserKeySource.SESSION_USER_ID)
