"""Factorizing a column of strings into integer codes: the one Python pass over a column that every vectorised step
needs, so that everything per distinct value (a token's state, its failure flag, its mask bit) is computed once per
distinct value and looked up with numpy.

Training factorizes the same window's columns several times (fits, refits, calibration); the last few results are
kept, keyed by the column object itself (held, so its id cannot be reused while cached).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

_CACHE_SIZE = 8
_cache: OrderedDict[int, tuple[Sequence[Any], np.ndarray, list[Any]]] = OrderedDict()


def factorize(values: Sequence[Hashable]) -> tuple[np.ndarray, list[Any]]:
    """A code per value (in order of first appearance) and the distinct values. Do not mutate a list after passing
    it: the result is cached by the list's identity."""
    key = id(values)
    hit = _cache.get(key)
    if hit is not None and hit[0] is values and len(hit[1]) == len(values):
        _cache.move_to_end(key)
        return hit[1], hit[2]
    distinct = list(dict.fromkeys(values))  # every step a C loop: about a fifth faster than one setdefault pass
    index = dict(zip(distinct, range(len(distinct)), strict=True))
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    if isinstance(values, list | tuple):  # cache only what cannot be a fresh view of something mutable
        _cache[key] = (values, codes, distinct)
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return codes, distinct


def factorize_optional(values: Sequence[Hashable | None]) -> tuple[np.ndarray, list[Any]]:
    """``factorize`` for a column where None means "absent": absent is code -1, the values are 0..n-1."""
    codes, distinct = factorize(values)
    if None in distinct:
        none = distinct.index(None)
        codes = np.where(codes == none, -1, codes - (codes > none))
        distinct = [d for d in distinct if d is not None]
    return codes, distinct
