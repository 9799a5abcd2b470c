"""The outcome writer: records how runs ended, without holding their slots.

Slots hand each finished run's :class:`~dirt.attempts.Outcome` to
:meth:`OutcomeWriter.submit` and go on with their next task; a thread of the
writer turns outcomes into documents (:mod:`dirt.transitions`) and writes
whatever is pending in one group commit. Every write stays revision-checked:

* a conflict means the document changed meanwhile: it is read again, and if
  this server still holds that attempt (a user edited another field) the
  outcome is applied to the new revision; otherwise the task was taken over
  and the outcome is dropped, so a result is recorded once;
* while CouchDB is unreachable, writes are retried with growing delays
  (``sleep`` is injectable): nothing is lost while the server lives. Only
  :meth:`close` gives up, at its deadline, leaving those tasks to lease
  recovery;
* a result CouchDB will never store (too large, refused by validation) is
  replaced by an ``error`` saying so, so the task still ends.

Each written (or dropped) outcome comes back to the loop as
:class:`~dirt.events.OutcomeWritten`.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from . import transitions
from .attempts import Outcome, Run
from .couch import Database
from .documents import TaskState
from .errors import Conflict, CouchError, NotFound
from .events import OutcomeWritten
from .groupcommit import GroupCommit
from .taskdoc import TaskDoc, parse_task

log = logging.getLogger(__name__)

CANCELLED = TaskState.CANCELLED.value
LINGER = 0.01          # seconds an outcome may wait for others while outcomes stream in
BUSY_WINDOW = 0.05     # ... which is when the last batch went out less than this ago
BATCH = 100            # outcomes that go out at once without waiting


def outcome_document(task: TaskDoc, outcome: Outcome, now: float, max_attempts: int) -> dict | None:
    """The next revision of ``task`` recording ``outcome`` (None: write nothing)."""
    if outcome.kind == "final":
        return transitions.ended(task, outcome.state, outcome.outcome, outcome.reason, now, outcome.extra,
                                 started=outcome.started, attempt_fields=outcome.attempt)
    if outcome.kind == "requeue":
        return transitions.requeued(task, outcome.outcome, outcome.reason, now, outcome.counts, max_attempts,
                                    started=outcome.started, extra=outcome.extra, attempt_fields=outcome.attempt)
    if outcome.kind == "cancelled" and task.state == CANCELLED:
        doc = transitions.ended(task, CANCELLED, "cancelled", outcome.reason, now, outcome.extra,
                                started=outcome.started, attempt_fields=outcome.attempt)
        if task.reason:             # the canceller's own words on why, if any, stay
            doc["reason"] = task.reason
        return doc
    return None


def still_ours(task: TaskDoc, run: Run, server: str, outcome: Outcome) -> bool:
    """Whether ``server`` may still write this run's outcome onto revision ``task``."""
    if outcome.kind == "cancelled":
        return task.state == CANCELLED and task.lease is not None and task.lease.server == server \
            and task.attempt == run.attempt
    return transitions.is_ours(task, server, run.attempt)


