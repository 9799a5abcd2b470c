"""The waiting queue: unfinished tasks this server does not run itself.

It mirrors the database's unfinished tasks as the ``_changes`` feed reports
them: *waiting* ones, kept in dispatch order (higher priority, then older),
and ones *running elsewhere* (claimed by another server, or by
us before a restart), which count against their node's slots and are watched
for lost leases. Finished tasks leave it, so its size follows the work in
flight, never the history.

It remembers which waiting tasks changed since the last dispatch round
(:meth:`take_fresh`), so a round with no free slot looks only at those.
"""
from __future__ import annotations

import bisect
import zlib
from collections import Counter
from typing import Iterable, Iterator

from .taskdoc import TaskDoc


class WaitingQueue:
    """Unfinished tasks by id; see the module docstring."""

    def __init__(self, tiebreak: str = "") -> None:
        self._tiebreak = tiebreak.encode("utf-8")
        self._tasks: dict[str, TaskDoc] = {}
        self._order: list[tuple[tuple, str]] = []   # (sort key, id); entries go stale, skipped when read
        self._stale = 0
        self._fresh: set[str] = set()

    def _key(self, task: TaskDoc) -> tuple:
        """Dispatch order: priority, then age; tasks alike in both are taken in
        an order of this server's own (``tiebreak``), so servers sharing a
        database mostly reach for different tasks instead of racing for each."""
        return (-task.priority, task.created, zlib.crc32(self._tiebreak + task.id.encode("utf-8")), task.id)

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._tasks

    def get(self, task_id: str) -> TaskDoc | None:
        return self._tasks.get(task_id)

    def put(self, task: TaskDoc) -> bool:
        """Take a newer revision of an unfinished task; False if ``task`` is older than what we have."""
        known = self._tasks.get(task.id)
        if known is not None and task.rev_number < known.rev_number:
            return False
        self._tasks[task.id] = task
        if task.waiting:
            self._fresh.add(task.id)
            if known is None or not known.waiting or self._key(known) != self._key(task):
                if known is not None and known.waiting:
                    self._stale += 1
                bisect.insort(self._order, (self._key(task), task.id))
        elif known is not None and known.waiting:
            self._stale += 1
        self._compact()
        return True

    def remove(self, task_id: str) -> TaskDoc | None:
        """Forget a task (finished, deleted, or now run by us)."""
        task = self._tasks.pop(task_id, None)
        self._fresh.discard(task_id)
        if task is not None and task.waiting:
            self._stale += 1
            self._compact()
        return task

    def waiting(self, only: set[str] | None = None) -> Iterator[TaskDoc]:
        """Waiting tasks in dispatch order (only those in ``only``, if given)."""
        if only is not None and len(only) * 8 < len(self._order):
            chosen = [self._tasks[i] for i in only if i in self._tasks and self._tasks[i].waiting]
            yield from sorted(chosen, key=self._key)
            return
        for key, task_id in list(self._order):
            if only is not None and task_id not in only:
                continue
            task = self._tasks.get(task_id)
            if task is not None and task.waiting and self._key(task) == key:
                yield task

    def running_elsewhere(self) -> list[TaskDoc]:
        return [t for t in self._tasks.values() if t.running]

    def busy_elsewhere(self) -> Counter:
        """Tasks running elsewhere, by node name."""
        return Counter(t.node for t in self._tasks.values() if t.running and t.node)

    def count_waiting(self) -> int:
        return sum(1 for t in self._tasks.values() if t.waiting)

    def take_fresh(self) -> set[str]:
        """Ids of waiting tasks that changed since the last call."""
        fresh, self._fresh = self._fresh, set()
        return fresh

    def refresh(self, task_ids: Iterable[str]) -> None:
        """These tasks need a new look (one they run after changed)."""
        self._fresh.update(i for i in task_ids if i in self._tasks and self._tasks[i].waiting)

    def refresh_all(self) -> None:
        """Every waiting task needs a new look (a node changed)."""
        self._fresh.update(t.id for t in self._tasks.values() if t.waiting)

    def _compact(self) -> None:
        if self._stale > 1000 and self._stale > len(self._order) // 2:
            self._order = sorted((self._key(t), t.id) for t in self._tasks.values() if t.waiting)
            self._stale = 0
