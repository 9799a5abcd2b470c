"""Pipelines: tasks that run after others (a task's ``after``). Data in, decisions out.

A task document may say ``"after": ["build", "r1-lint"]``: each entry is a
task id of the same record, or a task name, meaning every task of that name
in the same record. The task runs once all of them have passed; if one ends
any other way (failed, error, cancelled, skipped) it is *skipped*, with the
reason ("build failed"). An ``after`` that can never be satisfied (a cycle, a
name or id no task of the record has, the id of another record's task) makes
it an ``error``, with the reason, as soon as it arrives.

:class:`Pipelines` is what a dirt server knows of the records that have such
tasks: for each, a :class:`Brief` (id, name, state, node, after, revision) of
every task. The waiting queue holds unfinished tasks only, so the finished
ones a follower waits for come from a view read once per record (by
:mod:`dirt.snapshot`, when the first follower of a record arrives or a
reference cannot be resolved), and every change the ``_changes`` feed brings
after that keeps the book current. A record leaves the book when it has no
unfinished follower any more, so the book follows the work in flight.

Nothing here does I/O: :meth:`Pipelines.wanted` says what to read, and
:meth:`Pipelines.loaded` takes what was read. :meth:`Pipelines.verdict` costs
a look at a task's own ``after`` entries (an index by name and id), so a
record of 200 tasks in a chain costs what 200 independent tasks cost; cycles
are found once per change of a record's shape (its tasks' names and
``after``), not per round.

The same briefs answer what a rerun needs (:func:`followers`,
:func:`blockers`, :func:`rerun_set`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from .documents import FINAL_STATES, TaskState
from .taskdoc import TaskDoc

PASSED = TaskState.PASSED.value
RUNNING = TaskState.RUNNING.value
ERROR = TaskState.ERROR.value
SKIPPED = TaskState.SKIPPED.value
SHOWN = 3                       # dependencies named in a reason; the rest are counted

# How a dependency that did not pass is described in a follower's reason.
_ENDED = {"failed": "failed", "error": "ended in error", "cancelled": "was cancelled", "skipped": "was skipped"}


@dataclass(frozen=True)
class Brief:
    """What the book keeps of one task: enough to decide its followers."""

    id: str
    record_id: str
    name: str | None = None
    state: str = TaskState.WAITING.value
    node: str | None = None
    after: tuple[str, ...] = ()
    rev: int = 0                 # the revision's generation: a newer one replaces an older
    completed: float | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def of(cls, task: TaskDoc) -> "Brief":
        return cls(task.id, task.record_id or "", task.name, task.state, task.node, task.after, task.rev_number,
                   task.completed)


@dataclass(frozen=True)
class Verdict:
    """What a follower should do now: ``kind`` is ready, wait, skip, error or unknown
    (its record is being read: decide nothing yet); ``reason`` says why. A ready
    one was ready ``since`` the last of what it runs after ended."""

    kind: str
    reason: str = ""
    since: float = 0.0


READY = Verdict("ready")
UNKNOWN = Verdict("unknown")
MISSING = ""                    # a checked reference that names nothing at all


@dataclass
class RecordTasks:
    """One record's tasks, by id and by name, with the shape's cycles cached.

    ``complete`` once every task of the record has been read from the
    database; before that, only what the feed brought is known.
    """

    record_id: str
    complete: bool = False
    tasks: dict[str, Brief] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)
    watchers: dict[str, set[str]] = field(default_factory=dict)    # an after entry -> tasks that have it
    open: set[str] = field(default_factory=set)                    # unfinished tasks that have an after
    shape: int = 0               # changes whenever a task comes, goes, or changes name or after
    version: int = 0             # changes whenever anything of a task changes
    _cycles: tuple[int, frozenset[str]] = (-1, frozenset())

    def put(self, brief: Brief) -> bool:
        """Take ``brief`` unless an as new or newer revision is known; True if taken."""
        known = self.tasks.get(brief.id)
        if known is not None and brief.rev <= known.rev:
            return False
        if known is not None:
            self._unindex(known)
        self.tasks[brief.id] = brief
        self._index(brief)
        self.version += 1
        if known is None or (known.name, known.after) != (brief.name, brief.after):
            self.shape += 1
        return True

    def drop(self, task_id: str) -> Brief | None:
        known = self.tasks.pop(task_id, None)
        if known is not None:
            self._unindex(known)
            self.shape += 1
            self.version += 1
        return known

    def _index(self, brief: Brief) -> None:
        if brief.name:
            self.by_name.setdefault(brief.name, set()).add(brief.id)
        for ref in brief.after:
            self.watchers.setdefault(ref, set()).add(brief.id)
        if brief.after and not brief.final:
            self.open.add(brief.id)

    def _unindex(self, brief: Brief) -> None:
        for key, index in ((brief.name, self.by_name), *((ref, self.watchers) for ref in brief.after)):
            ids = index.get(key) if key else None
            if ids is not None:
                ids.discard(brief.id)
                if not ids:
                    del index[key]
        self.open.discard(brief.id)

    def resolve(self, ref: str) -> list[str] | None:
        """The ids an ``after`` entry names: a task id of this record, else every
        task of that name; None if it names none of them."""
        if ref in self.tasks:
            return [ref]
        ids = self.by_name.get(ref)
        return sorted(ids) if ids else None

    def dependencies(self, brief: Brief) -> list[str]:
        """The ids ``brief`` runs after that this record has (unresolved entries left out)."""
        out: list[str] = []
        for ref in brief.after:
            for dep in self.resolve(ref) or ():
                if dep not in out:
                    out.append(dep)
        return out

    def dependents(self, brief: Brief) -> set[str]:
        """Ids of the tasks whose ``after`` names this task (by id or name)."""
        found = set(self.watchers.get(brief.id, ()))
        if brief.name:
            found |= self.watchers.get(brief.name, set())
        return found

    def label(self, task_id: str) -> str:
        """How a reason names a task: its name, with the id when several share the name."""
        brief = self.tasks.get(task_id)
        if brief is None or not brief.name:
            return task_id
        return brief.name if len(self.by_name.get(brief.name, ())) <= 1 else f"{brief.name} ({task_id})"

    def in_cycle(self) -> frozenset[str]:
        """Ids of tasks on a cycle of ``after`` (strongly connected), cached by shape."""
        if self._cycles[0] != self.shape:
            self._cycles = (self.shape, frozenset(_cyclic(self)))
        return self._cycles[1]

    def live_cycle(self, start: str) -> list[str] | None:
        """A cycle through ``start`` of unfinished tasks, each waiting on the next,
        as ids (``[start, ..., start]``), or None. Only looked for when ``start``
        is on a cycle of the shape, which is rare."""
        parents: dict[str, str] = {}
        frontier = [start]
        while frontier:
            here = frontier.pop()
            for dep in self.dependencies(self.tasks[here]):
                if self.tasks[dep].final:
                    continue
                if dep == start:
                    path = [here]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1] + [start]
                if dep not in parents:
                    parents[dep] = here
                    frontier.append(dep)
        return None

    def stages(self) -> dict[str, int]:
        """Each task's stage: 0 for one that runs after nothing of this record,
        else one more than the latest stage it runs after (cycles cut)."""
        depth: dict[str, int] = {}
        for root in sorted(self.tasks):
            if root in depth:
                continue
            path, on_path = [(root, iter(self.dependencies(self.tasks[root])))], {root}
            best: dict[str, int] = {root: 0}
            while path:
                here, deps = path[-1]
                for dep in deps:
                    if dep in depth:
                        best[here] = max(best[here], depth[dep] + 1)
                    elif dep not in on_path:
                        path.append((dep, iter(self.dependencies(self.tasks[dep]))))
                        on_path.add(dep)
                        best[dep] = 0
                        break
                else:
                    path.pop()
                    on_path.discard(here)
                    depth[here] = best[here]
                    if path:
                        parent = path[-1][0]
                        best[parent] = max(best[parent], depth[here] + 1)
        return depth


def _cyclic(record: RecordTasks) -> set[str]:
    """Tarjan's strongly connected components over the record's ``after`` edges
    (iterative, so a chain of thousands does not exhaust the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: set[str] = set()
    counter = 0
    edges = {tid: record.dependencies(b) for tid, b in record.tasks.items()}
    for root in record.tasks:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.update(component)
    return found


class Pipelines:
    """The book of records with followers; see the module docstring.

    Feed it every task document the server sees (:meth:`saw`, :meth:`forget`);
    each returns the ids of followers whose verdict may have changed, for the
    waiting queue to look at again.
    """

    def __init__(self) -> None:
        self.records: dict[str, RecordTasks] = {}
        self._record_of: dict[str, str] = {}            # task id -> record id, for tasks in the book
        self._to_check: dict[str, set[str]] = {}        # record id -> after entries it cannot resolve
        self._misses: dict[tuple[str, str], int] = {}   # (record, entry) -> reads that did not find it
        self._checked: dict[tuple[str, str], str] = {}  # (record, entry) -> the record of that id, or MISSING
        # task id -> ((rev, shape), deps, their revs, verdict, (rev, record version))
        self._verdicts: dict[str, tuple] = {}

    # -- what the feed brings ------------------------------------------------------------------
    def saw(self, task: TaskDoc) -> set[str]:
        """Take a task document (any state, in any order: older revisions are ignored)."""
        record_id = task.record_id
        if not record_id or not task.id:
            return set()
        old = self._record_of.get(task.id)
        if old is not None and old != record_id:        # moved to another record by hand
            return self.forget(task.id) | self.saw(task)
        record = self.records.get(record_id)
        if record is None:
            if not task.after or task.final or task.problem:
                return set()
            record = self.records[record_id] = RecordTasks(record_id)
        brief = Brief.of(task)
        if not record.put(brief):
            return set()
        self._record_of[task.id] = record_id
        touched = {i for i in record.dependents(brief) if i in record.open}
        if brief.id in record.open:
            touched.add(brief.id)
        self._prune(record)
        return touched

    def forget(self, task_id: str) -> set[str]:
        """A task document was deleted."""
        record_id = self._record_of.pop(task_id, None)
        record = self.records.get(record_id) if record_id else None
        if record is None:
            return set()
        brief = record.drop(task_id)
        self._verdicts.pop(task_id, None)
        touched = {i for i in record.dependents(brief) if i in record.open} if brief else set()
        self._prune(record)
        return touched

    def _prune(self, record: RecordTasks) -> None:
        """A record without unfinished followers leaves the book."""
        if record.open:
            return
        del self.records[record.record_id]
        for task_id in record.tasks:
            self._record_of.pop(task_id, None)
            self._verdicts.pop(task_id, None)
        self._to_check.pop(record.record_id, None)
        for book in (self._checked, self._misses):
            for key in [k for k in book if k[0] == record.record_id]:
                del book[key]

    # -- what is read for it -------------------------------------------------------------------
    def wanted(self) -> tuple[set[str], set[str]]:
        """(records to read every task of, ids to look up): what :meth:`loaded` wants next."""
        records = {r for r, rec in self.records.items() if not rec.complete} | set(self._to_check)
        return records, {ref for refs in self._to_check.values() for ref in refs}

    @property
    def busy(self) -> bool:
        """Something is to be read before every follower can be decided."""
        return bool(self._to_check) or any(not r.complete for r in self.records.values())

    def loaded(self, tasks: Mapping[str, Iterable[Brief]], found: Iterable[Brief] = ()) -> set[str]:
        """Take what was read: ``tasks`` holds every task of each record read (by
        record id; a record with none may be left out), ``found`` the tasks
        looked up by id. Returns the followers to look at again.

        An entry that names no task in two reads in a row names nothing (one
        read may miss a task being rewritten just then).
        """
        touched: set[str] = set()
        found = list(found)
        wanted, _ = self.wanted()
        for record_id in wanted:
            record = self.records.get(record_id)
            if record is None:
                continue
            for brief in list(tasks.get(record_id, ())) + [b for b in found if b.record_id == record_id]:
                if record.put(brief):
                    self._record_of[brief.id] = record_id
            record.complete = True
            for ref in self._to_check.pop(record_id, set()):
                if record.resolve(ref) is not None:
                    continue
                foreign = next((b.record_id for b in found if b.id == ref), None)
                misses = self._misses[(record_id, ref)] = self._misses.get((record_id, ref), 0) + 1
                if foreign:
                    self._checked[(record_id, ref)] = foreign
                elif misses >= 2:
                    self._checked[(record_id, ref)] = MISSING
                else:
                    self._to_check.setdefault(record_id, set()).add(ref)
            touched |= record.open
            self._prune(record)
        return touched

    # -- deciding ------------------------------------------------------------------------------
    def verdict(self, task: TaskDoc, decided: Mapping[str, str] | None = None) -> Verdict:
        """What the waiting ``task`` (which has an ``after``) should do now.

        ``decided`` holds states decided earlier in the same round (tasks
        skipped or errored just now), so a chain is skipped in one round.
        A verdict is kept until the task, the record's shape or one of the
        tasks it runs after changes, so a round costs a look per follower.
        """
        record = self.records.get(task.record_id or "")
        if record is not None and not decided:
            kept = self._verdicts.get(task.id)
            if kept is not None and kept[4] == (task.rev, record.version):
                return kept[3]                  # nothing of the record changed since
        return self._verdict(task, decided)

    def _verdict(self, task: TaskDoc, decided: Mapping[str, str] | None) -> Verdict:
        record_id = task.record_id or ""
        record = self.records.get(record_id)
        if record is None or task.id not in record.tasks:
            self.saw(task)
            record = self.records.get(record_id)
        if record is None or not record.complete:
            return UNKNOWN
        kept = self._verdicts.get(task.id)
        if kept is not None and kept[0] == (task.rev, record.shape):
            deps = kept[1]
        else:
            deps = self._dependencies(task, record)
            kept = None
        if isinstance(deps, Verdict):
            if deps is not UNKNOWN:
                self._verdicts[task.id] = ((task.rev, record.shape), deps, (), deps, (task.rev, record.version))
            return deps
        revs = tuple(record.tasks[d].rev for d in deps)
        fresh = not (decided and any(d in decided for d in deps))
        if kept is not None and kept[2] == revs and fresh:
            verdict = kept[3]
        else:
            verdict = self._decide(task, record, deps, decided or {})
        if fresh:
            self._verdicts[task.id] = ((task.rev, record.shape), deps, revs, verdict, (task.rev, record.version))
        return verdict

    def _dependencies(self, task: TaskDoc, record: RecordTasks) -> list[str] | Verdict:
        """The ids ``task`` runs after, or why it never can (an error), or UNKNOWN (to look up)."""
        record_id = record.record_id
        deps: list[str] = []
        for ref in task.after:
            ids = record.resolve(ref)
            if ids is None:
                checked = self._checked.get((record_id, ref))
                if checked is None:
                    self._to_check.setdefault(record_id, set()).add(ref)
                    return UNKNOWN
                if checked == MISSING:
                    return Verdict("error", f"after names {ref!r}, but record {record_id} has no task with that "
                                            "name or id (a task runs only after tasks of its own record, "
                                            "written before it or with it)")
                return Verdict("error", f"after names {ref!r}, a task of another record ({checked}); a task "
                                        f"runs only after tasks of its own record ({record_id})")
            if task.id in ids:
                return Verdict("error", f"after names {ref!r}, which is this task itself: a task cannot run "
                                        "after itself")
            deps.extend(i for i in ids if i not in deps)
        return deps

    @staticmethod
    def _decide(task: TaskDoc, record: RecordTasks, deps: list[str], decided: Mapping[str, str]) -> Verdict:
        if task.id in record.in_cycle():
            cycle = record.live_cycle(task.id)
            if cycle is not None:
                return Verdict("error", "after forms a cycle, so none of these can ever start: " +
                               " -> ".join(record.label(i) for i in cycle))
        states = {d: decided.get(d, record.tasks[d].state) for d in deps}
        bad = [d for d in deps if states[d] in FINAL_STATES and states[d] != PASSED]
        if bad:
            words = [f"{record.label(d)} {_ENDED.get(states[d], states[d])}" for d in bad[:SHOWN]]
            more = f" (and {len(bad) - SHOWN} more that did not pass)" if len(bad) > SHOWN else ""
            return Verdict("skip", "; ".join(words) + more)
        open_deps = [d for d in deps if states[d] not in FINAL_STATES]
        if not open_deps:
            return Verdict("ready", "", max((record.tasks[d].completed or 0.0 for d in deps), default=0.0))
        words = []
        for d in open_deps[:SHOWN]:
            node = record.tasks[d].node
            if states[d] == RUNNING:
                words.append(f"{record.label(d)} (running on {node})" if node else f"{record.label(d)} (running)")
            else:
                words.append(f"{record.label(d)} ({states[d]})")
        more = f" and {len(open_deps) - SHOWN} more" if len(open_deps) > SHOWN else ""
        return Verdict("wait", "waiting for " + ", ".join(words) + more)

    def dependency_ids(self, task: TaskDoc) -> list[str]:
        """The ids of the tasks ``task`` runs after, as the book resolves them now."""
        record = self.records.get(task.record_id or "")
        return record.dependencies(Brief.of(task)) if record is not None else []


# -- what a rerun needs -----------------------------------------------------------------------

def _record_of(briefs: Iterable[Brief]) -> RecordTasks:
    record = RecordTasks("")
    for brief in briefs:
        record.put(brief)
    return record


def followers(briefs: Iterable[Brief], task_id: str) -> list[str]:
    """Every task that runs after ``task_id``, directly or through others, each
    after the tasks it runs after (the order to rerun them in)."""
    return _reach(_record_of(briefs), task_id, RecordTasks.dependents, keep=lambda brief: True,
                  through=lambda brief: True)


def blockers(briefs: Iterable[Brief], task_id: str) -> list[str]:
    """Why a skipped task did not run, as what to rerun first: the tasks it runs
    after (directly or through skipped ones) that failed, ended in error or
    were cancelled, and the skipped ones between them and it, in run order."""
    return _reach(_record_of(briefs), task_id, RecordTasks.dependencies,
                  keep=lambda brief: brief.final and brief.state != PASSED,
                  through=lambda brief: brief.state == SKIPPED)


def _reach(record: RecordTasks, task_id: str, neighbours: Callable[[RecordTasks, Brief], Iterable[str]],
           keep: Callable[[Brief], bool], through: Callable[[Brief], bool]) -> list[str]:
    """The tasks reached from ``task_id`` along ``neighbours`` (its dependents or its
    dependencies): those ``keep`` takes, going on from those ``through`` lets through;
    in run order, ``task_id`` itself left out."""
    if task_id not in record.tasks:
        return []
    found: set[str] = set()
    frontier = [task_id]
    while frontier:
        for dep in neighbours(record, record.tasks[frontier.pop()]):
            brief = record.tasks.get(dep)
            if dep in found or dep == task_id or brief is None or not keep(brief):
                continue
            found.add(dep)
            if through(brief):
                frontier.append(dep)
    return _ordered(record, found)


def rerun_set(briefs: Iterable[Brief], chosen: Iterable[str], with_followers: bool = False) -> list[str]:
    """What to rerun when ``chosen`` are: those, what a chosen skipped task was
    skipped for (:func:`blockers`), and the tasks after the chosen ones that
    were skipped because of them; with ``with_followers`` every finished task
    after them. Only finished tasks are added (the others run anyway), in run order."""
    briefs = list(briefs)
    record = _record_of(briefs)
    chosen = [c for c in chosen if c in record.tasks]
    wanted = set(chosen)
    for task_id in chosen:
        if record.tasks[task_id].state == SKIPPED:
            wanted.update(blockers(briefs, task_id))
    for task_id in list(wanted):
        for follower in followers(briefs, task_id):
            brief = record.tasks[follower]
            if brief.final and (with_followers or brief.state == SKIPPED):
                wanted.add(follower)
    return _ordered(record, wanted)


def _ordered(record: RecordTasks, ids: set[str]) -> list[str]:
    """``ids`` with each after what it runs after (by stage; ties by id)."""
    stage = record.stages()
    return sorted(ids, key=lambda i: (stage.get(i, 0), i))
