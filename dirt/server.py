"""The composition root: one function builds a running dirt server from settings.

:func:`build_server` wires the parts (database writer, node pool, waiting
queue, placement, slots, outcome writer, heartbeat, notifier, bisector) into a
:class:`DirtServer`. The ``dirt serve`` command, :func:`dirt.core.server.serve`,
the tests and the benchmarks all build servers with it, so they run the same
thing. ``clock`` and ``sleep`` are injectable; nothing here prints or exits.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

from . import cluster
from .attempts import Executor
from .badges import BadgeUpdater, BadgeWriter
from .balance import make_balancer
from .bisector import Bisector
from .couch import Database
from .groupcommit import GroupCommit
from .handoff import Handoff
from .heartbeat import Heartbeat, ServerWatch, new_server_id
from .nodepool import NodePool
from .notify import Notifier
from .outcomes import OutcomeWriter
from .output import LogStreamer
from .placement import Placer
from .scheduler import Scheduler
from .settings import Project
from .taskfiles import TaskFiles
from .waiting import WaitingQueue


class DirtServer:
    """A scheduler, its notifier and its bisector, started and stopped together."""

    def __init__(self, scheduler: Scheduler, notifier: Notifier, badges: BadgeUpdater | None = None,
                 bisector: Bisector | None = None):
        self.scheduler = scheduler
        self.notifier = notifier
        self.badges = badges
        self.bisector = bisector

    def start(self) -> "DirtServer":
        self.notifier.start()
        self.scheduler.start()
        if self.bisector is not None:
            self.bisector.start()
        return self

    def step(self, now: float | None = None, timeout: float = 1.0) -> None:
        self.scheduler.step(now, timeout)

    def run(self, until_idle: bool = False, stop: threading.Event | None = None,
            idle_timeout: float | None = None) -> None:
        """Start (if needed) and loop; see :meth:`Scheduler.run`."""
        if self.scheduler.follower is None:
            self.start()
        self.scheduler.run(until_idle=until_idle, stop=stop, idle_timeout=idle_timeout)

    def close(self, hand_back_timeout: float = 8.0) -> None:
        """Hand back what still runs (cold stop), then stop everything."""
        try:
            if self.scheduler.runs:
                self.scheduler.hand_back(hand_back_timeout)
        finally:
            if self.bisector is not None:
                self.bisector.close()
            self.scheduler.close()
            self.notifier.close()
            if self.badges is not None:
                self.badges.close()


def build_server(project: Project, db: Database | None = None, *, server_id: str | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 on_final: Callable[[dict], None] | None = None, notify: bool = True) -> DirtServer:
    """A dirt server for ``project`` (on ``db``, default: the project's database).

    ``on_final`` is told of every task this server sees reach a final state,
    after the notifier and the badges (when ``notify``).
    """
    settings = project.settings
    db = db or Database.from_url(settings.couchdb_host, settings.couchdb_dbname)
    server_id = server_id or new_server_id()
    events: "queue.Queue[Any]" = queue.Queue()
    writer = GroupCommit(db, copies=cluster.copies(db))
    pool = NodePool(db, settings, events, clock, want_load=settings.load_balancer == "load")
    taskfiles = TaskFiles(project.tasks_dir)
    placer = Placer(make_balancer(settings.load_balancer, pool.load_of, settings.load_margin), taskfiles.problem,
                    settings.wait_timeout, counting_from=clock())
    streamer = LogStreamer(writer, settings.log_flush_interval, clock)
    executor = Executor(settings, settings.project_name, lambda name: _connection(pool, name), events, streamer,
                        handoff=Handoff(db, settings).environment)
    outcomes = OutcomeWriter(db, writer, events, server_id, settings.max_attempts, clock=clock, sleep=sleep)
    notifier = Notifier(db, settings, clock=clock, server_id=server_id)
    badges = BadgeUpdater(BadgeWriter(db, settings)) if notify else None
    bisector = Bisector(db, clock=clock)

    def final(doc: dict) -> None:
        bisector.task_final(doc)
        if notify:
            notifier.task_final(doc)
        if badges is not None:
            badges.task_final(doc)
        if on_final is not None:
            on_final(doc)

    scheduler = Scheduler(db, project, server_id=server_id, events=events, writer=writer, pool=pool,
                          waiting=WaitingQueue(tiebreak=server_id), placer=placer, executor=executor, outcomes=outcomes,
                          heartbeat=Heartbeat(writer, server_id, settings.project_name, settings.lease_seconds,
                                              clock),
                          watch=ServerWatch(settings.lease_seconds, clock), taskfiles=taskfiles,
                          streamer=streamer, clock=clock,
                          on_final=final, on_other=bisector.saw)
    return DirtServer(scheduler, notifier, badges, bisector)


def _connection(pool: NodePool, name: str):
    node = pool.nodes.get(name)
    return node.conn if node is not None and node.ready else None
