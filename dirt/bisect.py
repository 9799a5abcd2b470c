"""Bisect: which record first broke a task, found by running it on records in between.

A person knows a task passed on record GOOD and fails on record BAD, a later
record of the same branch. ``dirt bisect TASK --good GOOD --bad BAD`` (or the
branches page's button) stores a *bisect document*; a ``dirt serve`` drives it
(:mod:`dirt.bisector`): it lists the branch's records from GOOD to BAD by
``created``, runs the task on the record halfway between the last known good
and the first known bad one, takes its verdict, and halves again, until the
first failing record is found, about log2(n) runs for n records.

The task run on a record is a copy of BAD's task of that name (its
``platform``, ``kwargs``, ``requires``...), with ``bisect`` naming the bisect
document. If it runs after others, copies of those run first, on the same
record: the copies name each other by id, so tasks the record already had
never stand in for them. A copy that cannot decide (it ended in error, was
cancelled, or was skipped because its build failed) makes that record
*untestable*: it is left out, as ``git bisect skip`` does, and the answer
then says which records it could be.

The bisect document (``type: "bisect"``)::

    {"_id": "bisect:r100..r116:test.unit", "type": "bisect", "task": "test.unit",
     "good": "r100", "bad": "r116", "created": 1700000000,
     "state": "running",                      # new, running, done or error (dirt writes these)
     "branch": "main", "records": ["r100", ..., "r116"],
     "verdicts": {"r100": "passed", "r116": "failed", "r108": "failed", "r104": "untestable"},
     "runs": {"r108": "bisect:r100..r116:test.unit:r108"}, "current": "r106",
     "first_bad": null, "last_good": null, "candidates": [], "reason": "..."}

This module holds the pure parts: the document's shape, the choice of the
next record, the answer, and the task copies.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .documents import TaskState, task_state

TYPE = "bisect"
NEW, RUNNING, DONE, ERROR = "new", "running", "done", "error"
OPEN_STATES = (NEW, RUNNING)
PASSED, FAILED, UNTESTABLE = "passed", "failed", "untestable"
MAX_RECORDS = 10_000
# Fields of a task copied onto the records tested (the rest is the run's own).
COPIED = ("name", "platform", "kwargs", "requires", "timeout", "max_attempts", "priority")


def is_bisect(doc: object) -> bool:
    return isinstance(doc, dict) and doc.get("type") == TYPE and not doc.get("_deleted")


def bisect_id(task: str, good: str, bad: str) -> str:
    """The bisect document's id: one per question, so asking twice follows the first."""
    return f"bisect:{good}..{bad}:{task}"


def new_document(task: str, good: str, bad: str, now: float) -> dict:
    """What ``dirt bisect`` (or the web app's button) writes; a dirt serve does the rest."""
    return {"_id": bisect_id(task, good, bad), "type": TYPE, "task": task, "good": good, "bad": bad,
            "created": now, "state": NEW}


