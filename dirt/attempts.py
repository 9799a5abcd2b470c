"""Attempts: running claimed tasks on their nodes, a slot at a time.

A :class:`Run` is one attempt of one task by this server, from its claim to
its recorded outcome. Each node has :class:`Slots`: as many threads as the
node runs tasks at once, taking claimed runs from the node's queue one after
another. A slot that finishes a task hands its outcome to the outcome writer
(:mod:`dirt.outcomes`) and takes the next queued run at once, without waiting
for the write or for the loop, so a node's slots stay busy while the database
catches up. The loop may claim a few tasks ahead of free slots for that
(only while tasks are short: see :meth:`Slots.prefetch`).

:class:`Executor` turns running one attempt into an :class:`Outcome` (what
the task's document should say), whatever went wrong on the way.
"""
from __future__ import annotations

import collections
import logging
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from . import __version__, documents
from .documents import TaskState
from .errors import DirtError, NodeUnreachable
from .events import NodeDown, RunFinished
from .output import AttemptLog, LogStreamer
from .runner import NodeConnection, NoResult, RunHandle, Shipment, TaskCrashed, TaskRaised, TaskTimedOut
from .settings import Settings
from .taskdoc import TaskDoc

log = logging.getLogger(__name__)

ERROR = TaskState.ERROR.value
SHORT_TASK = 1.0        # seconds: tasks shorter than this are claimed ahead of a free slot
AHEAD = 0.05            # seconds of work per slot to hold claimed ahead, for short tasks
MAX_TIMEOUT = 10 * 365 * 86400.0   # seconds: a longer timeout (1e300 is valid JSON) means "none", in practice
MAX_AHEAD = 16          # at most this many claimed ahead per slot


@dataclass
class Outcome:
    """How an attempt ended, before it is written.

    ``kind`` is ``final`` (``state`` is passed, failed or error), ``requeue``
    (back to waiting, ``counts`` towards max_attempts if it lost its node),
    ``cancelled`` (a user cancelled it: record the attempt's end on their
    cancelled document) or ``drop`` (write nothing: the task was taken over
    or deleted).
    """

    kind: str
    outcome: str
    reason: str | None = None
    state: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    counts: bool = False
    started: float | None = None
    attempt: dict[str, Any] = field(default_factory=dict)    # fields of the attempt's entry: log, provenance


@dataclass(eq=False)
class Run:
    """One attempt of one task, run by this server."""

    task: TaskDoc            # our latest copy of its document (its revision is current while we hold it)
    node: str
    attempt: int
    code: Shipment
    handle: RunHandle = field(default_factory=RunHandle)
    log: AttemptLog | None = None    # its captured output, once it started
    stop: Outcome | None = None      # set when it is stopped from outside: how it then ends
    outcome: Outcome | None = None
    in_slot: bool = False            # taken by a slot (started, or about to be)
    after: tuple[str, ...] = ()      # ids of the tasks it runs after (their results are handed to it)

    @property
    def id(self) -> str:
        return self.task.id

    def stop_with(self, outcome: Outcome) -> None:
        """Stop this run (kill it if it runs); it ends with ``outcome``. The first stop wins."""
        if self.stop is None:
            self.stop = outcome
        self.handle.kill()


