"""Driving bisections: the part of a dirt server that advances bisect documents.

:mod:`dirt.bisect` decides; this module reads and writes. A
:class:`Bisector` thread runs in every ``dirt serve``: once its views are
built, then whenever a bisect document arrives or a bisect run ends (and
every few seconds while some bisection is open), it reads the open bisect
documents (``open_bisects`` of ``_design/dirt-serve``) and advances each one
step. With no bisection open it reads nothing until one arrives: a view read
makes CouchDB index every document written since the last, work a busy
server should not pay for nothing. Each step:

* a new one is set up: its good and bad records are read (both records of
  one branch, good the older), the branch's records between them listed by
  ``created`` (``branch_records``), and the bad record's task of that name
  (a failed one first) copied, with the tasks it runs after;
* a running one whose current run has ended takes that run's verdict;
* either way, the next record is chosen, and its runs (task documents with
  ids of their own, see :func:`dirt.bisect.run_id`) are written before the
  bisect document says so, or the answer is written (``state: done``).

Every write is safe to repeat and to race: the runs' ids are fixed, so a
second server's copy is refused (409) and ignored, and the bisect document
is written revision-checked, so of two servers advancing it at once one
wins and the other reads it again at its next look. A run whose document
went missing is written again. Nothing here holds up the scheduler.

:func:`start` and :func:`follow` are what ``dirt bisect`` does: store the
question (or find it already asked) and watch it until it is answered.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from . import bisect, snapshot
from .bisect import DONE, ERROR, FAILED, NEW, OPEN_STATES, PASSED, RUNNING, Answer
from .couch import Database
from .documents import is_task
from .errors import Conflict, CouchError, DirtError, NotFound
from .pipeline import RecordTasks

log = logging.getLogger(__name__)

POLL = 3.0              # seconds between looks while a bisection is open (and for dirt's views to be built)
IDLE_POLL = 300.0       # seconds between looks when none is (a bisect document's arrival wakes it sooner)


class BisectError(DirtError):
    """A bisection cannot be asked or followed (the message says why)."""


def start(db: Database, task: str, good: str, bad: str, now: float) -> dict:
    """Store the question "which record first broke ``task``?" and return its
    document; if it was asked before, the document as it stands."""
    doc = bisect.new_document(task, good, bad, now)
    why = bisect.problem(doc)
    if why:
        raise BisectError(why)
    for record_id, which in ((good, "--good"), (bad, "--bad")):
        try:
            record = db.get(record_id)
        except NotFound:
            raise BisectError(f"{which} {record_id}: no such record in {db.url}") from None
        if record.get("type") != "record":
            raise BisectError(f"{which} {record_id} is not a record (its type is {record.get('type')!r})")
        if record_id == good and isinstance(record.get("branch"), str):
            doc["branch"] = record["branch"]        # so the branches page lists it from the start
    try:
        db.save(doc)
    except Conflict:
        return db.get(doc["_id"])
    return doc


def follow(db: Database, bisect_id: str, on_change: Callable[[dict], None], *, timeout: float | None = None,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict:
    """Watch a bisect document until it is done (or in error); ``on_change`` gets
    each new revision. Raises BisectError after ``timeout`` seconds."""
    deadline = None if timeout is None else clock() + timeout
    seen, delay = None, 0.2
    while True:
        doc = db.get(bisect_id)
        if doc.get("_rev") != seen:
            seen = doc.get("_rev")
            on_change(doc)
            delay = 0.2
        if doc.get("state") in (DONE, ERROR):
            return doc
        if deadline is not None and clock() > deadline:
            raise BisectError(f"{bisect_id} is not answered after {timeout:g} s (still testing "
                              f"{doc.get('current') or 'nothing yet: is a dirt serve running?'})")
        sleep(delay)
        delay = min(delay * 1.5, 2.0)


def servers_alive(db: Database, now: float) -> int | None:
    """How many dirt serve processes beat on this database now (None: cannot tell)."""
    from .status import alive

    if not snapshot.built(db):
        return None                      # the view is still being built: do not wait for it here
    try:
        rows = db.view(snapshot.DESIGN, snapshot.VIEW, startkey=["server"], endkey=["server", {}],
                       include_docs=True).get("rows", [])
    except NotFound:
        return None
    return sum(1 for row in rows if isinstance(row.get("doc"), dict) and alive(row["doc"], now))


class Bisector:
    """Advances open bisections; see the module docstring. Call :meth:`start`
    and :meth:`close`, and :meth:`task_final` with each task that ends."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time, interval: float = POLL,
                 idle_interval: float = IDLE_POLL):
        self.db = db
        self.clock = clock
        self.interval = interval
        self.idle_interval = idle_interval
        self.open: int | None = None     # open bisections at the last look (None: not looked yet)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Bisector":
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bisector")
        self._thread.start()
        return self

    def task_final(self, doc: dict) -> None:
        """A task ended: if it was a bisect run, look at once."""
        if isinstance(doc.get("bisect"), str):
            self._wake.set()

    def saw(self, doc: dict) -> None:
        """A document other than a task changed: if it is an open bisection, look at once."""
        if bisect.is_bisect(doc) and doc.get("state", NEW) in OPEN_STATES:
            self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except CouchError as exc:
                log.debug("could not look at the bisections: %s", exc)
            except Exception:   # a bug here must not take the server's other work along
                log.exception("could not advance the bisections")
            self._wake.wait(self.next_wait())
            self._wake.clear()

    def next_wait(self) -> float:
        """Seconds until the next look, unless something wakes it: short while a
        bisection is open (or none has been looked for yet), long when none is."""
        return self.idle_interval if self.open == 0 else self.interval

    def step(self) -> int:
        """Advance every open bisection once; how many documents changed. Until dirt's
        views are built on this database (a first start builds them once it has read
        the history), bisections wait: a view build now would compete with that read."""
        if not snapshot.built(self.db):
            return 0
        try:
            rows = self.db.view(snapshot.DESIGN, snapshot.OPEN_BISECTS, include_docs=True,
                                timeout=snapshot.VIEW_TIMEOUT).get("rows", [])
        except NotFound:
            return 0                     # dirt serve could not install its views: no bisections here
        changed = opened = 0
        for row in rows:
            doc = row.get("doc")
            if bisect.is_bisect(doc) and doc.get("state", NEW) in OPEN_STATES:
                opened += 1
                changed += self.advance(doc) is not None
        self.open = opened
        return changed

    # -- one step ---------------------------------------------------------------------------
    def advance(self, doc: dict) -> dict | None:
        """Move ``doc`` on by one step; the document written, or None (nothing to do, or lost a race)."""
        why = bisect.problem(doc)
        if why:
            return self._save({**doc, "state": ERROR, "reason": why})
        set_up = isinstance(doc.get("records"), list) and isinstance(doc.get("target"), dict)
        if doc.get("state", NEW) == NEW or (doc.get("state") == RUNNING and not set_up):
            try:
                doc = self._set_up(doc)
            except BisectError as exc:
                return self._save({**doc, "state": ERROR, "reason": str(exc)})
        elif doc.get("state") != RUNNING:
            return None
        else:
            doc = dict(doc)
        verdicts, notes = dict(doc.get("verdicts") or {}), dict(doc.get("notes") or {})
        current = doc.get("current")
        if current:
            try:
                run = self.db.get((doc.get("runs") or {}).get(current) or bisect.run_id(doc["_id"], current))
            except NotFound:
                self._write_runs(doc, current)           # the bisect document got ahead of its runs
                return None
            decided = bisect.verdict_of(run)
            if decided is None:
                return None
            verdicts[current], note = decided
            if note:
                notes[current] = note
            log.info("bisect %s: %s %s", doc["_id"], current, decided[0])
        found: Answer = bisect.answer(doc["records"], verdicts)
        doc.update(verdicts=verdicts, notes=notes, current=found.next, last_good=found.last_good,
                   first_bad=found.first_bad, updated=self.clock())
        if found.decided:
            doc.update(state=DONE, candidates=found.candidates)
            doc["reason"] = bisect.describe(doc)
            log.info("bisect %s: %s", doc["_id"], doc["reason"])
        else:
            doc.setdefault("runs", {})[found.next] = bisect.run_id(doc["_id"], found.next)
            self._write_runs(doc, found.next)
        return self._save(doc)

    def _save(self, doc: dict) -> dict | None:
        try:
            return self.db.save(doc)
        except Conflict:
            return None                  # another server advanced it: seen again at the next look

    def _write_runs(self, doc: dict, record_id: str) -> None:
        runs = bisect.runs_for(doc["_id"], record_id, doc["target"], doc.get("upstream") or [], self.clock())
        for answer in self.db.bulk_docs(runs):
            if answer.get("error") and answer.get("error") != "conflict":
                raise CouchError(f"could not write the bisect run {answer.get('id')}: {answer.get('reason')}")

    def _set_up(self, doc: dict) -> dict:
        """The records to search and the task to copy; raises BisectError saying what is wrong."""
        good, bad = self._record(doc["good"], "good"), self._record(doc["bad"], "bad")
        branch = good.get("branch")
        if not isinstance(branch, str) or not branch:
            raise BisectError(f"record {good['_id']} has no branch: bisect orders the records of one branch "
                              "(their branch field) by created")
        if bad.get("branch") != branch:
            raise BisectError(f"records {good['_id']} and {bad['_id']} are on different branches "
                              f"({branch!r} and {bad.get('branch')!r})")
        for record in (good, bad):
            if not isinstance(record.get("created"), (int, float)) or isinstance(record.get("created"), bool):
                raise BisectError(f"record {record['_id']} has no created time to order it by")
        if good["created"] >= bad["created"]:
            raise BisectError(f"the good record {good['_id']} must be older than the bad one {bad['_id']} "
                              "(by created)")
        rows = self.db.view(snapshot.DESIGN, snapshot.BRANCH_RECORDS, timeout=snapshot.VIEW_TIMEOUT,
                            startkey=[branch, good["created"], good["_id"]],
                            endkey=[branch, bad["created"], bad["_id"]], limit=bisect.MAX_RECORDS + 1)["rows"]
        records = [row["id"] for row in rows]
        if len(records) > bisect.MAX_RECORDS:
            raise BisectError(f"more than {bisect.MAX_RECORDS} records lie between {good['_id']} and {bad['_id']}")
        if not records or records[0] != good["_id"] or records[-1] != bad["_id"]:
            raise BisectError(f"could not list the records of branch {branch} from {good['_id']} to {bad['_id']}")
        target, upstream = self._template(bad["_id"], doc["task"])
        return {**doc, "state": RUNNING, "branch": branch, "records": records, "target": target,
                "upstream": upstream, "verdicts": {good["_id"]: PASSED, bad["_id"]: FAILED}, "runs": {},
                "current": None, "started": self.clock()}

    def _record(self, record_id: str, which: str) -> dict:
        try:
            record = self.db.get(record_id)
        except NotFound:
            raise BisectError(f"there is no {which} record {record_id}") from None
        if record.get("type") != "record":
            raise BisectError(f"the {which} record {record_id} is not a record")
        return record

    def _template(self, record_id: str, name: str) -> tuple[dict, list[dict]]:
        """The bad record's task named ``name`` (a failed one if any), and what it runs after,
        each as the fields a run copies."""
        briefs = snapshot.record_tasks(self.db, [record_id]).get(record_id, [])
        named = sorted((b for b in briefs if b.name == name), key=lambda b: (b.state != FAILED, b.id))
        if not named:
            raise BisectError(f"record {record_id} has no task named {name}: nothing to copy onto the records "
                              "in between")
        book = RecordTasks(record_id)
        for brief in briefs:
            book.put(brief)
        wanted, frontier = set(), [named[0].id]
        while frontier:
            for dep in book.dependencies(book.tasks[frontier.pop()]):
                if dep not in wanted and dep != named[0].id:
                    wanted.add(dep)
                    frontier.append(dep)
        answer = self.db.all_docs(keys=[named[0].id] + sorted(wanted), include_docs=True)
        docs = {row["id"]: row["doc"] for row in answer.get("rows", []) if is_task(row.get("doc"))}
        if named[0].id not in docs:
            raise BisectError(f"could not read task {named[0].id}")

        def fields(doc: dict) -> dict:
            return {key: doc[key] for key in ("_id", "after") + bisect.COPIED if key in doc}

        return fields(docs[named[0].id]), [fields(docs[i]) for i in sorted(wanted) if i in docs]
