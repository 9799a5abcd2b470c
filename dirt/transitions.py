"""How a task document changes shape: one pure function per transition.

Every write dirt makes to a task document is built here, from the parsed
document (:class:`~dirt.taskdoc.TaskDoc`) and the facts of the moment; nothing
here does I/O. The scheduler, lease recovery and :mod:`dirt.core.dbi` all use
these functions, so the document a user reads is shaped the same way whoever
wrote it. Each returns the next revision as a new dict (the caller writes it,
revision-checked by the ``_rev`` it carries).

The fields (see docs/documents.rst): ``state``; ``node``, ``started`` and
``attempt`` of the current try; ``lease`` ({server, expires}) while a server
holds it; ``completed`` once final; ``reason`` when it waits for a reason or
did not pass; ``attempts``: one entry per try with ``attempt``, ``node``,
``server``, ``started``, and once over ``ended``, ``outcome``, ``reason``.
"""
from __future__ import annotations

import copy
from typing import Any

from .documents import FINAL_STATES, TaskState, stubs
from .plural import plural
from .taskdoc import TaskDoc

WAITING, RUNNING, ERROR = TaskState.WAITING.value, TaskState.RUNNING.value, TaskState.ERROR.value
CANCELLED = TaskState.CANCELLED.value
SKIPPED = TaskState.SKIPPED.value

# Fields that describe one finished try; a new try starts without them.
_OUTCOME_FIELDS = ("reason", "completed", "results", "traceback")


def _next(task: TaskDoc) -> dict:
    """A copy of the document to change (nested values copied too)."""
    doc = copy.deepcopy(task.doc)
    if "attempts" in doc:
        doc["attempts"] = _attempt_entries(task.doc)
    return doc


def _attempt_entries(doc: dict) -> list[dict]:
    """The ``attempts`` list as stored, junk entries left out (parse_task warned about them)."""
    raw = doc.get("attempts")
    return [copy.deepcopy(a) for a in raw if isinstance(a, dict)] if isinstance(raw, list) else []


def is_ours(task: TaskDoc, server: str, attempt: int) -> bool:
    """Whether ``server`` still holds attempt ``attempt`` of this task."""
    return task.running and task.lease is not None and task.lease.server == server and task.attempt == attempt


def claimed(task: TaskDoc, node: str, server: str, now: float, lease_seconds: float) -> dict:
    """The task, claimed by ``server`` for a new attempt on ``node``."""
    doc = _next(task)
    doc.setdefault("attempts", [])
    number = len(doc["attempts"]) + 1
    doc.update(state=RUNNING, node=node, started=now, attempt=number,
               lease={"server": server, "expires": now + lease_seconds})
    entry = {"attempt": number, "node": node, "server": server, "started": now}
    if task.run > 1:
        entry["run"] = task.run
    doc["attempts"].append(entry)
    for key in _OUTCOME_FIELDS:
        doc.pop(key, None)
    return doc


def ended(task: TaskDoc, state: str, outcome: str, reason: str | None, now: float,
          extra: dict[str, Any] | None = None, started: float | None = None,
          attempt_fields: dict[str, Any] | None = None) -> dict:
    """How the current attempt ended: ``state`` (final, or waiting to run again).

    ``extra`` holds fields the outcome sets (``results``, ``attach_links``,
    ``traceback``, and ``_attachments``: new ones inline; those the document
    has already are kept). ``started``, if given, is when the task really
    began on its node (a claim made ahead of a free slot records the claim's
    time until then). ``attempt_fields`` go into the attempt's own entry
    (its ``log`` and ``provenance``).
    """
    doc = _next(task)
    extra = dict(extra or {})
    if "_attachments" in extra:
        kept = stubs(task.doc.get("_attachments"))
        extra["_attachments"] = {**kept, **{name: att for name, att in extra["_attachments"].items()
                                            if not att.get("stub")}}
    attempts = doc.get("attempts") or []
    if attempts and "outcome" not in attempts[-1]:
        entry = attempts[-1]
        entry.update(ended=now, outcome=outcome, **(attempt_fields or {}))
        if started is not None:
            entry["started"] = started
        if reason:
            entry["reason"] = reason
    doc["state"] = state
    doc.pop("lease", None)
    if state in FINAL_STATES:
        doc["completed"] = now
        if started is not None:
            doc["started"] = started
    else:
        for key in ("node", "started", "completed"):
            doc.pop(key, None)
    if reason:
        doc["reason"] = reason
    else:
        doc.pop("reason", None)
    doc.update(extra)
    return doc


