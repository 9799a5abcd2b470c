"""Reading task documents: every field dirt uses, parsed once, at the edge.

A task document is JSON that a person, a script or a post-commit hook wrote,
possibly by hand and possibly into a database no ``validate_doc_update`` guards
yet. :func:`parse_task` turns one into a :class:`TaskDoc`, a typed value the
rest of dirt reads instead of the raw document:

* a user's field that is wrong (``"max_attempts": {}``) makes :attr:`TaskDoc.problem`,
  a reason a person can act on; a waiting task with a problem ends in ``error``
  with it, and never reaches a node;
* dirt's own fields (``state``, ``lease``, ``attempts``, ``attempt``, ``node``,
  ``started``, ``completed``, ``results``) that hold junk (hand-edited, copied
  from elsewhere) are read as absent, each with an entry in
  :attr:`TaskDoc.warnings` for the log.

Parsing never raises, whatever the JSON. The rules for the user's fields are
the ones ``web/validate_doc_update.js`` enforces (the two are written once per
language; a test runs both over random documents and checks they agree).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .documents import FINAL_STATES, TaskState, task_state
from .errors import RequirementError
from .requirements import Requirement, parse_requirement

TASK_STATES = tuple(s.value for s in TaskState)


@dataclass(frozen=True)
class Lease:
    """Which dirt server holds a running task, and until when (its wall clock) unless it beats."""

    server: str
    expires: float


@dataclass(frozen=True)
class Attempt:
    """One try of a task, as recorded in its ``attempts`` list."""

    number: int | None = None
    node: str | None = None
    server: str | None = None
    started: float | None = None
    ended: float | None = None
    outcome: str | None = None
    reason: str | None = None
    run: int = 1                  # the run it belongs to (1 before any rerun)


@dataclass(frozen=True)
class EarlierRun:
    """A run of the task before a rerun, as kept in its ``runs`` list (see docs/documents.rst)."""

    run: int
    state: str
    node: str | None = None
    started: float | None = None
    completed: float | None = None
    reason: str | None = None
    results: dict | None = None
    rerun_by: str | None = None      # who asked for this run (None: the first run)
    rerun_at: float | None = None
    cancelled_by: str | None = None
    cancelled_at: float | None = None


@dataclass(frozen=True)
class TaskDoc:
    """A task document, read. ``doc`` is the raw document, kept only to write
    the next revision from (:mod:`dirt.transitions`); read the fields here."""

    id: str
    rev: str
    doc: dict = field(repr=False, compare=False)
    # the user's fields
    record_id: str | None = None
    name: str | None = None
    kwargs: dict = field(default_factory=dict)
    requires: tuple[Requirement, ...] = ()
    platform: str | None = None
    timeout: float | None = None
    max_attempts: int | None = None
    priority: float = 0.0
    created: float = 0.0
    after: tuple[str, ...] = ()
    wait_timeout: float | None = None   # seconds it may wait for a node that can run it; 0: for ever
    # dirt's own
    state: str = TaskState.WAITING.value
    lease: Lease | None = None
    attempts: tuple[Attempt, ...] = ()
    attempt: int | None = None
    node: str | None = None
    started: float | None = None
    completed: float | None = None
    results: dict | None = None
    reason: str | None = None
    # actions people took (dirt cancel, dirt rerun, the web app's buttons)
    run: int = 1                        # which run this is: 1, or 2 after the first rerun...
    runs: tuple[EarlierRun, ...] = ()   # the runs before this one, oldest first
    rerun_by: str | None = None         # who asked for this run, and when
    rerun_at: float | None = None
    cancelled_by: str | None = None
    cancelled_at: float | None = None
    # what parsing found
    problem: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def rev_number(self) -> int:
        """The revision's generation (``3`` of ``3-abc``); 0 for a document not stored yet."""
        head = self.rev.split("-", 1)[0]
        return int(head) if head.isdigit() else 0

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def waiting(self) -> bool:
        return self.state == TaskState.WAITING.value

    @property
    def running(self) -> bool:
        return self.state == TaskState.RUNNING.value

    def lost_attempts(self) -> int:
        """How many tries of this run lost their node or server (these count towards max_attempts)."""
        return sum(1 for a in self.attempts if a.outcome in LOST_OUTCOMES and a.run == self.run)

    @property
    def waiting_since(self) -> float:
        """Since when it has been waiting: its creation, its rerun, or the end of its last try."""
        ends = [a.ended for a in self.attempts if a.ended is not None]
        return max([self.created, self.rerun_at or 0.0, *ends])


# Outcomes of an attempt that were not the task's fault and count towards max_attempts.
LOST_OUTCOMES = ("node_lost", "server_lost")


