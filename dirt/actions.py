"""What people do to tasks: cancel them, and run them again.

``dirt cancel`` and ``dirt rerun`` (and the web app's buttons, in JavaScript)
change task documents through the transitions of :mod:`dirt.transitions`;
this module finds the tasks, decides which of them can be changed and
writes the changes, revision-checked. Whether the person *may* is CouchDB's
to say (``validate_doc_update``, ``web/lib/access.js``): a refusal comes back
with the role that is missing.

* **cancel**: a waiting task never starts; a running one is stopped by the
  ``dirt serve`` that runs it, which records how its attempt ended. A
  finished task cannot be cancelled.
* **rerun**: a finished task (passed, failed, error or cancelled) becomes a
  new *run* of the same document; the run that ended is kept in ``runs``
  (see docs/documents.rst, "Reruns", for why the same document). A task that
  is still waiting or running cannot be rerun, so asking twice is safe.

Each change records who asked (the CouchDB account's name, or the local
user's on a server without accounts) and when.
"""
from __future__ import annotations

import getpass
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import transitions
from .couch import Database
from .documents import TaskState
from .errors import CouchError, DirtError, NotFound
from .pipeline import Brief, rerun_set
from .taskdoc import TaskDoc, parse_task

FAILED_STATES = (TaskState.FAILED.value, TaskState.ERROR.value)
RETRIES = 3     # re-reads of a task that changed while we wrote it (a server claimed it meanwhile)


class ActionRefused(DirtError):
    """Some of the tasks asked for could not be changed; the message lists why."""


@dataclass
class Done:
    """One task changed: its id and what happened, in words."""

    task_id: str
    message: str


@dataclass
class Report:
    """What an action did: ``done`` (changed tasks) and ``refused`` (task id, why not)."""

    done: list[Done] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None       # e.g. "nothing to rerun: ..." when a record had nothing to take
    couch_refused: bool = False   # CouchDB refused a write (a missing role): exit code 3, not 1


def who_asks(db: Database) -> str:
    """The name actions are recorded under: the CouchDB account signed in, else the local user."""
    try:
        session = db.server.request("GET", "_session")
        name = (session.get("userCtx") or {}).get("name")
    except CouchError:
        name = None
    if isinstance(name, str) and name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "someone"


# -- the decisions (pure) --------------------------------------------------------------------

def why_not_cancel(task: TaskDoc) -> str | None:
    """Why ``task`` cannot be cancelled now (None: it can)."""
    if task.final:
        return f"it already ended {task.state}" + (f" ({_by(task)})" if task.state == "cancelled" else "")
    return None


def why_not_rerun(task: TaskDoc) -> str | None:
    """Why ``task`` cannot be rerun now (None: it can)."""
    if task.final:
        return None
    if task.rerun_by is not None:
        asked = f"asked by {task.rerun_by}" + (f" {ago(task.rerun_at)}" if task.rerun_at else "")
        return f"it is already being rerun (run {task.run}, {asked}; it is {task.state} now)"
    if task.running:
        return f"it is running (attempt {task.attempt or 1} on {task.node or 'a node'}): cancel it first, " \
               "or let it finish"
    return "it is waiting to run: it has not ended, so there is nothing to run again"


def _by(task: TaskDoc) -> str:
    return f"by {task.cancelled_by}" if task.cancelled_by else "by hand"


def ago(when: float | None, now: float | None = None) -> str:
    """``when`` as "3 min ago" (or "just now")."""
    if when is None:
        return ""
    seconds = max(0, int((time.time() if now is None else now) - when))
    if seconds < 45:
        return "just now"
    if seconds < 90 * 60:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def describe_cancel(task: TaskDoc) -> str:
    if task.running:
        return f"cancelled {task.id} (it was running on {task.node or 'a node'}: dirt serve stops it)"
    return f"cancelled {task.id} (it was waiting: it will not start)"


def describe_rerun(task: TaskDoc) -> str:
    why = f": {task.reason}" if task.reason else ""
    on = f" on {task.node}" if task.node else ""
    return f"rerun {task.id}: run {task.run + 1} waits to run (run {task.run} {task.state}{on}{why})"


# -- finding tasks ---------------------------------------------------------------------------

def read_tasks(db: Database, task_ids: Iterable[str]) -> tuple[list[TaskDoc], list[tuple[str, str]]]:
    """The task documents with these ids, and (id, why) for ids that are not tasks."""
    ids = list(dict.fromkeys(task_ids))
    docs = db.docs_by_id(ids)
    found, missing = [], []
    for task_id in ids:
        doc = docs.get(task_id)
        if doc is None:
            missing.append((task_id, "no such document in " + db.url))
        elif doc.get("type") != "task":
            missing.append((task_id, f"not a task (its type is {doc.get('type')!r})"))
        else:
            found.append(parse_task(doc))
    return found, missing


