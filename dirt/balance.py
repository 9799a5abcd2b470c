"""Choosing among the nodes that could take a task: the seed's two balancers.

* ``round_robin``: take the matching nodes with a free slot in turn.
* ``load``: like round robin, but skip nodes whose 1-minute load average is
  above ``margin`` × cpu_count (work from outside dirt counts too), and prefer
  the least loaded. Load is read from the node at most every ``wait`` seconds.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol, Sequence


class Candidate(Protocol):
    name: str
    slots: int
    busy: int


class RoundRobin:
    """Rotate through candidates, remembering who went last."""

    def __init__(self) -> None:
        self._turns = 0

    def choose(self, candidates: Sequence[Candidate]) -> Candidate | None:
        if not candidates:
            return None
        ordered = sorted(candidates, key=lambda c: c.name)
        self._turns += 1
        return ordered[self._turns % len(ordered)]


class LeastLoaded:
    """Prefer the least loaded node; skip nodes above ``margin`` of their cpus.

    ``read_load(name)`` returns the node's 1-minute load average (or None if
    it cannot be read); readings are cached for ``wait`` seconds.
    """

    def __init__(self, read_load: Callable[[str], float | None], margin: float = 0.9, wait: float = 20.0,
                 clock: Callable[[], float] = time.monotonic):
        self.read_load = read_load
        self.margin = margin
        self.wait = wait
        self.clock = clock
        self._cache: dict[str, tuple[float, float | None]] = {}

    def load(self, name: str) -> float | None:
        now = self.clock()
        cached = self._cache.get(name)
        if cached is None or now - cached[0] > self.wait:
            cached = (now, self.read_load(name))
            self._cache[name] = cached
        return cached[1]

    def choose(self, candidates: Sequence[Candidate]) -> Candidate | None:
        scored = []
        for c in candidates:
            load = self.load(c.name) or 0.0
            # Our own running tasks are part of the load average already; count
            # load from other work only against the margin.
            if load - c.busy <= self.margin * c.slots:
                scored.append((load / max(c.slots, 1) + c.busy / max(c.slots, 1), c.name, c))
        if not scored:
            return None
        return min(scored)[2]


def make_balancer(kind: str, read_load: Callable[[str], float | None],
                  margin: float = 0.9) -> RoundRobin | LeastLoaded:
    """The balancer a project's ``load_balancer`` setting names."""
    if kind == "load":
        return LeastLoaded(read_load, margin=margin)
    return RoundRobin()