def problem(doc: dict) -> str | None:
    """What is wrong with a bisect document as a person wrote it, or None."""
    for key in ("task", "good", "bad"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            return f"{key} must be a non-empty string (a task name, a good record's id, a bad record's id)"
    if doc["good"] == doc["bad"]:
        return "good and bad are the same record"
    return None


# -- halving ------------------------------------------------------------------------------

@dataclass
class Answer:
    """Where a bisection stands.

    ``last_good`` and ``first_bad`` bound the records the break can be in;
    ``candidates`` are those records (``first_bad`` and the untestable ones
    before it) once nothing is left to test; ``next`` is the record to test
    next (None when decided).
    """

    last_good: str | None
    first_bad: str | None
    next: str | None = None
    candidates: list[str] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.next is None


def answer(records: Sequence[str], verdicts: dict[str, str]) -> Answer:
    """The state of the search over ``records`` (oldest first) given ``verdicts``.

    The first failing record bounds the search from above, the last passing
    one before it from below; a passing record after a failing one (the task
    is flaky, or was fixed and broken again) does not move the search past
    the first failure. Between the bounds, untestable records are left out
    and the one nearest the middle of the rest is tested next.
    """
    failed = [i for i, r in enumerate(records) if verdicts.get(r) == FAILED]
    if not failed:
        return Answer(None, None)
    hi = failed[0]
    passed = [i for i in range(hi) if verdicts.get(records[i]) == PASSED]
    lo = passed[-1] if passed else -1
    between = list(range(lo + 1, hi))
    open_ = [i for i in between if records[i] not in verdicts]
    last_good = records[lo] if lo >= 0 else None
    if not open_:
        untestable = [records[i] for i in between if verdicts.get(records[i]) == UNTESTABLE]
        return Answer(last_good, records[hi], None, untestable + [records[hi]])
    middle = (lo + hi) / 2
    chosen = min(open_, key=lambda i: (abs(i - middle), i))
    return Answer(last_good, records[hi], records[chosen])


def verdict_of(doc: dict) -> tuple[str, str] | None:
    """How a finished bisect run decides its record: (verdict, why); None while it runs."""
    state = task_state(doc)
    reason = doc.get("reason") if isinstance(doc.get("reason"), str) else ""
    if state == TaskState.PASSED.value:
        return PASSED, ""
    if state == TaskState.FAILED.value:
        return FAILED, reason
    if state in (TaskState.ERROR.value, TaskState.CANCELLED.value, TaskState.SKIPPED.value):
        return UNTESTABLE, f"{state}" + (f": {reason}" if reason else "")
    return None


def describe(doc: dict) -> str:
    """One line on a finished bisection, for the document's ``reason`` and the CLI."""
    candidates = doc.get("candidates") or []
    task, last_good = doc.get("task"), doc.get("last_good")
    if doc.get("state") == ERROR:
        return f"bisect of {task} stopped: {doc.get('reason')}"
    if len(candidates) == 1:
        return f"first failing record for {task}: {candidates[0]}" + (f" (the last passing: {last_good})"
                                                                       if last_good else "")
    return (f"the first failing record for {task} is one of {', '.join(candidates)}: "
            f"{plural_records(len(candidates) - 1)} could not be tested" +
            (f" (the last passing: {last_good})" if last_good else ""))


def plural_records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


# -- what runs on a record ------------------------------------------------------------------

def run_id(bisect: str, record_id: str, task_id: str | None = None) -> str:
    """The id of a bisect run on a record (``task_id``: of a copy of one it runs after)."""
    return f"{bisect}:{record_id}" + (f":{task_id}" if task_id else "")


def runs_for(bisect: str, record_id: str, target: dict, upstream: Iterable[dict], now: float) -> list[dict]:
    """The task documents that test ``record_id``: copies of ``upstream`` (what
    the target runs after, on the bad record) and of ``target``, each ``after``
    rewritten to the copies' ids."""
    upstream = list(upstream)
    by_name: dict[str, list[str]] = {}
    for doc in upstream + [target]:
        by_name.setdefault(doc.get("name"), []).append(doc["_id"])
    new_ids = {doc["_id"]: run_id(bisect, record_id, doc["_id"]) for doc in upstream}
    new_ids[target["_id"]] = run_id(bisect, record_id)
    out = []
    for doc in upstream + [target]:
        run = {key: copy.deepcopy(doc[key]) for key in COPIED if key in doc}
        after: list[str] = []
        for ref in doc.get("after") or []:
            for old in ([ref] if ref in new_ids else by_name.get(ref, [])):
                if old in new_ids and old != doc["_id"] and new_ids[old] not in after:
                    after.append(new_ids[old])
        if after:
            run["after"] = after
        run.update(_id=new_ids[doc["_id"]], type="task", record_id=record_id, created=now, bisect=bisect)
        out.append(run)
    return out
