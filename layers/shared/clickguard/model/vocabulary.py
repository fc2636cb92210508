"""Token vocabulary: frequency-ranked states with two reserved ones, ``START`` and ``OTHER``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

START = "START"  # a session begins: row START of the matrix is the start distribution
OTHER = "OTHER"  # rare or unseen token types share one state
START_INDEX = 0
OTHER_INDEX = 1
RESERVED = (START, OTHER)


def build_vocabulary(token_counts: Counter[str] | dict[str, int], max_states: int, min_count: int) -> tuple[str, ...]:
    """Rank tokens by frequency (ties by name, so training is deterministic) and cap at ``max_states`` in total."""
    if max_states < len(RESERVED) + 1:
        raise ValueError(f"max_states must be at least {len(RESERVED) + 1}, got {max_states}")
    ranked = sorted(
        ((tok, n) for tok, n in token_counts.items() if n >= min_count and tok not in RESERVED),
        key=lambda item: (-item[1], item[0]),
    )
    return RESERVED + tuple(tok for tok, _ in ranked[: max_states - len(RESERVED)])


def index_of(tokens: Sequence[str]) -> dict[str, int]:
    return {tok: i for i, tok in enumerate(tokens)}


def encode(tokens: Iterable[str], index: dict[str, int]) -> np.ndarray:
    """Map token strings to state indices; anything outside the vocabulary becomes ``OTHER``."""
    get = index.get
    return np.fromiter((get(t, OTHER_INDEX) for t in tokens), dtype=np.int32)
