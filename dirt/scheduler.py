"""The dirt server: follow the database, place waiting tasks on nodes, record outcomes.

One :class:`Scheduler` runs one loop (:meth:`Scheduler.step`, or
:meth:`Scheduler.run` until stopped or idle). Everything arrives as an event
on one queue: changed documents from the ``_changes`` follower, node
connections that came up or went down, and finished runs. The loop applies
them, then dispatches: for each waiting task, in priority order, it checks the
task (its module under ``tasks/``, its ``requires``, ``kwargs``), picks a
matching node with a free slot through the balancer, and *claims* the task
with a revision-checked write that also takes a lease. A 409 means another
server took it first. Each claimed task runs in a thread of its own that
executes it on the node (:mod:`dirt.runner`) and writes the outcome in one
revision-checked write. While it runs, the loop renews its lease; a task whose
lease ran out (its server died) is put back to waiting by whoever notices,
and a task whose node was lost is retried elsewhere, up to ``max_attempts``.

Threads: the loop, the changes follower, one per running task, one per node
connection being opened. Document writes for one task are serialized by that
run's lock; the loop never blocks on a node.
"""
from __future__ import annotations

import copy
import logging
import os
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from . import documents
from .balance import make_balancer
from .couch import Database
from .documents import TaskState
from .errors import Conflict, CouchError, DirtError, NodeUnreachable, RequirementError, TaskNameError
from .feed import ChangesFollower
from .groupcommit import GroupCommit
from .nodes import NodeState, core_task_source, gateway_spec, node_id
from .plural import plural
from .requirements import mismatch, parse_requirements
from .runner import NodeConnection, TaskCrashed, TaskRaised, TaskTimedOut
from .settings import Project
from .taskfiles import resolve_task, task_source

log = logging.getLogger(__name__)

PING_INTERVAL = 15.0
LAST_SEEN_INTERVAL = 60.0


@dataclass
class TaskRun:
    """One attempt of one task, run by this server."""

    task_id: str
    doc: dict                       # our latest copy (its _rev is current while we hold the lease)
    node: NodeState
    attempt: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False          # the lease was lost or the task cancelled: write nothing
    finished: bool = False
    handle: Any = None               # the runner's handle on the worker (to kill it)
    thread: threading.Thread | None = None