def record_tasks(db: Database, record_id: str) -> list[TaskDoc]:
    """Every task of the record, in id order (a Mango query any reader may make)."""
    return sorted((parse_task(doc) for doc in db.find({"type": "task", "record_id": record_id})),
                  key=lambda t: t.id)


# -- the actions -----------------------------------------------------------------------------

def cancel(db: Database, task_ids: Iterable[str] = (), record_id: str | None = None, by: str | None = None,
           now: Callable[[], float] = time.time) -> Report:
    """Cancel the tasks ``task_ids``, or every unfinished task of ``record_id``."""
    by = by or who_asks(db)
    tasks, report = _chosen(db, task_ids, record_id)
    if record_id is not None and not task_ids:
        left = [t for t in tasks if not t.final]
        if not left:
            report.note = f"nothing to cancel: every task of {record_id} has ended" if tasks else \
                f"nothing to cancel: record {record_id} has no tasks"
        tasks = left
    _apply(db, tasks, report, why_not_cancel, lambda t: transitions.cancelled(t, by, now()), describe_cancel)
    return report


def rerun(db: Database, task_ids: Iterable[str] = (), record_id: str | None = None, failed: bool = False,
          by: str | None = None, now: Callable[[], float] = time.time, followers: bool = False) -> Report:
    """Run again the tasks ``task_ids``, or the finished tasks of ``record_id``;
    with ``failed``, only those that ended failed or error. Tasks that run
    after them and were skipped because of them run again too, and so does
    what a skipped task was skipped for; with ``followers``, every finished
    task after them (:func:`dirt.pipeline.rerun_set`)."""
    by = by or who_asks(db)
    tasks, report = _chosen(db, task_ids, record_id)
    if failed:
        kept = [t for t in tasks if t.state in FAILED_STATES]
        if task_ids:
            report.refused += [(t.id, f"it {t.state}, and --failed takes only failed and error tasks")
                               for t in tasks if t.state not in FAILED_STATES]
        tasks = kept
    if record_id is not None and not task_ids:
        finished = [t for t in tasks if t.final]
        if not finished:
            what = "ended failed or error" if failed else "has ended"
            report.note = f"nothing to rerun: no task of {record_id} {what}"
        tasks = finished
    tasks = _with_pipelines(db, tasks, followers)
    _apply(db, tasks, report, why_not_rerun, lambda t: transitions.rerun(t, by, now()), describe_rerun)
    return report


def _with_pipelines(db: Database, tasks: list[TaskDoc], followers: bool) -> list[TaskDoc]:
    """``tasks`` and, for records whose tasks run after others, what goes with them (see :func:`rerun`)."""
    by_record: dict[str, list[TaskDoc]] = {}
    for task in tasks:
        by_record.setdefault(task.record_id or "", []).append(task)
    out: list[TaskDoc] = []
    for record_id, chosen in by_record.items():
        everything = {t.id: t for t in record_tasks(db, record_id)} if record_id else {}
        if not any(t.after for t in everything.values()):
            out += chosen
            continue
        ids = rerun_set([Brief.of(t) for t in everything.values()], [t.id for t in chosen], followers)
        picked = {t.id: t for t in chosen}
        out += [picked.get(i) or everything[i] for i in ids]
    return out


def _chosen(db: Database, task_ids: Iterable[str], record_id: str | None) -> tuple[list[TaskDoc], Report]:
    task_ids = list(task_ids)
    if bool(task_ids) == (record_id is not None):
        raise ActionRefused("give task ids, or --record RECORD_ID (not both)")
    report = Report()
    if task_ids:
        tasks, report.refused = read_tasks(db, task_ids)
    else:
        tasks = record_tasks(db, record_id)
        if not tasks:
            try:
                db.get(record_id)
            except NotFound:
                raise ActionRefused(f"no record {record_id!r} and no tasks of it in {db.url}") from None
    return tasks, report


def _apply(db: Database, tasks: list[TaskDoc], report: Report, why_not: Callable[[TaskDoc], str | None],
           change: Callable[[TaskDoc], dict], describe: Callable[[TaskDoc], str]) -> None:
    """Write ``change(task)`` for each task that may change, re-reading those that changed meanwhile."""
    pending = list(tasks)
    for attempt in range(RETRIES + 1):
        todo = []
        for task in pending:
            why = why_not(task)
            if why:
                report.refused.append((task.id, why))
            else:
                todo.append(task)
        if not todo:
            return
        answers = db.bulk_docs([change(t) for t in todo])
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        again = []
        for task in todo:
            answer = by_id.get(task.id, {})
            if "rev" in answer and "error" not in answer:
                report.done.append(Done(task.id, describe(task)))
            elif answer.get("error") == "conflict" and attempt < RETRIES:
                again.append(task.id)
            else:
                reason = answer.get("reason") or answer.get("error") or "no answer for it"
                report.refused.append((task.id, f"CouchDB refused it: {reason}"))
                report.couch_refused = True
        if not again:
            return
        pending, gone = read_tasks(db, again)
        report.refused += gone
