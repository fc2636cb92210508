"""The rule's parameters (D, T), the friends cap and the event type names: validated once, from a file's first
line (the file mode) or from the consumer's environment at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from clickguard import settings
from clickguard.envconfig import ConfigError, number

RANGES = settings.NETWORK_PARAM_RANGES


@dataclass(frozen=True)
class EventTypes:
    """Event type names of the three kinds (the token of a successful event; a failed one is none of them)."""

    purchase: str = settings.DEFAULT_PURCHASE_EVENT_TYPE
    befriend: str = settings.DEFAULT_BEFRIEND_EVENT_TYPE
    unfriend: str = settings.DEFAULT_UNFRIEND_EVENT_TYPE

    def __post_init__(self) -> None:
        names = (self.purchase, self.befriend, self.unfriend)
        if not all(names) or len(set(names)) != 3:
            raise ValueError(f"the purchase, befriend and unfriend event types must be 3 distinct names, got {names}")


@dataclass(frozen=True)
class NetworkConfig:
    degree: int  # D >= 1: 1 = friends, 2 = friends and friends of friends, ...
    window: int  # T >= 2: the last T purchases of the network make the baseline
    # Friends kept per user (a befriend beyond it is refused for that side and counted); None = no cap (in memory).
    max_friends: int | None = None
    types: EventTypes = EventTypes()

    def __post_init__(self) -> None:
        # The rule's own minimums; the deployed consumer's ranges are checked by ``from_env``.
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"D (degree) must be an integer >= 1, got {self.degree!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 2:
            raise ValueError(f"T (purchases in the baseline) must be an integer >= 2, got {self.window!r}")
        if self.max_friends is not None and self.max_friends < 1:
            raise ValueError(f"max_friends must be >= 1, got {self.max_friends}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> NetworkConfig:
        """The deployed consumer's settings, each within ``settings.NETWORK_PARAM_RANGES`` (what a DynamoDB item and
        a Lambda batch can hold); a bad value raises ``ConfigError`` naming its variable."""

        def num(var: str, name: str, default: int) -> int:
            value = number(env, var, default, int)
            low, high = RANGES[name]
            if not low <= value <= high:
                raise ConfigError(f"environment variable {var}={value} must be in [{low}, {high}]")
            return value

        def name(var: str, default: str) -> str:
            return env.get(var, "").strip() or default

        try:
            types = EventTypes(
                name(settings.ENV_PURCHASE_EVENT_TYPE, settings.DEFAULT_PURCHASE_EVENT_TYPE),
                name(settings.ENV_BEFRIEND_EVENT_TYPE, settings.DEFAULT_BEFRIEND_EVENT_TYPE),
                name(settings.ENV_UNFRIEND_EVENT_TYPE, settings.DEFAULT_UNFRIEND_EVENT_TYPE),
            )
        except ValueError as exc:
            variables = (
                settings.ENV_PURCHASE_EVENT_TYPE,
                settings.ENV_BEFRIEND_EVENT_TYPE,
                settings.ENV_UNFRIEND_EVENT_TYPE,
            )
            raise ConfigError(f"{', '.join(variables)}: {exc}") from None
        return cls(
            degree=num(settings.ENV_NETWORK_DEGREE, "degree", settings.DEFAULT_NETWORK_DEGREE),
            window=num(settings.ENV_NETWORK_WINDOW, "window", settings.DEFAULT_NETWORK_WINDOW),
            max_friends=num(settings.ENV_NETWORK_MAX_FRIENDS, "max_friends", settings.DEFAULT_NETWORK_MAX_FRIENDS),
            types=types,
        )