class Scheduler:
    """Runs a project's tasks from its database on its nodes.

    ``clock`` (wall time, seconds) is injectable so tests can expire leases
    without waiting. Call :meth:`run` (or :meth:`step` repeatedly).
    """

    def __init__(self, db: Database, project: Project, *, clock: Callable[[], float] = time.time,
                 server_id: str | None = None, on_final: Callable[[dict], None] | None = None):
        self.db = db
        self.on_final = on_final   # told of every task document this server moved to a final state
        self.finished: dict[str, int] = {}   # final states reached since start, by state
        self.project = project
        self.settings = project.settings
        self.clock = clock
        self.server_id = server_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self.tasks: dict[str, dict] = {}         # unfinished tasks not run by us (waiting, or running elsewhere)
        self.runs: dict[str, TaskRun] = {}       # tasks this server is running
        self.nodes: dict[str, NodeState] = {}    # by node name
        self.balancer = make_balancer(self.settings.load_balancer, self._read_load, self.settings.load_margin)
        self.follower: ChangesFollower | None = None
        self.caught_up = False
        self.db_down: str | None = None
        self.dispatching = True
        self._last_renew = 0.0
        self._checked: dict[tuple[str, str], str | None] = {}   # (id, rev) -> problem with the task
        self._matches: dict[tuple, tuple[list[NodeState], str | None]] = {}  # (id, rev, nodes version)
        self._nodes_version = 0                                  # bumped when any node changes
        self._last_recovery = 0.0
        self._order: list[str] = []                              # waiting task ids in dispatch order
        self._order_stale = True
        self._fresh: set[str] = set()                            # waiting tasks changed since last round
        self._sources: dict[Any, tuple[int, str]] = {}           # task file -> (mtime, source)
        self._finished_revs: dict[str, int] = {}                 # task id -> last rev our runs wrote
        self.writer = GroupCommit(db)
        self._redispatch_at = 0.0                                # when to look again at turned-down tasks
        self._dirty = True                                       # something changed since last dispatch

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Start following the database."""
        log.info("Connected to db at %s", self.db.url)
        self.follower = ChangesFollower(self.db, self.events)
        self.follower.start()

    def run(self, until_idle: bool = False, stop: threading.Event | None = None,
            idle_timeout: float | None = None) -> None:
        """Loop until ``stop`` is set, or (``until_idle``) nothing is left to do.

        Idle means: caught up with the database, nothing running, and no
        waiting task that a connected node could take.
        """
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
        if not self.caught_up or self.runs or any(n.connecting for n in self.nodes.values()):
            return False
        if not self.events.empty():
            return False
        self._count_busy()
        return not any(self._runnable_now(doc) for doc in self.tasks.values()
                       if documents.task_state(doc) == TaskState.WAITING.value)

    def step(self, timeout: float = 1.0) -> None:
        """Handle the events that are waiting (or the next one within ``timeout``), then dispatch."""
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
        self._maintain_nodes()
        self._renew_leases()
        self._recover_expired()
        if self._redispatch_at and self.clock() >= self._redispatch_at:
            self._redispatch_at = 0.0
            self._dirty = True
            self._fresh.update(self.tasks)
        if self.dispatching and self.caught_up and self.db_down is None and self._dirty:
            self._dirty = False
            self._dispatch()

    def stop_dispatching(self) -> None:
        """Warm stop: start nothing new; running tasks go on to finish."""
        self.dispatching = False

    def hand_back(self) -> None:
        """Cold stop: kill what runs here and put those tasks back to waiting."""
        self.dispatching = False
        for run in list(self.runs.values()):
            with run.lock:
                if run.finished or run.abandoned:
                    continue
                run.abandoned = True
            if run.handle is not None:
                run.handle.kill()
            self._write_outcome(run, state=TaskState.WAITING.value, outcome="handed_back",
                                reason="dirt serve stopped before the task finished; it will run again",
                                force=True)
        for run in list(self.runs.values()):
            if run.thread:
                run.thread.join(timeout=5)

    def close(self) -> None:
        """Stop following and close every node connection."""
        if self.follower:
            self.follower.stop()
        self.writer.close()
        for node in self.nodes.values():
            if node.conn:
                node.conn.close()

    # -- events -------------------------------------------------------------------------
    def _handle(self, event: tuple[str, Any]) -> None:
        kind, payload = event
        try:
            if kind == "doc":
                self._on_doc(payload)
            elif kind == "caught_up":
                if not self.caught_up:
                    log.info("dirt is running: %s, %s", plural(len(self.tasks), "unfinished task"),
                             plural(len(self.nodes), "node"))
                self.caught_up = True
                self._dirty = True
            elif kind == "db_down":
                self.db_down = payload
                log.error("lost the database: %s; retrying", payload)
            elif kind == "db_up":
                self.db_down = None
                self._dirty = True
                log.info("database is back at %s", self.db.url)
            elif kind == "node_up":
                self._on_node_up(payload)
            elif kind == "node_down":
                self._on_node_down(*payload)
            elif kind == "run_done":
                self._on_run_done(payload)
        except Exception:  # one bad event must never stop the server
            log.exception("could not handle %s event", kind)

    def _on_doc(self, doc: dict) -> None:
        doc_id = doc.get("_id")
        if not isinstance(doc_id, str):
            return
        if doc.get("_deleted"):
            self.tasks.pop(doc_id, None)
            run = self.runs.get(doc_id)
            if run:
                self._abandon(run, "the task document was deleted")
            for name, node in list(self.nodes.items()):
                if node.doc.get("_id") == doc_id:
                    self._forget_node(name)
            return
        if documents.is_node(doc):
            self._on_node_doc(doc)
            return
        if not documents.is_task(doc):
            self.tasks.pop(doc_id, None)
            return
        run = self.runs.get(doc_id)
        if run is not None:
            if _rev_number(doc) > _rev_number(run.doc):
                lease = doc.get("lease") or {}
                if documents.task_state(doc) == TaskState.CANCELLED.value:
                    self._abandon(run, "cancelled")
                elif lease.get("server") != self.server_id or doc.get("attempt") != run.attempt:
                    self._abandon(run, "another server took it over")
            return
        known = self.tasks.get(doc_id)
        if known is not None and _rev_number(doc) < _rev_number(known):
            return
        if _rev_number(doc) <= self._finished_revs.get(doc_id, 0):
            return   # a late echo of a run this server already finished
        self._dirty = True
        lease = doc.get("lease")
        if documents.task_state(doc) == TaskState.RUNNING.value and isinstance(lease, dict) \
                and lease.get("server") == self.server_id:
            # Claimed by us, yet we run nothing for it: the claim reached CouchDB
            # although its answer did not reach us (CouchDB went down meanwhile).
            self._release_unstarted(doc)
            return
        if documents.task_state(doc) in documents.FINAL_STATES:
            if self.tasks.pop(doc_id, None) is not None:
                self._announce(doc)   # finished elsewhere (another server, a user cancelling)
            return
        self.tasks[doc_id] = doc
        if documents.task_state(doc) == TaskState.WAITING.value:
            self._fresh.add(doc_id)
            if known is None or _priority_key(known) != _priority_key(doc) or \
                    documents.task_state(known) != TaskState.WAITING.value:
                self._order_stale = True

    def _release_unstarted(self, doc: dict) -> None:
        """Put a task we claimed but never started back to waiting, at once."""
        attempts = [a for a in (doc.get("attempts") or []) if isinstance(a, dict)]
        if attempts and "outcome" not in attempts[-1]:
            attempts[-1].update({"ended": self.clock(), "outcome": "not_started",
                                 "reason": "the claim was written but its answer was lost; nothing ran"})
        released = dict(doc, attempts=attempts, state=TaskState.WAITING.value)
        for key in ("lease", "node", "started"):
            released.pop(key, None)
        try:
            self.tasks[doc["_id"]] = self.writer.save(released)
            self._fresh.add(doc["_id"])
            self._order_stale = True
            log.info("Task %s: released a claim that never started", doc["_id"])
        except CouchError as exc:
            log.warning("Task %s: could not release an unstarted claim yet (%s)", doc["_id"], exc)
            self.tasks[doc["_id"]] = doc   # lease recovery will get it

    def _abandon(self, run: TaskRun, why: str) -> None:
        with run.lock:
            if run.finished or run.abandoned:
                return
            run.abandoned = True
        log.warning("Task %s: stopped here (%s)", run.task_id, why)
        if run.handle is not None:
            run.handle.kill()

    # -- nodes ----------------------------------------------------------------------------
    def _on_node_doc(self, doc: dict) -> None:
        self._node_changed()
        name = doc.get("name") or doc["_id"][len("node:"):]
        node = self.nodes.get(name)
        if node is None:
            self.nodes[name] = NodeState(doc)
            self._dirty = True
            return
        if _rev_number(doc) < _rev_number(node.doc):
            return
        old_spec = node.doc.get("spec")
        was_enabled = node.enabled
        node.doc = doc
        if doc.get("spec") != old_spec and node.conn:
            node.conn.close()
            node.conn = None
        if node.enabled != was_enabled:
            log.info("node %s %s", name, "enabled" if node.enabled else "disabled")
        if doc.get("status") == "up" and node.down_reason:
            node.next_try = 0.0   # someone (updatenodes) reached it: try again now
        self._dirty = True

    def _node_changed(self) -> None:
        """Node set or status changed: every waiting task needs a fresh look."""
        self._nodes_version += 1
        self._fresh.update(self.tasks)
        self._dirty = True

    def _forget_node(self, name: str) -> None:
        self._node_changed()
        node = self.nodes.pop(name, None)
        if node and node.conn:
            node.conn.close()

    def _spec(self, node: NodeState) -> str:
        spec = node.doc.get("spec")
        return spec if isinstance(spec, str) and spec else gateway_spec(node.name, self.settings)

    def _maintain_nodes(self) -> None:
        """Open connections to enabled nodes; ping idle ones now and then."""
        now = self.clock()
        for node in self.nodes.values():
            if not node.enabled or node.connecting:
                continue
            if node.conn is None or not node.conn.connected:
                if now >= node.next_try:
                    node.connecting = True
                    threading.Thread(target=self._connect, args=(node,), daemon=True,
                                     name=f"connect:{node.name}").start()
            elif now - node.last_ping > PING_INTERVAL:
                node.last_ping = now
                node.connecting = True
                threading.Thread(target=self._ping, args=(node,), daemon=True, name=f"ping:{node.name}").start()

    def _connect(self, node: NodeState) -> None:
        conn = node.conn or NodeConnection(node.name, self._spec(node))
        try:
            conn.open()
        except NodeUnreachable as exc:
            self.events.put(("node_down", (node.name, exc.reason, conn)))
            return
        self.events.put(("node_up", (node.name, conn)))

    def _ping(self, node: NodeState) -> None:
        conn = node.conn
        if conn is not None and conn.ping(timeout=10.0):
            self.events.put(("node_up", (node.name, conn)))
        elif conn is not None:
            conn.close()
            self.events.put(("node_down", (node.name, "stopped answering pings", conn)))

    def _on_node_up(self, payload: tuple[str, NodeConnection]) -> None:
        name, conn = payload
        node = self.nodes.get(name)
        if node is None:
            conn.close()
            return
        node.connecting = False
        first = node.conn is not conn or node.down_reason is not None
        if first:
            self._node_changed()
        node.conn = conn
        node.down_reason = None
        now = self.clock()
        node.last_ping = now
        if first:
            log.info("node %s connected", name)
            self._dirty = True
        if node.doc.get("status") != "up" or now - float(node.doc.get("last_seen") or 0) > LAST_SEEN_INTERVAL:
            self._update_node_doc(node, {"status": "up", "last_seen": now}, drop=("down_reason", "down_since"))

    def _on_node_down(self, name: str, reason: str, conn: NodeConnection | None) -> None:
        node = self.nodes.get(name)
        if node is None:
            return
        node.connecting = False
        if conn is not None and node.conn is not None and node.conn is not conn:
            return   # news about a connection we already replaced
        if node.down_reason != reason:
            log.error("node %s is down: %s", name, reason)
        node.down_reason = reason
        node.conn = None
        self._node_changed()
        node.next_try = self.clock() + self.settings.node_retry_interval
        if node.doc.get("status") != "down" or node.doc.get("down_reason") != reason:
            self._update_node_doc(node, {"status": "down", "down_reason": reason, "down_since": self.clock()})
        self._dirty = True

    def _update_node_doc(self, node: NodeState, changes: dict, drop: tuple[str, ...] = ()) -> None:
        for _ in range(3):
            doc = dict(node.doc)
            doc.update(changes)
            for key in drop:
                doc.pop(key, None)
            try:
                node.doc = self.db.save(doc)
                return
            except Conflict:
                try:
                    node.doc = self.db.get(node.doc["_id"])
                except CouchError:
                    return
            except CouchError as exc:
                log.warning("could not record node %s status: %s", node.name, exc)
                return

    def _read_load(self, name: str) -> float | None:
        node = self.nodes.get(name)
        if node is None or not node.ready:
            return None
        try:
            answer = node.conn.run_here(core_task_source("load"), timeout=10)
            return float(answer["loadavg"][0])
        except (DirtError, KeyError, TypeError, ValueError, IndexError):
            return None

    # -- placement ------------------------------------------------------------------------
    def _count_busy(self) -> None:
        """Set each node's ``busy``: tasks running there now, by any server."""
        elsewhere: dict[str, int] = {}
        for d in self.tasks.values():
            if documents.task_state(d) == TaskState.RUNNING.value:
                elsewhere[d.get("node")] = elsewhere.get(d.get("node"), 0) + 1
        for node in self.nodes.values():
            node.busy = len(node.busy_here) + elsewhere.get(node.name, 0)

    def _problem(self, doc: dict) -> str | None:
        """Why this task can never run as written (cached per revision), or None."""
        key = (doc["_id"], doc.get("_rev", ""))
        if key in self._checked:
            return self._checked[key]
        problem = None
        try:
            resolve_task(self.project.tasks_dir, doc.get("name"))
            parse_requirements(doc.get("requires"))
            mismatch({"platform": doc.get("platform")}, {})
            kwargs = doc.get("kwargs")
            if kwargs is not None and not isinstance(kwargs, dict):
                problem = (f"kwargs must be an object mapping argument names to values, "
                           f"not {type(kwargs).__name__}")
            for key_name, kind in (("timeout", (int, float)), ("max_attempts", int), ("priority", (int, float))):
                value = doc.get(key_name)
                if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or
                                          (key_name != "priority" and value <= 0)):
                    problem = f"{key_name} must be a positive number, not {value!r}"
            if doc.get("record_id") is not None and not isinstance(doc.get("record_id"), str):
                problem = "record_id must be the _id (a string) of the task's record"
        except (TaskNameError, RequirementError) as exc:
            problem = str(exc)
        if len(self._checked) > 100_000:
            self._checked.clear()
        self._checked[key] = problem
        return problem

    def _candidates(self, doc: dict) -> tuple[list[NodeState], str | None]:
        """Enabled nodes that match the task, and if none, why not (cached per node change)."""
        key = (doc["_id"], doc.get("_rev", ""), self._nodes_version)
        cached = self._matches.get(key)
        if cached is None:
            if len(self._matches) > 100_000:
                self._matches.clear()
            cached = self._matches[key] = self._find_candidates(doc)
        return cached

    def _find_candidates(self, doc: dict) -> tuple[list[NodeState], str | None]:
        if not self.nodes:
            return [], "no nodes yet: add one with `dirt updatenodes HOST`"
        matching, reasons = [], []
        for node in sorted(self.nodes.values(), key=lambda n: n.name):
            if not node.enabled:
                reasons.append(f"{node.name} is disabled")
                continue
            why = mismatch(doc, node.sys_info)
            if why:
                reasons.append(f"{node.name}: {why}")
                continue
            matching.append(node)
        if not matching:
            return [], "no enabled node can run it: " + "; ".join(reasons)
        if not any(n.ready for n in matching):
            downs = [f"{n.name} ({n.down_reason})" for n in matching if n.down_reason]
            if downs:
                return matching, "every matching node is down: " + "; ".join(downs)
        return matching, None

    def _runnable_now(self, doc: dict) -> bool:
        if self._problem(doc):
            return False
        try:
            matching, _ = self._candidates(doc)
        except RequirementError:
            return False
        return any(n.ready and n.busy < n.slots for n in matching)

    def _waiting_order(self) -> list[str]:
        """Ids of waiting tasks, highest priority and oldest first (sorted only when new ones arrive)."""
        if self._order_stale:
            waiting = [d for d in self.tasks.values() if documents.task_state(d) == TaskState.WAITING.value]
            self._order = [d["_id"] for d in sorted(waiting, key=_priority_key)]
            self._order_stale = False
        return self._order

    def _dispatch(self) -> None:
        """Place waiting tasks on free slots; store why others wait or cannot run.

        All the writes of one round (claims, reasons, errors) go to CouchDB
        together. When no slot is free, only tasks that changed since the last
        round are looked at, so a long queue costs nothing while nodes are busy.
        """
        self._count_busy()
        free = sum(max(0, n.slots - n.busy) for n in self.nodes.values() if n.ready and n.enabled)
        fresh, self._fresh = self._fresh, set()
        claims: list[tuple[dict, NodeState, str]] = []
        notes: list[tuple[dict, str, str]] = []     # (doc, state, reason)
        order = self._waiting_order()
        for doc_id in order if free > 0 else [i for i in order if i in fresh]:
            if not self.dispatching or self.db_down:
                break
            doc = self.tasks.get(doc_id)
            if doc is None or documents.task_state(doc) != TaskState.WAITING.value:
                continue
            if free <= 0 and doc_id not in fresh:
                continue
            try:
                problem = self._problem(doc)
                if problem:
                    notes.append((doc, TaskState.ERROR.value, problem))
                    continue
                matching, why = self._candidates(doc)
                if why:
                    if doc.get("reason") != why:
                        notes.append((doc, TaskState.WAITING.value, why))
                    continue
                if free <= 0:
                    continue
                ready = [n for n in matching if n.ready and n.busy < n.slots]
                node = self.balancer.choose(ready) if ready else None
                if node is None:
                    if ready:   # the balancer turned them down (too loaded): look again soon
                        self._redispatch_at = self.clock() + 5.0
                    continue
                source = self._source(doc.get("name"))
            except TaskNameError as exc:
                notes.append((doc, TaskState.ERROR.value, str(exc)))
                continue
            except Exception:
                log.exception("task %s: could not be placed", doc_id)
                continue
            claims.append((doc, node, source))
            node.busy += 1
            free -= 1
        if claims or notes:
            self._commit_round(claims, notes)

    def _source(self, name: str) -> str:
        """A task's source, re-read only when its file changes."""
        path = resolve_task(self.project.tasks_dir, name)
        stamp = path.stat().st_mtime_ns
        cached = self._sources.get(path)
        if cached is None or cached[0] != stamp:
            cached = self._sources[path] = (stamp, task_source(self.project.tasks_dir, name))
        return cached[1]

    def _claimed(self, doc: dict, node: NodeState) -> dict:
        """``doc`` as claimed by this server for a new attempt on ``node``."""
        now = self.clock()
        attempts = [a for a in (doc.get("attempts") or []) if isinstance(a, dict)]
        number = len(attempts) + 1
        claimed = dict(doc)
        claimed.update({
            "state": TaskState.RUNNING.value, "node": node.name, "started": now, "attempt": number,
            "lease": {"server": self.server_id, "expires": now + self.settings.lease_seconds},
            "attempts": attempts + [{"attempt": number, "node": node.name, "server": self.server_id,
                                     "started": now}],
        })
        for key in ("reason", "completed", "results", "traceback"):
            claimed.pop(key, None)
        return claimed

    def _commit_round(self, claims: list[tuple[dict, NodeState, str]], notes: list[tuple[dict, str, str]]) -> None:
        """Write a dispatch round's claims and notes in one request, then start what we won."""
        docs = [self._claimed(doc, node) for doc, node, _ in claims]
        for doc, state, reason in notes:
            updated = dict(doc, state=state, reason=reason)
            if state == TaskState.ERROR.value:
                updated["completed"] = self.clock()
                updated.pop("lease", None)
            docs.append(updated)
        try:
            saved = self.writer.save_many(docs)
        except CouchError as exc:
            log.warning("could not dispatch: %s", exc)
            saved = [exc] * len(docs)
        for (doc, node, source), outcome in zip(claims, saved[:len(claims)]):
            if isinstance(outcome, CouchError):
                node.busy -= 1
                if isinstance(outcome, Conflict):
                    self.tasks.pop(doc["_id"], None)   # someone else has it; the feed tells us who
                else:
                    self._dirty = True
                continue
            self._start(outcome, node, source)
        for (doc, state, reason), outcome in zip(notes, saved[len(claims):]):
            if isinstance(outcome, CouchError):
                if not isinstance(outcome, Conflict):
                    self._dirty = True
                continue
            if state == TaskState.ERROR.value:
                self.tasks.pop(doc["_id"], None)
                log.error("Task %s: error: %s", doc["_id"], reason)
                self._announce(outcome)
            else:
                self.tasks[doc["_id"]] = outcome
                log.info("Task %s waits: %s", doc["_id"], reason)

    def _start(self, claimed: dict, node: NodeState, source: str) -> None:
        self.tasks.pop(claimed["_id"], None)
        run = TaskRun(claimed["_id"], claimed, node, claimed["attempt"])
        self.runs[run.task_id] = run
        node.busy_here.add(run.task_id)
        log.info("%s -> %s", run.task_id, node.name)
        run.thread = threading.Thread(target=self._execute, args=(run, source), daemon=True,
                                      name=f"task:{run.task_id}")
        run.thread.start()

    # -- running ----------------------------------------------------------------------------
    def _execute(self, run: TaskRun, source: str) -> None:
        """In the task's own thread: run it on its node and record the outcome."""
        doc = run.doc
        timeout = float(doc.get("timeout") or self.settings.task_timeout)
        env = {"DIRT_TASK_ID": run.task_id, "DIRT_RECORD_ID": str(doc.get("record_id") or ""),
               "DIRT_PROJECT": self.settings.project_name}
        run.handle = RunHandle()
        conn = run.node.conn
        try:
            if conn is None:
                raise NodeUnreachable(run.node.name, "not connected")
            filename = "tasks/" + str(doc.get("name")).replace(".", "/") + ".py"
            returned = conn.run_task(source, doc.get("kwargs"), timeout, env, handle=run.handle, filename=filename)
        except TaskRaised as exc:
            self._write_outcome(run, TaskState.ERROR.value, "raised", str(exc),
                                extra={"traceback": exc.traceback,
                                       "results": {"success": False, "reason": str(exc)}})
        except (TaskTimedOut, TaskCrashed) as exc:
            self._write_outcome(run, TaskState.ERROR.value, "timeout" if isinstance(exc, TaskTimedOut) else "crashed",
                                str(exc))
        except NodeUnreachable as exc:
            self.events.put(("node_down", (run.node.name, exc.reason, conn)))
            started = run.handle.started
            self._requeue(run, "node_lost" if started else "not_started",
                          f"node {run.node.name} was lost: {exc.reason}", count=started)
        except Exception as exc:   # never let a run thread die silently
            log.exception("Task %s: unexpected failure", run.task_id)
            self._write_outcome(run, TaskState.ERROR.value, "crashed", f"dirt failed to run it: {exc}")
        else:
            try:
                results, attachments, state = documents.build_results(
                    returned, self.settings.max_result_bytes, doc.get("_attachments"),
                    serve_html=self.settings.serve_html_attachments)
            except documents.BadResult as exc:
                self._write_outcome(run, TaskState.ERROR.value, "bad_result", str(exc))
            else:
                extra = {"results": results, "attach_links": results.get("attach_links", [])}
                if attachments:
                    extra["_attachments"] = attachments
                new_files = [n for n, a in attachments.items() if not a.get("stub")]
                if self._write_outcome(run, state, state, results.get("reason"), extra=extra):
                    log.info("Task %s pushed to db", run.task_id)
                    for name in new_files:
                        log.info("Task %s: file %s attached", run.task_id, name)
        finally:
            self.events.put(("run_done", run))

    def _requeue(self, run: TaskRun, outcome: str, reason: str, count: bool) -> None:
        """Put the task back to waiting, or give up after max_attempts lost tries."""
        limit = run.doc.get("max_attempts") or self.settings.max_attempts
        lost = documents.lost_attempts(run.doc) + (1 if count else 0)
        if count and lost >= limit:
            self._write_outcome(run, TaskState.ERROR.value, outcome,
                                f"gave up after {_lost(lost)}; last: {reason}")
        else:
            self._write_outcome(run, TaskState.WAITING.value, outcome, reason + "; it will run again")

    def _write_outcome(self, run: TaskRun, state: str, outcome: str, reason: str | None,
                       extra: dict | None = None, force: bool = False) -> bool:
        """Record how this attempt ended, in one revision-checked write.

        Retries while the database is unreachable (nothing is lost while this
        server lives); on a conflict, re-reads and re-applies if the lease is
        still ours, else discards (the task was taken over: recorded once).
        """
        now = self.clock()
        delay = 0.5
        while True:
            with run.lock:
                if run.abandoned and not force:
                    return False
                doc = copy.deepcopy(run.doc)
                attempts = doc.get("attempts") or []
                if attempts and isinstance(attempts[-1], dict):
                    attempts[-1].update({"ended": now, "outcome": outcome})
                    if reason:
                        attempts[-1]["reason"] = reason
                doc["state"] = state
                doc.pop("lease", None)
                if state in documents.FINAL_STATES:
                    doc["completed"] = now
                else:
                    for key in ("node", "started", "completed"):
                        doc.pop(key, None)
                if reason:
                    doc["reason"] = reason
                else:
                    doc.pop("reason", None)
                doc.update(extra or {})
                try:
                    run.doc = self.writer.save(doc)
                    run.finished = True
                    if state in documents.FINAL_STATES:
                        self._announce(run.doc)
                    if state in (TaskState.ERROR.value, TaskState.FAILED.value):
                        log.warning("Task %s %s: %s", run.task_id, state, reason or "")
                    elif state == TaskState.WAITING.value:
                        log.warning("Task %s back to waiting: %s", run.task_id, reason)
                    return True
                except Conflict:
                    try:
                        latest = self.db.get(run.task_id)
                    except CouchError:
                        latest = None
                    if latest is None or (latest.get("lease") or {}).get("server") != self.server_id \
                            or latest.get("attempt") != run.attempt:
                        run.abandoned = True
                        log.warning("Task %s: outcome of attempt %d discarded, the task was taken over",
                                    run.task_id, run.attempt)
                        return False
                    # Someone edited other fields meanwhile: keep their edits, re-apply ours.
                    run.doc = latest
                    continue
                except CouchError as exc:
                    if _permanent(exc) and (extra or {}).get("results") is not None:
                        # CouchDB will never take this result (too large, refused by
                        # validation): record that instead, so the task still ends.
                        state, outcome = TaskState.ERROR.value, "bad_result"
                        reason = f"CouchDB refused to store the task's result: {exc}"
                        extra = {}
                        continue
                    if _permanent(exc):
                        log.error("Task %s: CouchDB refuses its outcome (%s); leaving it to lease recovery",
                                  run.task_id, exc)
                        return False
                    log.warning("Task %s: cannot record the outcome yet (%s); retrying", run.task_id, exc)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _on_run_done(self, run: TaskRun) -> None:
        self.runs.pop(run.task_id, None)
        if run.finished and not run.abandoned and documents.task_state(run.doc) == TaskState.WAITING.value:
            # Handed back to waiting (node lost): the feed's echo of that write
            # may have come while the run was still ours, so queue it here.
            known = self.tasks.get(run.task_id)
            if known is None or _rev_number(known) < _rev_number(run.doc):
                self.tasks[run.task_id] = run.doc
                self._fresh.add(run.task_id)
                self._order_stale = True
        if len(self._finished_revs) > 50_000:
            self._finished_revs.clear()
        self._finished_revs[run.task_id] = _rev_number(run.doc)
        run.node.busy_here.discard(run.task_id)
        if not run.finished and not run.abandoned:
            log.warning("Task %s: run ended without a recorded outcome; it will be recovered when its lease "
                        "expires", run.task_id)
            self.tasks.setdefault(run.task_id, run.doc)
        self._dirty = True

    # -- leases -------------------------------------------------------------------------------
    def _renew_leases(self) -> None:
        now = self.clock()
        period = self.settings.lease_seconds / 3
        if now - self._last_renew < period:
            return
        self._last_renew = now
        for run in list(self.runs.values()):
            with run.lock:
                if run.finished or run.abandoned:
                    continue
                doc = copy.deepcopy(run.doc)
                doc["lease"] = {"server": self.server_id, "expires": now + self.settings.lease_seconds}
                try:
                    run.doc = self.writer.save(doc)
                    continue
                except Conflict:
                    pass
                except CouchError as exc:
                    log.warning("Task %s: could not renew its lease (%s)", run.task_id, exc)
                    continue
                try:
                    latest = self.db.get(run.task_id)
                except CouchError:
                    continue
                ours = (latest.get("lease") or {}).get("server") == self.server_id and \
                    latest.get("attempt") == run.attempt and \
                    documents.task_state(latest) == TaskState.RUNNING.value
                if ours:
                    run.doc = latest   # an edit by someone else; renew next time round
                    self._last_renew = 0.0
                    continue
            self._abandon(run, "its lease was taken over")

    def _recover_expired(self) -> None:
        """Put back tasks whose server stopped renewing their lease (checked once a second)."""
        now = self.clock()
        if abs(now - self._last_recovery) < 1.0:
            return
        self._last_recovery = now
        for doc in list(self.tasks.values()):
            if documents.task_state(doc) != TaskState.RUNNING.value:
                continue
            lease = doc.get("lease")
            expires = lease.get("expires") if isinstance(lease, dict) else None
            if isinstance(expires, (int, float)) and expires > now:
                continue
            server = lease.get("server") if isinstance(lease, dict) else None
            attempts = [a for a in (doc.get("attempts") or []) if isinstance(a, dict)]
            reason = (f"dirt server {server} stopped renewing its lease" if server else
                      "it was marked running without a lease (no dirt server holds it)")
            if attempts and "outcome" not in attempts[-1]:
                attempts[-1].update({"ended": now, "outcome": "server_lost", "reason": reason})
            updated = dict(doc, attempts=attempts)
            limit = doc.get("max_attempts") or self.settings.max_attempts
            if documents.lost_attempts(updated) >= limit:
                updated.update(state=TaskState.ERROR.value, completed=now,
                               reason=f"gave up after {_lost(limit)}; last: {reason}")
            else:
                updated.update(state=TaskState.WAITING.value, reason=f"{reason}; it will run again")
                for key in ("node", "started"):
                    updated.pop(key, None)
            updated.pop("lease", None)
            try:
                self.tasks[doc["_id"]] = self.writer.save(updated)
                log.warning("Task %s recovered: %s", doc["_id"], reason)
                self._dirty = True
                self._order_stale = True
                self._fresh.add(doc["_id"])
            except Conflict:
                pass
            except CouchError as exc:
                log.warning("Task %s: could not recover it yet (%s)", doc["_id"], exc)
                return
            if documents.task_state(updated) in documents.FINAL_STATES:
                self.tasks.pop(doc["_id"], None)
                self._announce(updated)


    def progress(self) -> str:
        """One line on where this server stands: finished here by state, running, waiting."""
        waiting = sum(1 for d in self.tasks.values() if documents.task_state(d) == TaskState.WAITING.value)
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.finished.items())) or "none"
        return f"finished here: {done}; running {len(self.runs)}; waiting {waiting}"

    def _announce(self, doc: dict) -> None:
        """Count a task that reached a final state and tell ``on_final`` (notifications); never raises."""
        state = documents.task_state(doc)
        self.finished[state] = self.finished.get(state, 0) + 1
        if self.on_final is None:
            return
        try:
            self.on_final(copy.deepcopy(doc))
        except Exception:
            log.exception("Task %s: could not pass its outcome on for notification", doc.get("_id"))


class RunHandle:
    """Set by the runner while a task runs: whether it started, and how to kill it."""

    def __init__(self) -> None:
        self.started = False
        self.killer: Callable[[], None] | None = None

    def kill(self) -> None:
        if self.killer is not None:
            self.killer()


def _lost(count: int) -> str:
    """``2 attempts lost their node or server`` (or ``1 attempt ... its ...``)."""
    return f"{plural(count, 'attempt')} lost {'its' if count == 1 else 'their'} node or server"


def _permanent(exc: CouchError) -> bool:
    """A refusal that retrying will not change (as opposed to an unreachable or failing server)."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 408, 409, 429) \
        or exc.error in ("forbidden", "too_large", "bad_request", "doc_validation")


def _rev_number(doc: dict) -> int:
    rev = doc.get("_rev") or "0-"
    try:
        return int(str(rev).split("-", 1)[0])
    except ValueError:
        return 0


def _priority_key(doc: dict) -> tuple:
    priority = doc.get("priority")
    priority = priority if isinstance(priority, (int, float)) and not isinstance(priority, bool) else 0
    created = doc.get("created")
    created = created if isinstance(created, (int, float)) and not isinstance(created, bool) else 0
    return (-priority, created, doc.get("_id", ""))