class Executor:
    """Runs one attempt on its node and says how it ended (never raises).

    The outcome carries the attempt's captured output (attached to the task)
    and its provenance: the sha256 of the module shipped, dirt's version, the
    node's Python and platform, and the kwargs as sent.
    """

    def __init__(self, settings: Settings, project_name: str, connection: Callable[[str], NodeConnection | None],
                 events: Any, streamer: LogStreamer | None = None,
                 handoff: Callable[[Run], dict[str, str]] | None = None):
        self.settings = settings
        self.project_name = project_name
        self.connection = connection
        self.events = events
        self.streamer = streamer
        self.handoff = handoff       # more environment for a run (dirt.handoff: what its dependencies returned)

    def execute(self, run: Run) -> Outcome:
        task = run.task
        run.log = AttemptLog(task.id, task.record_id, run.attempt, run.node, self.settings.log_max_bytes)
        if self.streamer is not None:
            self.streamer.follow(run.log)
        outcome = self._run(run)
        return self._with_log(run, outcome)

    def _run(self, run: Run) -> Outcome:
        task = run.task
        env = {"DIRT_TASK_ID": task.id, "DIRT_RECORD_ID": task.record_id or "", "DIRT_PROJECT": self.project_name}
        if self.handoff is not None:
            try:
                env.update(self.handoff(run))
            except DirtError as exc:
                return Outcome("requeue", "not_started", "could not read what the tasks it runs after returned "
                               f"({exc})", counts=False)
        timeout = min(task.timeout or self.settings.task_timeout, MAX_TIMEOUT)
        conn = self.connection(run.node)
        try:
            if conn is None:
                raise NodeUnreachable(run.node, "not connected")
            returned = conn.run_task(task.id, run.code, task.kwargs, timeout, env, handle=run.handle,
                                     on_output=run.log.add)
        except TaskRaised as exc:
            return Outcome("final", "raised", str(exc), ERROR, started=run.handle.started,
                           extra={"traceback": exc.traceback, "results": {"success": False, "reason": str(exc)}})
        except TaskTimedOut as exc:
            return Outcome("final", "timeout", str(exc), ERROR, started=run.handle.started)
        except NoResult as exc:
            return Outcome("final", "no_result", str(exc), ERROR, started=run.handle.started)
        except TaskCrashed as exc:
            if run.stop is not None:
                return run.stop
            return Outcome("final", "crashed", str(exc), ERROR, started=run.handle.started)
        except NodeUnreachable as exc:
            if run.stop is not None:
                return run.stop
            self.events.put(NodeDown(run.node, exc.reason, conn))
            started = run.handle.started is not None
            return Outcome("requeue", "node_lost" if started else "not_started",
                           f"node {run.node} was lost: {exc.reason}", counts=started, started=run.handle.started)
        except Exception as exc:   # never let a slot thread die, whatever the bug
            log.exception("Task %s: unexpected failure", task.id)
            return Outcome("final", "crashed", f"dirt failed to run it: {exc}", ERROR, started=run.handle.started)
        if run.stop is not None:
            return run.stop
        try:
            results, attachments, state = documents.build_results(
                returned, self.settings.max_result_bytes, task.doc.get("_attachments"),
                serve_html=self.settings.serve_html_attachments)
        except documents.BadResult as exc:
            return Outcome("final", "bad_result", str(exc), ERROR, started=run.handle.started)
        extra: dict[str, Any] = {"results": results, "attach_links": results.get("attach_links", [])}
        if attachments:
            extra["_attachments"] = attachments
        return Outcome("final", state, results.get("reason") if isinstance(results.get("reason"), str) else None,
                       state, extra=extra, started=run.handle.started)

    def _with_log(self, run: Run, outcome: Outcome) -> Outcome:
        """The outcome with the attempt's log attached and its provenance recorded."""
        if outcome.kind == "drop" or run.handle.started is None:
            if run.log is not None:
                run.log.final()
            return outcome
        cut_short = outcome.reason if outcome.kind != "final" or outcome.outcome in CUT_SHORT else None
        attempt = dict(outcome.attempt)
        worker = run.handle.worker
        attempt["provenance"] = {"sha256": run.code.sha256, "dirt": __version__,
                                 "python": worker.python if worker else None,
                                 "platform": worker.platform if worker else None, "kwargs": run.task.kwargs}
        extra = dict(outcome.extra)
        written = run.log.final(cut_short) if run.log is not None else None
        if written is not None:
            files, attempt["log"] = written
            extra["_attachments"] = {**(extra.get("_attachments") or {}), **files}
        return replace(outcome, extra=extra, attempt=attempt)


# Outcomes of a final attempt that stopped the task before it ended by itself: its log says so.
CUT_SHORT = ("timeout", "crashed")


class Slots:
    """The slot threads of one node. The loop :meth:`offer` s claimed runs; each
    slot runs them in turn, hands the outcome to ``finish`` and takes the next."""

    def __init__(self, node: str, executor: Executor, finish: Callable[[Run, Outcome], None], events: Any,
                 size: int):
        self.node = node
        self.executor = executor
        self.finish = finish
        self.events = events
        self._queue: collections.deque[Run] = collections.deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._closed = False
        self._durations: collections.deque[float] = collections.deque(maxlen=20)
        self.resize(size)

    def resize(self, size: int) -> None:
        """Run up to ``size`` tasks at once (threads are added, never killed mid-task)."""
        with self._cond:
            self.size = max(1, size)
            while len(self._threads) < self.size:
                index = len(self._threads) + 1
                thread = threading.Thread(target=self._work, args=(index,), daemon=True,
                                          name=f"slot:{self.node}:{index}")
                self._threads.append(thread)
                thread.start()
            self._cond.notify_all()

    def offer(self, run: Run) -> None:
        with self._cond:
            self._queue.append(run)
            self._cond.notify()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return self._running

    def prefetch(self) -> int:
        """How many runs to claim ahead of free slots.

        None while tasks take a while (a long task never holds a claimed one
        back from other servers); for short ones, enough to keep every slot
        busy for about ``AHEAD`` seconds, so claims go to CouchDB in batches
        instead of one request per task.
        """
        durations = list(self._durations)
        if len(durations) < 3:
            return 0
        typical = statistics.median(durations)
        if typical >= SHORT_TASK:
            return 0
        return self.size * max(1, min(MAX_AHEAD, int(AHEAD / max(typical, 1e-4))))

    def drain(self) -> list[Run]:
        """Take back the runs no slot has started (the node is down, or we stop)."""
        with self._cond:
            runs, self._queue = list(self._queue), collections.deque()
        return runs

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _work(self, index: int) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._queue or self._running >= self.size or
                                            index > self.size):
                    self._cond.wait()
                if self._closed:
                    return
                run = self._queue.popleft()
                run.in_slot = True
                self._running += 1
            try:
                outcome = run.stop if run.stop is not None else self.executor.execute(run)
                if run.handle.started is not None and outcome.kind == "final":
                    self._durations.append(time.time() - run.handle.started)
                run.outcome = outcome
                self.finish(run, outcome)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
                self.events.put(RunFinished(run))
