"""Placement: which waiting task goes to which node. Data in, decisions out.

:meth:`Placer.plan` takes waiting tasks in dispatch order and a snapshot of
the nodes (:class:`NodeView`: enabled, connected, what they are, how many
tasks they can take now) and decides, for each task, one of:

* a **claim** on a node with room, chosen by the balancer among the nodes
  that match (``platform``, ``requires``);
* a **wait**, with the reason shown to users ("no enabled node can run it:
  node1: architecture is 'x86_64'"), written only when it changes;
* an **error**: the task can never run as written (its document has a
  problem, or its module does not exist under tasks/, or its ``after`` can
  never be met), or it has waited longer than its ``wait_timeout`` for a
  node that can run it (so its record finishes instead of waiting for ever);
* a **skip**, for a task that runs after others (``after``) when one of them
  did not pass (:mod:`dirt.pipeline` decides, from what the server knows of
  the record; a task whose record is still being read is left for a later
  round). Waiting for those tasks is not waiting for a node: a task's
  ``wait_timeout`` counts from when they passed.

No I/O happens here except through ``problem_of`` (which checks a task's
module against the tasks/ directory); results are cached per task revision
and node set, so a long queue of tasks that cannot run costs little per round.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .errors import RequirementError
from .pipeline import ERROR, SKIPPED, UNKNOWN, Pipelines
from .requirements import mismatch
from .taskdoc import TaskDoc

NO_NODES = "no nodes yet: add one with `dirt updatenodes HOST`"


@dataclass
class NodeView:
    """What placement needs to know about one node right now."""

    name: str
    enabled: bool = True
    ready: bool = False              # connected and answering
    sys_info: dict = field(default_factory=dict)
    slots: int = 1
    busy: int = 0                    # tasks running there now, by any server
    room: int = 0                    # tasks this server may still claim for it now
    down_reason: str | None = None


@dataclass
class Round:
    """The decisions of one dispatch round."""

    claims: list[tuple[TaskDoc, str]] = field(default_factory=list)   # (task, node name)
    waits: list[tuple[TaskDoc, str]] = field(default_factory=list)    # (task, new reason)
    errors: list[tuple[TaskDoc, str]] = field(default_factory=list)   # (task, reason)
    skips: list[tuple[TaskDoc, str]] = field(default_factory=list)    # (task, reason): one it runs after did not pass
    turned_down: bool = False        # the balancer declined nodes that had room: look again soon
    next_deadline: float | None = None   # when the first task that cannot run reaches its wait_timeout

    def __bool__(self) -> bool:
        return bool(self.claims or self.waits or self.errors or self.skips)


class Placer:
    """Decides dispatch rounds; see the module docstring.

    ``balancer.choose(candidates)`` picks one of the matching nodes that have
    room (or None to decline them all); ``problem_of(task)`` says why a task
    can never run (None if it can). ``wait_timeout`` is how long a task
    that no node can run may wait (the setting; a task's own field wins;
    0: for ever), counted from the task's creation, rerun or last requeue,
    but not from before ``counting_from`` (when this server started): time
    when no dirt serve ran does not count, so a server started after a
    pause does not end at once what waited meanwhile.
    """

    def __init__(self, balancer, problem_of: Callable[[TaskDoc], str | None], wait_timeout: float = 0.0,
                 counting_from: float = 0.0):
        self.balancer = balancer
        self.problem_of = problem_of
        self.wait_timeout = wait_timeout
        self.counting_from = counting_from
        self._problems: dict[tuple[str, str], str | None] = {}
        self._matches: dict[tuple[str, str, int], tuple[list[str], str | None]] = {}

    def plan(self, tasks: Iterable[TaskDoc], nodes: Sequence[NodeView], nodes_version: int,
             fresh: set[str], now: float | None = None, pipelines: Pipelines | None = None) -> Round:
        """Decide for ``tasks`` (in dispatch order) on ``nodes``.

        ``nodes_version`` changes whenever any node does (it keys the cache).
        Once no node has room left, only the tasks in ``fresh`` (changed since
        the last round) are still looked at, for a reason or an error to write;
        the others wait, unchanged, for room. ``now`` (the time) lets tasks
        that waited too long end in error; without it none does.
        ``pipelines`` decides tasks that run after others; without it they
        are left waiting.
        """
        decided = Round()
        views = {n.name: n for n in nodes}
        room = sum(n.room for n in nodes if n.ready and n.enabled)
        ended: dict[str, str] = {}       # tasks this round errors or skips, for their followers
        for task in tasks:
            if room <= 0 and task.id not in fresh:
                continue
            problem = self.problem(task)
            if problem:
                decided.errors.append((task, problem))
                ended[task.id] = ERROR
                continue
            if task.after:
                verdict = pipelines.verdict(task, ended) if pipelines is not None else UNKNOWN
                if verdict.kind == "error":
                    decided.errors.append((task, verdict.reason))
                    ended[task.id] = ERROR
                    continue
                if verdict.kind == "skip":
                    decided.skips.append((task, verdict.reason))
                    ended[task.id] = SKIPPED
                    continue
                if verdict.kind == "wait" and task.reason != verdict.reason:
                    decided.waits.append((task, verdict.reason))
                if verdict.kind != "ready":
                    continue
            ready_since = verdict.since if task.after else 0.0
            names, why = self._candidates(task, views, nodes_version)
            if why:
                waited = self._waited_too_long(task, why, now, decided, ready_since)
                if waited:
                    decided.errors.append((task, waited))
                elif task.reason != why:
                    decided.waits.append((task, why))
                continue
            if room <= 0:
                continue
            ready = [views[n] for n in names if views[n].ready and views[n].room > 0]
            chosen = self.balancer.choose(ready) if ready else None
            if chosen is None:
                decided.turned_down = decided.turned_down or bool(ready)
                continue
            decided.claims.append((task, chosen.name))
            chosen.room -= 1
            chosen.busy += 1
            room -= 1
        return decided

    def _waited_too_long(self, task: TaskDoc, why: str, now: float | None, decided: Round,
                         ready_since: float = 0.0) -> str | None:
        """The error for a task that no node can run and that has waited past its
        wait_timeout (counted from ``ready_since`` for one that waited for the
        tasks it runs after); else None (noting in ``decided`` when it would time out)."""
        limit = task.wait_timeout if task.wait_timeout is not None else self.wait_timeout
        if now is None or not limit:
            return None
        since = max(task.waiting_since, self.counting_from, ready_since)
        deadline = since + limit
        if now < deadline:
            if decided.next_deadline is None or deadline < decided.next_deadline:
                decided.next_deadline = deadline
            return None
        return f"gave up after waiting {describe_seconds(now - since)} " \
               f"(wait_timeout {describe_seconds(limit)}): {why}"

    def problem(self, task: TaskDoc) -> str | None:
        """Why ``task`` can never run as written (cached per revision), or None."""
        key = (task.id, task.rev)
        if key not in self._problems:
            if len(self._problems) > 100_000:
                self._problems.clear()
            self._problems[key] = task.problem or self.problem_of(task)
        return self._problems[key]

    def _candidates(self, task: TaskDoc, views: dict[str, NodeView],
                    nodes_version: int) -> tuple[list[str], str | None]:
        """Names of enabled nodes that match, and if none can take it, why (cached)."""
        key = (task.id, task.rev, nodes_version)
        cached = self._matches.get(key)
        if cached is None:
            if len(self._matches) > 100_000:
                self._matches.clear()
            cached = self._matches[key] = self._match(task, views)
        return cached

    @staticmethod
    def _match(task: TaskDoc, views: dict[str, NodeView]) -> tuple[list[str], str | None]:
        if not views:
            return [], NO_NODES
        matching, reasons = [], []
        for name in sorted(views):
            node = views[name]
            if not node.enabled:
                reasons.append(f"{name} is disabled")
                continue
            try:
                why = mismatch(task.platform, task.requires, node.sys_info)
            except RequirementError as exc:
                return [], str(exc)
            if why:
                reasons.append(f"{name}: {why}")
                continue
            matching.append(name)
        if not matching:
            return [], "no enabled node can run it: " + "; ".join(reasons)
        if not any(views[n].ready for n in matching):
            downs = [f"{n} ({views[n].down_reason})" for n in matching if views[n].down_reason]
            if downs:
                return matching, "every matching node is down: " + "; ".join(downs)
        return matching, None


def describe_seconds(seconds: float) -> str:
    """``90`` -> "1 min 30 s", ``7200`` -> "2 h": a duration as people say it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{hours // 24} days" + (f" {hours % 24} h" if hours % 24 else "")