class OutcomeWriter:
    """See the module docstring. ``events`` gets an OutcomeWritten per run."""

    def __init__(self, db: Database, writer: GroupCommit, events: Any, server_id: str, max_attempts: int, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.db = db
        self.writer = writer
        self.events = events
        self.server_id = server_id
        self.max_attempts = max_attempts
        self.clock = clock
        self.sleep = sleep
        self._pending: list[tuple[Run, Outcome]] = []
        self._cond = threading.Condition()
        self._busy = 0
        self._deadline: float | None = None
        self._closed = False
        self._waiting: set[str] = set()       # runs whose outcome waits for the database (logged once)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="outcomes")
        self._thread.start()

    def submit(self, run: Run, outcome: Outcome) -> None:
        """Record ``outcome`` of ``run`` (soon; never blocks)."""
        with self._cond:
            self._pending.append((run, outcome))
            self._busy += 1
            self._cond.notify()

    @property
    def busy(self) -> int:
        """Outcomes submitted and not yet written or dropped."""
        return self._busy

    def close(self, timeout: float | None = None) -> int:
        """Write what is pending, giving up after ``timeout`` seconds (None: wait
        while it takes); how many outcomes were left unwritten."""
        with self._cond:
            if timeout is not None:
                deadline = time.monotonic() + timeout
                self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)
            self._closed = True
            self._cond.notify_all()
            remaining = None if self._deadline is None else max(0.0, self._deadline - time.monotonic()) + 1.0
            self._cond.wait_for(lambda: self._busy == 0, remaining)
            left = self._busy
        return left

    # -- the writer thread ---------------------------------------------------------------
    def _loop(self) -> None:
        delay = 0.5
        last_sent = 0.0
        while True:
            with self._cond:
                while not self._pending and not (self._closed and self._busy == 0):
                    self._cond.wait(0.5)
                if not self._pending and self._closed:
                    return
                # Busy (a batch went out just now): let more outcomes gather for a
                # few milliseconds, so a stream of short tasks costs one request per
                # batch, not per task. An outcome after a quiet spell goes at once.
                linger_until = time.monotonic() + LINGER
                while time.monotonic() - last_sent < BUSY_WINDOW and len(self._pending) < BATCH \
                        and not self._closed and time.monotonic() < linger_until:
                    self._cond.wait(max(0.0, linger_until - time.monotonic()))
                batch, self._pending = self._pending, []
            last_sent = time.monotonic()
            retry = self._write(batch)
            if not retry:
                delay = 0.5
                continue
            if self._deadline is not None and time.monotonic() >= self._deadline:
                for run, outcome in retry:
                    log.error("Task %s: gave up recording its outcome (%s) as dirt serve stops; its lease "
                              "will expire and it will run again", run.id, outcome.outcome)
                    self._done(run, None)
                continue
            with self._cond:
                self._pending = retry + self._pending
            pause = delay if self._deadline is None else min(delay, max(0.0, self._deadline - time.monotonic()))
            self.sleep(pause)
            delay = min(delay * 2, 10.0)

    def _write(self, batch: list[tuple[Run, Outcome]]) -> list[tuple[Run, Outcome]]:
        """Write one batch; what has to be tried again (the database is unreachable)."""
        now = self.clock()
        docs, items = [], []
        for run, outcome in batch:
            doc = outcome_document(run.task, outcome, now, self.max_attempts)
            if doc is None:
                self._done(run, None)
            else:
                docs.append(doc)
                items.append((run, outcome))
        if not docs:
            return []
        try:
            saved = self.writer.save_many(docs)
        except CouchError as exc:       # the writer itself is closed
            saved = [exc] * len(docs)
        retry = []
        for (run, outcome), result in zip(items, saved):
            if not isinstance(result, CouchError):
                run.task = parse_task(result)
                self._log(run, outcome)
                self._done(run, result)
            elif isinstance(result, Conflict):
                again = self._reread(run, outcome)
                if again is not None:
                    retry.append(again)
            elif result.permanent and outcome.extra.get("results") is not None:
                # CouchDB will never take this result: record that instead, so the task still ends.
                retry.append((run, Outcome("final", "bad_result", f"CouchDB refused to store the task's result: "
                                           f"{result}", TaskState.ERROR.value, started=outcome.started)))
            elif result.permanent:
                log.error("Task %s: CouchDB refuses its outcome (%s); leaving it to lease recovery", run.id, result)
                self._done(run, None)
            else:
                self._not_yet(run, result)
                retry.append((run, outcome))
        return retry

    def _reread(self, run: Run, outcome: Outcome) -> tuple[Run, Outcome] | None:
        try:
            latest = parse_task(self.db.get(run.id))
        except NotFound:
            self._done(run, None)
            return None
        except CouchError as exc:
            self._not_yet(run, exc)
            return run, outcome
        if not still_ours(latest, run, self.server_id, outcome):
            log.warning("Task %s: outcome of attempt %d discarded, the task was taken over", run.id, run.attempt)
            self._done(run, None)
            return None
        run.task = latest        # someone edited other fields meanwhile: keep their edits, apply ours again
        return run, outcome

    def _not_yet(self, run: Run, error: CouchError) -> None:
        """Say once per run that its outcome waits for the database (retries go on quietly)."""
        if run.id not in self._waiting:
            self._waiting.add(run.id)
            log.warning("Task %s: cannot record the outcome yet (%s); retrying", run.id, error)

    def _done(self, run: Run, doc: dict | None) -> None:
        self._waiting.discard(run.id)
        self.events.put(OutcomeWritten(run, doc))
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    @staticmethod
    def _log(run: Run, outcome: Outcome) -> None:
        if outcome.kind == "final" and outcome.state in (TaskState.PASSED.value, TaskState.FAILED.value):
            files = [name for name, att in (outcome.extra.get("_attachments") or {}).items() if not att.get("stub")]
            log.info("Task %s pushed to db", run.id)
            for name in files:
                log.info("Task %s: file %s attached", run.id, name)
            if outcome.state == TaskState.FAILED.value:
                log.warning("Task %s failed: %s", run.id, outcome.reason or "")
        elif outcome.kind == "final":
            log.warning("Task %s %s: %s", run.id, outcome.state, outcome.reason or "")
        elif outcome.kind == "requeue":
            log.warning("Task %s back to waiting: %s", run.id, outcome.reason)
        elif outcome.kind == "cancelled":
            log.info("Task %s: cancelled while running on %s", run.id, run.node)
