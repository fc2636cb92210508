"""Does an allow-list entry silence a flag? The whole rule, in one place.

A reviewer allowed the user after a flag with some reasons and some strength. A later flag is suppressed while
the entry has not expired, unless

* it gives a reason the allowed flag did not (``{mean_bits}`` allowed, ``{mean_bits, total_bits}`` now: new
  evidence, as the consumer's cooldown lets a flag with stronger reasons through), or
* its strength passes the allowed one by the margin: ``strength > allowed strength * (1 + margin)``. With the
  default margin of 0.25 and the v1 rule, a user allowed at 1.2 times the mean-bits threshold is flagged again
  above 1.5 times it (``review.strength``).

Expiry is measured in event time (``now_ms`` is the time of the event the flag fires on), so a replayed batch
decides the same way against the same list.
"""

from __future__ import annotations

from collections.abc import Iterable

from clickguard.review.allowlist import AllowEntry


def suppressed(entry: AllowEntry | None, reasons: Iterable[str], strength: float, now_ms: int) -> bool:
    """True when the flag (its ``reasons`` and ``strength``, at event time ``now_ms``) must not go out."""
    if entry is None or now_ms >= entry.expires_at_ms:
        return False
    if not set(reasons) <= entry.reasons:
        return False
    return strength <= entry.limit
