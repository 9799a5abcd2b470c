"""The dirt server's loop: follow the database, place waiting tasks, keep track of runs.

One :class:`Scheduler` runs one loop, :meth:`Scheduler.step` (or
:meth:`Scheduler.run` until stopped, or until idle). Everything arrives as a
small event on one queue (:mod:`dirt.events`): changed documents from the
``_changes`` follower, nodes that came up or went down, runs that left their
slot, outcomes that were written. The loop applies them, then dispatches:
:class:`~dirt.placement.Placer` decides which waiting task goes to which node,
and the round's claims (revision-checked writes that take a lease), new
waiting reasons and errors go to CouchDB in one request. A 409 on a claim
means another server took the task first. Each claimed task goes to its
node's :class:`~dirt.attempts.Slots`, which run it and hand the outcome to
the :class:`~dirt.outcomes.OutcomeWriter`.

The parts, each in its own module: the waiting queue (:mod:`dirt.waiting`),
the node pool (:mod:`dirt.nodepool`), placement, attempts and slots, the
outcome writer, heartbeats and lease recovery (:mod:`dirt.heartbeat`,
:mod:`dirt.leases`), and the document transitions (:mod:`dirt.transitions`).
This module only holds them together; :func:`dirt.server.build_server` builds
the whole from settings.

The clock is injected (``clock``); :meth:`step` takes ``now`` for tests that
drive it.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from typing import Any, Callable

from . import output, snapshot, transitions
from .attempts import Executor, Outcome, Run, Slots
from .couch import Database
from .documents import TaskState, is_node, is_task
from .errors import Conflict, CouchError, DirtError, TaskNameError
from .events import (CaughtUp, DatabaseDown, DatabaseUp, DocChanged, LoadRead, NodeDown, NodeUp, OutcomeWritten,
                     PipelinesRead, RunFinished)
from .feed import ChangesFollower
from .groupcommit import GroupCommit
from .heartbeat import Heartbeat, ServerWatch, is_server
from .leases import lost_server
from .nodepool import NodePool
from .outcomes import OutcomeWriter
from .output import LogStreamer
from .pipeline import Pipelines
from .placement import Placer
from .plural import plural
from .runner import Shipment
from .settings import Project
from .taskdoc import TaskDoc, parse_task
from .taskfiles import TaskFiles
from .waiting import WaitingQueue

log = logging.getLogger(__name__)

RECOVERY_INTERVAL = 1.0       # seconds between looks for tasks whose server is gone
REFRESH_INTERVAL = 300.0      # seconds between refreshes of dirt-serve's view while serving
TURNED_DOWN_RETRY = 5.0       # seconds before nodes the balancer declined are offered again


class Scheduler:
    """Runs a project's tasks from its database on its nodes; built by :func:`dirt.server.build_server`."""

    def __init__(self, db: Database, project: Project, *, server_id: str, events: "queue.Queue[Any]",
                 writer: GroupCommit, pool: NodePool, waiting: WaitingQueue, placer: Placer,
                 executor: Executor, outcomes: OutcomeWriter, heartbeat: Heartbeat, watch: ServerWatch,
                 taskfiles: TaskFiles, streamer: LogStreamer, clock: Callable[[], float] = time.time,
                 on_final: Callable[[dict], None] | None = None, pipelines: Pipelines | None = None,
                 on_other: Callable[[dict], None] | None = None):
        self.db = db
        self.project = project
        self.settings = project.settings
        self.server_id = server_id
        self.events = events
        self.writer = writer
        self.pool = pool
        self.waiting = waiting
        self.placer = placer
        self.executor = executor
        self.outcomes = outcomes
        self.heartbeat = heartbeat
        self.watch = watch
        self.taskfiles = taskfiles
        self.streamer = streamer
        self.clock = clock
        self.on_final = on_final
        self.on_other = on_other        # told of documents that are not tasks, nodes or servers (bisections)
        self.pipelines = pipelines or Pipelines()   # records whose tasks run after others (dirt.pipeline)
        self._reading_pipelines = False             # a thread reads what the book lacks
        self.runs: dict[str, Run] = {}            # our attempts, from claim until their outcome is written
        self.slots: dict[str, Slots] = {}         # by node name
        self.finished: Counter = Counter()        # final states reached since start, by state
        self.follower: ChangesFollower | None = None
        self.caught_up = False
        self.db_down: str | None = None
        self.dispatching = True
        self._dirty = True
        self._redispatch_at = 0.0
        self._last_recovery = 0.0
        self._last_refresh = 0.0
        self._warned: set[tuple[str, str]] = set()
        self._from_snapshot = False
        self._written: dict[str, int] = {}        # task id -> revision our last outcome wrote (late echoes)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Read what is unfinished and start following the database."""
        log.info("Connected to db at %s", self.db.url)
        since: Any = 0
        try:
            loaded = snapshot.load(self.db)
        except CouchError as exc:
            log.warning("could not read the unfinished tasks from _design/%s (%s); reading the whole history",
                        snapshot.DESIGN, exc)
            loaded = None
        self._from_snapshot = loaded is not None
        if loaded is not None:
            since, docs = loaded
            for doc in docs:
                if is_server(doc):
                    if doc.get("server_id") != self.server_id:
                        self.watch.saw(doc, at_start=True)
                else:
                    self._on_doc(doc)
        self._last_refresh = self.clock()
        self.follower = ChangesFollower(self.db, self.events, since=since)
        self.follower.start()

    def run(self, until_idle: bool = False, stop: threading.Event | None = None,
            idle_timeout: float | None = None) -> None:
        """Loop until ``stop`` is set, or (``until_idle``) nothing is left to do."""
        if self.follower is None:
            self.start()
        started = time.monotonic()
        while not (stop and stop.is_set()):
            self.step()
            if until_idle and self.idle():
                return
            if idle_timeout is not None and time.monotonic() - started > idle_timeout:
                raise DirtError(f"still busy after {idle_timeout:g} s")

    def idle(self) -> bool:
        """Caught up, nothing of ours running or being written, no task held by
        a server that may be gone (it would be recovered), and no waiting task
        that a connected node could take now."""
        if not self.caught_up or self.runs or self.outcomes.busy or self.pool.connecting():
            return False
        if not self.events.empty():
            return False
        now = self.clock()
        if any(t.lease is None or not self.watch.beating(t.lease.server, now)
               for t in self.waiting.running_elsewhere()):
            return False
        room = self._room()
        if not any(room.values()):
            return True
        views = self.pool.views(self._busy(), room)
        plan = self.placer.plan(self.waiting.waiting(), views, self.pool.version, set(), pipelines=self.pipelines)
        if self.pipelines.busy and not self._reading_pipelines:
            self._dirty = True          # the next round starts the read
        return not (plan.claims or plan.skips or self.pipelines.busy or self._reading_pipelines)

    def step(self, now: float | None = None, timeout: float = 1.0) -> None:
        """Apply the events that are waiting (or the first within ``timeout``), then dispatch."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            event = None
        while event is not None:
            self._handle(event)
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                event = None
        now = self.clock() if now is None else now
        self.pool.maintain(now, busy={run.node for run in self.runs.values()})
        if self.heartbeat.due(now):
            self.heartbeat.beat(now, list(self.runs), self.pool.summary())
        if self.caught_up and now - self._last_recovery >= RECOVERY_INTERVAL:
            self._last_recovery = now
            self._recover(now)
        if now - self._last_refresh >= REFRESH_INTERVAL:
            self._last_refresh = now
            threading.Thread(target=snapshot.refresh, args=(self.db,), daemon=True, name="refresh").start()
        if self._redispatch_at and now >= self._redispatch_at:
            self._redispatch_at = 0.0
            self.waiting.refresh_all()
            self._dirty = True
        if self.dispatching and self.caught_up and self.db_down is None and self._dirty:
            self._dirty = False
            self._dispatch(now)

    def stop_dispatching(self) -> None:
        """Warm stop: start nothing new; running tasks go on to finish."""
        self.dispatching = False
        for slots in self.slots.values():
            for run in slots.drain():
                self._hand_back(run, "not_started", "dirt serve stopped before the task started")

    def hand_back(self, timeout: float = 10.0) -> int:
        """Cold stop: kill what runs here and put those tasks back to waiting.

        Gives up writing after ``timeout`` seconds (CouchDB unreachable): those
        tasks then run again once their lease runs out. How many were left so.
        """
        self.stop_dispatching()
        for run in list(self.runs.values()):
            run.stop_with(Outcome("requeue", "handed_back",
                                  "dirt serve stopped before the task finished", counts=False))
        deadline = time.monotonic() + timeout
        while any(run.outcome is None and run.in_slot for run in self.runs.values()) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        return self.outcomes.close(max(0.5, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop following, say this server stopped, and close every node connection."""
        if self.follower:
            self.follower.stop()
        for slots in self.slots.values():
            slots.close()
        self.outcomes.close(timeout=5.0)
        self.streamer.close()
        self.heartbeat.stop()
        self.writer.close()
        self.pool.close()

    def progress(self) -> str:
        """One line on where this server stands: finished here by state, running, waiting."""
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.finished.items())) or "none"
        return f"finished here: {done}; running {len(self.runs)}; waiting {self.waiting.count_waiting()}"

    # -- events --------------------------------------------------------------------------
    def _handle(self, event: Any) -> None:
        try:
            if isinstance(event, DocChanged):
                self._on_doc(event.doc)
            elif isinstance(event, RunFinished):
                self._dirty = True      # a slot is free
            elif isinstance(event, OutcomeWritten):
                self._on_outcome(event.run, event.doc)
            elif isinstance(event, NodeUp):
                if self.pool.on_up(event):
                    self._nodes_changed(event.name)
            elif isinstance(event, NodeDown):
                if self.pool.on_down(event):
                    self._nodes_changed(event.name)
                self._requeue_unstarted(event.name, f"node {event.name} was lost: {event.reason}")
            elif isinstance(event, LoadRead):
                self.pool.on_load(event)
            elif isinstance(event, PipelinesRead):
                self._pipelines_read(event)
            elif isinstance(event, CaughtUp):
                if not self.caught_up and not self._from_snapshot:
                    threading.Thread(target=snapshot.build_later, args=(self.db,), daemon=True,
                                     name="build-view").start()
                if not self.caught_up:
                    log.info("dirt is running: %s, %s", plural(len(self.waiting), "unfinished task"),
                             plural(len(self.pool.nodes), "node"))
                self.caught_up = True
                self._dirty = True
            elif isinstance(event, DatabaseDown):
                self.db_down = event.reason
                log.error("lost the database: %s; retrying", event.reason)
            elif isinstance(event, DatabaseUp):
                self.db_down = None
                self._dirty = True
                log.info("database is back at %s", self.db.url)
        except Exception as exc:  # one bad event must never stop the server
            self._could_not_handle(event, exc)

    def _could_not_handle(self, event: Any, exc: Exception) -> None:
        """Log a bug once; a task document that caused it ends in error, so nothing waits on it forever."""
        doc = event.doc if isinstance(event, DocChanged) else None
        doc_id = doc.get("_id") if isinstance(doc, dict) else None
        log.exception("could not handle %s%s", type(event).__name__, f" of {doc_id}" if doc_id else "")
        if not (isinstance(doc, dict) and is_task(doc) and isinstance(doc_id, str)):
            return
        try:
            task = parse_task(doc)
            if not task.final and doc_id not in self.runs:
                self.writer.save(transitions.errored(task, f"dirt could not handle this document: "
                                                           f"{type(exc).__name__}: {exc}", self.clock()))
                self.waiting.remove(doc_id)
        except Exception:
            log.exception("could not record the error on task %s either", doc_id)

    def _on_doc(self, doc: dict) -> None:
        doc_id = doc.get("_id")
        if not isinstance(doc_id, str):
            return
        if doc.get("_deleted"):
            self.waiting.remove(doc_id)
            self._refresh_followers(self.pipelines.forget(doc_id))
            run = self.runs.get(doc_id)
            if run is not None:
                log.warning("Task %s: stopped here (its document was deleted)", doc_id)
                run.stop_with(Outcome("drop", "deleted"))
            if self.pool.forget_doc(doc_id):
                self._nodes_changed(None)
            self.watch.forget(doc_id)
            return
        if is_node(doc):
            self.pool.apply_doc(doc)
            self._nodes_changed(None)
            return
        if is_server(doc):
            if doc.get("server_id") != self.server_id:
                self.watch.saw(doc)
            return
        if not is_task(doc):
            self.waiting.remove(doc_id)
            if self.on_other is not None:
                self.on_other(doc)
            return
        task = parse_task(doc)
        self._warn(task)
        self._follow(task)
        if task.rev_number <= self._written.get(doc_id, 0):
            return                      # a late echo of a run this server already finished
        run = self.runs.get(doc_id)
        if run is not None:
            self._on_our_task(run, task)
            return
        if task.final:
            if self.waiting.remove(doc_id) is not None:
                self._announce(doc)     # finished elsewhere (another server, a user cancelling)
            return
        if task.running and task.lease is not None and task.lease.server == self.server_id:
            # Claimed by us, yet nothing of ours runs it: the claim reached CouchDB
            # though its answer did not reach us (CouchDB went down meanwhile).
            self._release_unstarted(task)
            return
        if self.waiting.put(task):
            self._dirty = True

    def _on_our_task(self, run: Run, task: TaskDoc) -> None:
        """Someone changed a task we run: a cancel, a take-over, or an edit to keep."""
        if task.rev_number <= run.task.rev_number or run.outcome is not None:
            return   # the echo of our own write (or older); once it ended, the outcome writer settles it
        if task.state == TaskState.CANCELLED.value:
            log.warning("Task %s: cancelled; stopping it on %s", task.id, run.node)
            run.task = task
            who = f" by {task.cancelled_by}" if task.cancelled_by else ""
            run.stop_with(Outcome("cancelled", "cancelled", f"cancelled{who} while it ran"))
        elif not transitions.is_ours(task, self.server_id, run.attempt):
            log.warning("Task %s: stopped here (another server took it over)", task.id)
            run.stop_with(Outcome("drop", "taken_over"))
        else:
            run.task = task             # an edit to another field: the outcome is written onto it

    def _on_outcome(self, run: Run, doc: dict | None) -> None:
        self.runs.pop(run.id, None)
        self._dirty = True
        if run.log is not None:
            self.streamer.finished(run.log)
        if doc is None:
            return
        task = parse_task(doc)
        self._follow(task)
        self._written[task.id] = task.rev_number
        if len(self._written) > 50_000:
            self._written.pop(next(iter(self._written)))
        if task.final:
            self._announce(doc)
        elif task.waiting:
            self.waiting.put(task)

    def _follow(self, task: TaskDoc) -> None:
        """Keep the book of pipelines current with ``task``."""
        self._refresh_followers(self.pipelines.saw(task))

    def _refresh_followers(self, task_ids: set[str]) -> None:
        """Followers of a task that changed get a new look in the next round."""
        if task_ids:
            self.waiting.refresh(task_ids)
            self._dirty = True

    def _nodes_changed(self, name: str | None) -> None:
        self.waiting.refresh_all()
        self._dirty = True
        self.heartbeat.soon()
        if name is not None and name in self.slots:
            node = self.pool.nodes.get(name)
            if node is not None:
                self.slots[name].resize(node.slots)

    def _warn(self, task: TaskDoc) -> None:
        for warning in task.warnings:
            key = (task.id, warning)
            if key not in self._warned:
                if len(self._warned) > 100_000:
                    self._warned.clear()
                self._warned.add(key)
                log.warning("Task %s: %s", task.id, warning)

    # -- dispatch -------------------------------------------------------------------------
    def _busy(self) -> dict[str, int]:
        """Tasks running on each node now, by any server."""
        busy = self.waiting.busy_elsewhere()
        for run in self.runs.values():
            if run.outcome is None:
                busy[run.node] += 1
        return busy

    def _room(self) -> dict[str, int]:
        """How many more tasks this server may claim for each ready node now."""
        elsewhere = self.waiting.busy_elsewhere()
        ours: Counter = Counter(run.node for run in self.runs.values() if run.outcome is None)
        room = {}
        for name, node in self.pool.nodes.items():
            if not (node.ready and node.enabled):
                continue
            slots = self.slots.get(name)
            ahead = slots.prefetch() if slots is not None else 0
            room[name] = max(0, node.slots + ahead - ours[name] - elsewhere[name])
        return room

    def _read_pipelines(self) -> None:
        """Have a thread read what the book of pipelines lacks (every task of records
        whose followers just arrived, tasks named by id in an ``after``); the loop
        takes the answer as an event, so a slow view never holds it up."""
        records, ids = self.pipelines.wanted()
        if self._reading_pipelines or not (records or ids):
            return
        self._reading_pipelines = True

        def read() -> None:
            try:
                tasks = snapshot.record_tasks(self.db, records)
                found = snapshot.tasks_by_id(self.db, ids) if ids else []
                self.events.put(PipelinesRead(tasks, found))
            except CouchError as exc:
                self.events.put(PipelinesRead({}, [], str(exc)))

        threading.Thread(target=read, daemon=True, name="pipelines").start()

    def _pipelines_read(self, event: PipelinesRead) -> None:
        self._reading_pipelines = False
        self._dirty = True
        if event.error is not None:
            log.warning("could not read the tasks that tasks run after (%s); trying again", event.error)
            self._redispatch_at = self.clock() + 1.0
            return
        self._refresh_followers(self.pipelines.loaded(event.records, event.found))

    def _dispatch(self, now: float) -> None:
        """Place waiting tasks on free slots; store why others wait or cannot run."""
        room = self._room()
        fresh = self.waiting.take_fresh()
        views = self.pool.views(self._busy(), room)
        tasks = self.waiting.waiting(None if any(room.values()) else fresh)
        decided = self.placer.plan(tasks, views, self.pool.version, fresh, now=now, pipelines=self.pipelines)
        self._read_pipelines()          # what this round could not decide yet
        if decided.turned_down:
            self._redispatch_at = now + TURNED_DOWN_RETRY
        if decided.next_deadline is not None:     # a task that no node can run reaches its wait_timeout
            self._redispatch_at = min(self._redispatch_at or decided.next_deadline, decided.next_deadline)
        if not decided:
            return
        claims, codes = [], []
        for task, node in decided.claims:
            try:
                codes.append(self.taskfiles.shipment(task.name))
            except TaskNameError as exc:
                decided.errors.append((task, str(exc)))
                continue
            claims.append((task, node))
        docs = [transitions.claimed(task, node, self.server_id, now, self.settings.lease_seconds)
                for task, node in claims]
        docs += [transitions.waiting_because(task, reason) for task, reason in decided.waits]
        docs += [transitions.errored(task, reason, now) for task, reason in decided.errors]
        docs += [transitions.skipped(task, reason, now) for task, reason in decided.skips]
        try:
            saved = self.writer.save_many(docs)
        except CouchError as exc:
            log.warning("could not dispatch: %s", exc)
            saved = [exc] * len(docs)
        results = iter(saved)
        for (task, node), code, result in zip(claims, codes, results):
            if isinstance(result, CouchError):
                if isinstance(result, Conflict):
                    self.waiting.remove(task.id)   # someone else has it; the feed says who
                else:
                    self._dirty = True
                continue
            self._start(parse_task(result), node, code)
        for (task, reason), result in zip(decided.waits, results):
            if not isinstance(result, CouchError):
                self.waiting.put(parse_task(result))
                log.info("Task %s waits: %s", task.id, reason)
        for (task, reason), result in zip(decided.errors, results):
            if not isinstance(result, CouchError):
                self.waiting.remove(task.id)
                self._follow(parse_task(result))
                log.error("Task %s: error: %s", task.id, reason)
                self._announce(result)
        for (task, reason), result in zip(decided.skips, results):
            if not isinstance(result, CouchError):
                self.waiting.remove(task.id)
                self._follow(parse_task(result))
                log.warning("Task %s skipped: %s", task.id, reason)
                self._announce(result)

    def _start(self, task: TaskDoc, node: str, code: Shipment) -> None:
        self.waiting.remove(task.id)
        self._follow(task)
        run = Run(task, node, task.attempt or 1, code, after=tuple(self.pipelines.dependency_ids(task)))
        self.runs[task.id] = run
        slots = self.slots.get(node)
        if slots is None:
            size = self.pool.nodes[node].slots if node in self.pool.nodes else 1
            slots = self.slots[node] = Slots(node, self.executor, self.outcomes.submit, self.events, size)
        log.info("%s -> %s", task.id, node)
        slots.offer(run)

    # -- giving tasks back ------------------------------------------------------------------
    def _requeue_unstarted(self, node: str, reason: str) -> None:
        """Runs claimed for a node that went down and never started there: back to waiting."""
        slots = self.slots.get(node)
        if slots is None:
            return
        for run in slots.drain():
            self._hand_back(run, "not_started", reason)

    def _hand_back(self, run: Run, outcome: str, reason: str) -> None:
        run.outcome = Outcome("requeue", outcome, reason, counts=False)
        self.outcomes.submit(run, run.outcome)

    def _release_unstarted(self, task: TaskDoc) -> None:
        """Put a task we claimed but never started back to waiting, at once."""
        doc = transitions.ended(task, TaskState.WAITING.value, "not_started",
                                "the claim was written but its answer was lost; nothing ran", self.clock())
        doc.pop("reason", None)
        try:
            self.waiting.put(parse_task(self.writer.save(doc)))
            self._dirty = True
            log.info("Task %s: released a claim that never started", task.id)
        except CouchError as exc:
            log.warning("Task %s: could not release an unstarted claim yet (%s)", task.id, exc)
            self.waiting.put(task)      # lease recovery will get it

    def _recover(self, now: float) -> None:
        """Put back running tasks whose server is gone."""
        for task in self.waiting.running_elsewhere():
            reason = lost_server(task, self.watch, now)
            if reason is None:
                continue
            try:
                left = output.assemble(self.db, task.id, task.attempt or 1, reason) if task.attempt else None
                extra, fields = ({"_attachments": left[0]}, {"log": left[1]}) if left else ({}, {})
                doc = transitions.recovered(task, reason, now, self.settings.max_attempts, extra, fields)
                if task.problem:       # it cannot run again as written: say why, not that it was lost
                    doc = transitions.errored(parse_task({**doc, "_rev": task.rev}), task.problem, now)
                saved = parse_task(self.writer.save(doc))
            except Conflict:
                continue
            except CouchError as exc:
                log.warning("Task %s: could not recover it yet (%s)", task.id, exc)
                return
            if left and left[2]:
                self.writer.save_many(left[2])      # its chunks: the log is attached to the task now
            log.warning("Task %s recovered: %s", task.id, reason)
            if saved.final:
                self.waiting.remove(task.id)
                self._announce(saved.doc)
            else:
                self.waiting.put(saved)
                self._dirty = True

    def _announce(self, doc: dict) -> None:
        """Count a task that reached a final state and tell ``on_final`` (notifications); never raises."""
        task = parse_task(doc)
        self.finished[task.state] += 1
        if self.on_final is None:
            return
        try:
            self.on_final(doc)
        except Exception:
            log.exception("Task %s: could not pass its outcome on for notification", task.id)