class _Reader:
    """Collects the problem (first one wins) and warnings while one document is read."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.problem: str | None = None
        self.warnings: list[str] = []

    def refuse(self, message: str) -> None:
        if self.problem is None:
            self.problem = message

    def junk(self, name: str, what: str) -> None:
        self.warnings.append(f"ignored its {name} ({show(self.doc.get(name))}): {what}")


def show(value: Any, limit: int = 60) -> str:
    """A value as a person wrote it in JSON, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_number(value: Any) -> bool:
    """A JSON number: int or float, not a bool, finite (as a JavaScript number: a
    100-digit integer is Infinity there, so it is not one here either)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def is_whole(value: Any) -> bool:
    """A JSON number with no fraction (``3`` or ``3.0``, as JavaScript sees both)."""
    return is_number(value) and float(value).is_integer()


def _absent(value: Any) -> bool:
    return value is None


def parse_task(doc: dict) -> TaskDoc:
    """Read a task document (``type: "task"``) into a TaskDoc; never raises."""
    r = _Reader(doc)
    doc_id = doc.get("_id") if isinstance(doc.get("_id"), str) else ""
    rev = doc.get("_rev") if isinstance(doc.get("_rev"), str) else ""
    get = doc.get

    # -- the user's fields, in the order validate_doc_update checks them --------------------
    created = get("created")
    if not _absent(created) and not is_number(created):
        r.refuse(f"created must be a number: seconds since 1970 (as from time.time()), not {show(created)}")
    record_id = get("record_id")
    if _absent(record_id):
        r.refuse("record_id is missing: a task belongs to one record; give its _id")
    elif not isinstance(record_id, str) or not record_id:
        r.refuse(f"record_id must be the _id (a non-empty string) of the task's record, not {show(record_id)}")
    name = get("name")
    if _absent(name):
        r.refuse('name is missing: name the task module to run, e.g. "examples.simple"')
    elif not isinstance(name, str) or not name:
        r.refuse(f'name must be a task module name (a non-empty string), e.g. "examples.simple", not {show(name)}')
    platform = get("platform")
    if not _absent(platform) and not isinstance(platform, str):
        r.refuse(f'platform must be a string, e.g. "linux", not {show(platform)}')
    kwargs = get("kwargs")
    if not _absent(kwargs) and not isinstance(kwargs, dict):
        r.refuse(f"kwargs must be an object mapping argument names to values, not {show(kwargs)}")
    requires = _requirements(get("requires"), r)
    timeout = get("timeout")
    if not _absent(timeout) and not (is_number(timeout) and timeout > 0):
        r.refuse(f"timeout must be a positive number of seconds, not {show(timeout)}")
    max_attempts = get("max_attempts")
    if not _absent(max_attempts) and not (is_whole(max_attempts) and max_attempts >= 1):
        r.refuse(f"max_attempts must be a whole number, at least 1, not {show(max_attempts)}")
    priority = get("priority")
    if not _absent(priority) and not is_number(priority):
        r.refuse(f"priority must be a number (higher runs first), not {show(priority)}")
    after = get("after")
    if not _absent(after) and not (isinstance(after, list) and all(isinstance(a, str) and a for a in after)):
        r.refuse(f'after must be a list of task names or ids of the same record, e.g. ["build"], not {show(after)}')
    wait_timeout = get("wait_timeout")
    if not _absent(wait_timeout) and not (is_number(wait_timeout) and wait_timeout >= 0):
        r.refuse(f"wait_timeout must be a number of seconds (0: wait for ever), not {show(wait_timeout)}")

    # -- dirt's own fields: junk is read as absent ------------------------------------------
    state_field = get("state")
    if not _absent(state_field) and state_field not in TASK_STATES:
        r.junk("state", "not one of " + ", ".join(TASK_STATES))
    lease = _lease(get("lease"), r)
    attempts = _attempts(get("attempts"), r)
    attempt = get("attempt")
    if not _absent(attempt) and not (is_whole(attempt) and attempt >= 1):
        r.junk("attempt", "not a whole number, at least 1")
        attempt = None
    node = _own_string(get("node"), "node", r)
    started = _own_number(get("started"), "started", r)
    completed = _own_number(get("completed"), "completed", r)
    results = get("results")
    if not _absent(results) and not isinstance(results, dict):
        r.junk("results", "not an object")
        results = None
    reason = get("reason") if isinstance(get("reason"), str) else None
    run = get("run")
    if not _absent(run) and not (is_whole(run) and run >= 1):
        r.junk("run", "not a whole number, at least 1")
        run = None
    runs = _runs(get("runs"), r)
    rerun_by = _own_string(get("rerun_by"), "rerun_by", r)
    rerun_at = _own_number(get("rerun_at"), "rerun_at", r)
    cancelled_by = _own_string(get("cancelled_by"), "cancelled_by", r)
    cancelled_at = _own_number(get("cancelled_at"), "cancelled_at", r)

    return TaskDoc(
        id=doc_id, rev=rev, doc=doc,
        record_id=record_id if isinstance(record_id, str) and record_id else None,
        name=name if isinstance(name, str) and name else None,
        kwargs=kwargs if isinstance(kwargs, dict) else {},
        requires=requires,
        platform=platform if isinstance(platform, str) and platform else None,
        timeout=float(timeout) if is_number(timeout) and timeout > 0 else None,
        max_attempts=int(max_attempts) if is_whole(max_attempts) and max_attempts >= 1 else None,
        priority=float(priority) if is_number(priority) else 0.0,
        created=float(created) if is_number(created) else 0.0,
        after=tuple(after) if isinstance(after, list) and all(isinstance(a, str) and a for a in after) else (),
        wait_timeout=float(wait_timeout) if is_number(wait_timeout) and wait_timeout >= 0 else None,
        state=task_state(doc), lease=lease, attempts=attempts,
        attempt=int(attempt) if attempt is not None else None,
        node=node, started=started, completed=completed, results=results, reason=reason,
        run=int(run) if run is not None else 1, runs=runs, rerun_by=rerun_by, rerun_at=rerun_at,
        cancelled_by=cancelled_by, cancelled_at=cancelled_at,
        problem=r.problem, warnings=tuple(r.warnings),
    )


def _requirements(value: Any, r: _Reader) -> tuple[Requirement, ...]:
    if _absent(value):
        return ()
    if isinstance(value, str):
        r.refuse(f"requires must be a list of strings, not one string: write [{show(value)}]")
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        r.refuse('requires must be a list of strings, e.g. ["architecture is x86_64", "G4INSTALL in environ"], '
                 f"not {show(value)}")
        return ()
    rules = []
    for item in value:
        try:
            rules.append(parse_requirement(item))
        except RequirementError as exc:
            r.refuse(str(exc))
            return ()
    return tuple(rules)


def _lease(value: Any, r: _Reader) -> Lease | None:
    if _absent(value):
        return None
    if isinstance(value, dict) and isinstance(value.get("server"), str) and value["server"] \
            and is_number(value.get("expires")):
        return Lease(value["server"], float(value["expires"]))
    r.junk("lease", "not {server, expires} as dirt writes it")
    return None


def _attempts(value: Any, r: _Reader) -> tuple[Attempt, ...]:
    if _absent(value):
        return ()
    if not isinstance(value, list):
        r.junk("attempts", "not a list")
        return ()
    out = []
    for item in value:
        if not isinstance(item, dict):
            r.warnings.append(f"ignored an entry of its attempts ({show(item)}): not an object")
            continue
        number = item.get("attempt")
        out.append(Attempt(
            number=int(number) if is_whole(number) else None,
            node=item.get("node") if isinstance(item.get("node"), str) else None,
            server=item.get("server") if isinstance(item.get("server"), str) else None,
            started=float(item["started"]) if is_number(item.get("started")) else None,
            ended=float(item["ended"]) if is_number(item.get("ended")) else None,
            outcome=item.get("outcome") if isinstance(item.get("outcome"), str) else None,
            reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
            run=int(item["run"]) if is_whole(item.get("run")) and item["run"] >= 1 else 1,
        ))
    return tuple(out)


def _runs(value: Any, r: _Reader) -> tuple[EarlierRun, ...]:
    """The ``runs`` list: earlier runs, each with at least its number and how it ended."""
    if _absent(value):
        return ()
    if not isinstance(value, list):
        r.junk("runs", "not a list")
        return ()
    out = []
    for item in value:
        if not (isinstance(item, dict) and is_whole(item.get("run")) and item["run"] >= 1
                and item.get("state") in TASK_STATES):
            r.warnings.append(f"ignored an entry of its runs ({show(item)}): not {{run, state, ...}}")
            continue

        def text(key: str) -> str | None:
            return item[key] if isinstance(item.get(key), str) else None

        def number(key: str) -> float | None:
            return float(item[key]) if is_number(item.get(key)) else None

        out.append(EarlierRun(
            run=int(item["run"]), state=item["state"], node=text("node"), started=number("started"),
            completed=number("completed"), reason=text("reason"),
            results=item["results"] if isinstance(item.get("results"), dict) else None,
            rerun_by=text("rerun_by"), rerun_at=number("rerun_at"),
            cancelled_by=text("cancelled_by"), cancelled_at=number("cancelled_at")))
    return tuple(out)


def _own_string(value: Any, name: str, r: _Reader) -> str | None:
    if _absent(value):
        return None
    if isinstance(value, str):
        return value
    r.junk(name, "not a string")
    return None


def _own_number(value: Any, name: str, r: _Reader) -> float | None:
    if _absent(value):
        return None
    if is_number(value):
        return float(value)
    r.junk(name, "not a number")
    return None
