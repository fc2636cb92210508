"""The thesis's two training sets, as one number per transition: how much more likely a transition is under a chain
counted over the users reviewers blocked than under the model's (good users') chain (seed 000 trained a matrix on
good users and kept blocked users as a second set).

``LLR[i, j] = S_good[i, j] - S_blocked[i, j]`` in bits (``S`` = surprisal, the model's own for ``S_good``; the blocked
chain smoothed as the model is, over the same vocabulary): positive when the step looks like the blocked users'.
A session's sum of it is the log-likelihood ratio "blocked vs good" of its path, streamed like the surprisal (whole
micro-bits per transition, ``scoring``), and the supervised part of detector v2 reads its total and mean per
transition. It exists only where labels do.

Stored small: the blocked chain's nonzero counts (a few hundred cells) and the smoothing; the dense table is rebuilt
at load against the model's surprisal (an unseen cell of row ``i`` has the same blocked surprisal as every other
unseen cell of that row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clickguard.model.transitions import smoothed_probabilities, surprisal_bits, to_microbits


@dataclass(frozen=True)
class BlockedChain:
    cells: np.ndarray  # (k, 3) int64: from state, to state, count over the blocked users' transitions
    n_states: int
    smoothing: float

    @classmethod
    def count(cls, prev: np.ndarray, cur: np.ndarray, n_states: int, smoothing: float) -> BlockedChain:
        """The chain of the transitions ``prev -> cur`` (state indices) of the blocked users' events."""
        keys, n = np.unique(np.asarray(prev, np.int64) * n_states + np.asarray(cur, np.int64), return_counts=True)
        cells = np.column_stack([keys // n_states, keys % n_states, n]).astype(np.int64)
        return cls(cells.reshape(-1, 3), n_states, smoothing)

    def counts(self) -> np.ndarray:
        dense = np.zeros((self.n_states, self.n_states), dtype=np.int64)
        if len(self.cells):
            dense[self.cells[:, 0], self.cells[:, 1]] = self.cells[:, 2]
        return dense

    def llr_bits(self, good_surprisal: np.ndarray) -> np.ndarray:
        """``LLR`` against the good chain's surprisal (bits, float64, same shape)."""
        blocked = surprisal_bits(smoothed_probabilities(self.counts(), self.smoothing))
        llr: np.ndarray = good_surprisal.astype(np.float64) - blocked
        return llr

    def llr_microbits(self, good_surprisal: np.ndarray) -> np.ndarray:
        """The table as the stream accumulates it: whole micro-bits (signed)."""
        return to_microbits(self.llr_bits(good_surprisal))

    def as_dict(self) -> dict[str, Any]:
        return {"cells": self.cells.tolist(), "n_states": self.n_states, "smoothing": self.smoothing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlockedChain:
        cells = np.asarray(data["cells"], dtype=np.int64).reshape(-1, 3)
        n = int(data["n_states"])
        if len(cells) and (cells[:, :2].min() < 0 or cells[:, :2].max() >= n or cells[:, 2].min() < 1):
            raise ValueError("the blocked chain's cells are outside its states or not positive counts")
        return cls(cells, n, float(data["smoothing"]))
