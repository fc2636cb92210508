"""The degree-D network (a breadth-first walk, one batched read per level) and its last T purchases (a heap merge).

Cost per purchase, for a typical degree k: the walk reads the friends items of the users at distances 0..D-1
(1 + k + ... + k**(D-1)) and the purchases items of the members at distances 1..D (about k + ... + k**D); the merge
takes O(m log m) to find the lists that can contribute among m members with purchases (at most T of them) and
O(T log T) to merge those. A naive rule that re-reads the network's whole purchase history costs its total length.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from itertools import islice

from clickguard.network.state import Purchase

FriendsOf = Callable[[Sequence[str]], Sequence[AbstractSet[str]]]  # each user's friends, in the order asked


def network_of(buyer: str, degree: int, friends_of: FriendsOf) -> list[str]:
    """Users within ``degree`` friendships of ``buyer``, the buyer excluded, nearest first.

    ``friends_of`` is called once per level with that level's users (a batched read); the last level's friends
    are never read."""
    seen = {buyer}
    frontier = [buyer]
    members: list[str] = []
    for _ in range(degree):
        nxt = []
        for friends in friends_of(frontier):
            for friend in friends:
                if friend not in seen:
                    seen.add(friend)
                    nxt.append(friend)
        if not nxt:
            break
        members.extend(nxt)
        frontier = nxt
    return members


def last_purchases(lists: Iterable[Sequence[Purchase]], window: int) -> list[Purchase]:
    """The ``window`` latest purchases of the members, latest first; each list is sorted oldest first.

    Only a list whose newest purchase is among the ``window`` newest of all lists can contribute (``window`` other
    lists each hold a later purchase than all of its own), so at most ``window`` lists enter the heap merge."""
    nonempty = [p for p in lists if p]
    if len(nonempty) > window:
        cutoff = sorted([p[-1] for p in nonempty])[-window]
        nonempty = [p for p in nonempty if p[-1] >= cutoff]
    if len(nonempty) == 1:
        return list(islice(reversed(nonempty[0]), window))
    return list(islice(heapq.merge(*(reversed(p) for p in nonempty), reverse=True), window))