def requeued(task: TaskDoc, outcome: str, reason: str, now: float, counts: bool, default_max_attempts: int,
             started: float | None = None, extra: dict[str, Any] | None = None,
             attempt_fields: dict[str, Any] | None = None) -> dict:
    """Back to waiting after an attempt that was not the task's fault, or, when
    ``counts`` and ``max_attempts`` such attempts have been lost, an error."""
    limit = task.max_attempts or default_max_attempts
    lost = task.lost_attempts() + (1 if counts else 0)
    if counts and lost >= limit:
        lost_what = f"{plural(lost, 'attempt')} lost {'its' if lost == 1 else 'their'} node or server"
        return ended(task, ERROR, outcome, f"gave up after {lost_what}; last: {reason}", now, extra=extra,
                     started=started, attempt_fields=attempt_fields)
    return ended(task, WAITING, outcome, f"{reason}; it will run again", now, extra=extra,
                 attempt_fields=attempt_fields)


def recovered(task: TaskDoc, reason: str, now: float, default_max_attempts: int,
              extra: dict[str, Any] | None = None, attempt_fields: dict[str, Any] | None = None) -> dict:
    """A running task whose server is gone (``reason`` says how we know): back
    to waiting, or an error once it has lost too many servers and nodes.
    ``extra`` and ``attempt_fields`` carry the log the lost attempt left."""
    return requeued(task, "server_lost", reason, now, counts=True, default_max_attempts=default_max_attempts,
                    extra=extra, attempt_fields=attempt_fields)


def errored(task: TaskDoc, reason: str, now: float) -> dict:
    """A task that can never run as written (or that dirt could not handle): final, with why."""
    doc = _next(task)
    doc.update(state=ERROR, reason=reason, completed=now)
    doc.pop("lease", None)
    return doc


def skipped(task: TaskDoc, reason: str, now: float) -> dict:
    """A waiting task that will not run, because a task it runs after (``after``)
    did not pass (``reason`` says which): final, without an attempt."""
    doc = _next(task)
    doc.update(state=SKIPPED, reason=reason, completed=now)
    doc.pop("lease", None)
    return doc


def waiting_because(task: TaskDoc, reason: str) -> dict:
    """A waiting task, with why it cannot run now (no matching node, all of them down)."""
    doc = _next(task)
    doc.update(state=WAITING, reason=reason)
    return doc


# -- what people do: cancel and rerun (dirt.actions checks first that they may) ----------------

# The fields a run's outcome leaves on the document, which a rerun moves into ``runs``.
RUN_FIELDS = ("node", "started", "completed", "reason", "results", "traceback", "attach_links", "attempt",
              "lease", "cancelled_by", "cancelled_at", "rerun_by", "rerun_at")


def cancelled(task: TaskDoc, by: str, now: float) -> dict:
    """A waiting or running task, cancelled by ``by`` (a user name).

    A waiting task never starts. A running one keeps its ``lease``, ``node``
    and open attempt: the ``dirt serve`` that holds it sees the change, stops
    the task and records how that attempt ended.
    """
    doc = _next(task)
    doc.update(state=CANCELLED, cancelled_by=by, cancelled_at=now, completed=now, reason=f"cancelled by {by}")
    return doc


def rerun(task: TaskDoc, by: str, now: float) -> dict:
    """A finished task, to be run again at ``by``'s request: a new run of the same document.

    The run that ended is kept whole as the last entry of ``runs`` (its
    state, node, times, reason, results, who asked for it and which files it
    made); the document then reads as a waiting task again, with ``run``
    counting up and ``rerun_by``/``rerun_at`` saying who asked and when.
    ``attempts`` and ``_attachments`` stay as they are: files of the new run
    get names of their own (``report.html.2``).
    """
    doc = _next(task)
    earlier = {"run": task.run, "state": task.state}
    for key in RUN_FIELDS:
        if key in ("lease", "attempt", "attach_links"):
            continue
        if key in task.doc:
            earlier[key] = copy.deepcopy(task.doc[key])
    made_before = {name for old in _run_entries(task.doc) for name in old.get("files") or []}
    files = sorted(set(task.doc.get("_attachments") or {}) - made_before)
    if files:
        earlier["files"] = files
    doc["runs"] = _run_entries(task.doc) + [earlier]
    for key in RUN_FIELDS:
        doc.pop(key, None)
    doc.update(state=WAITING, run=task.run + 1, rerun_by=by, rerun_at=now)
    return doc


def _run_entries(doc: dict) -> list[dict]:
    """The ``runs`` list as stored (entries that are not objects left out)."""
    raw = doc.get("runs")
    return [copy.deepcopy(r) for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
