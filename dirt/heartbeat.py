"""Servers you can see: each ``dirt serve`` keeps a heartbeat document.

:class:`Heartbeat` writes ``server:<id>`` every ``lease_seconds / 3``: which
host and process it is, its version and project, when it started and last
beat, the tasks it runs and the nodes it holds (with their status as it sees
them). ``dirt status`` and the web app's nodes page read these to tell live
servers from dead ones, and to show a node as up only while a live server
holds it.

The heartbeat is also what keeps a server's claims: a running task's
``lease`` names its server, and instead of rewriting every task document
to renew it (revisions that would collide with a user's cancel), the server's
heartbeat renews them all at once. :class:`ServerWatch` tells, from the
heartbeats another server has seen, whether a server is alive. It times beats
by *its own* clock (when it saw each change), so machines whose clocks
disagree never call each other dead.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import __version__
from .errors import CouchError
from .groupcommit import GroupCommit

log = logging.getLogger(__name__)

SERVER_ID_PREFIX = "server:"
LONG_DEAD = 600.0     # a beat older than this (by its own clock) is dead whatever the clocks say


def new_server_id() -> str:
    """A server id: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def is_server(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "server" and not doc.get("_deleted")


class Heartbeat:
    """This server's heartbeat document; :meth:`beat` when :meth:`due`."""

    def __init__(self, writer: GroupCommit, server_id: str, project: str, lease_seconds: float,
                 clock: Callable[[], float] = time.time):
        self.writer = writer
        self.server_id = server_id
        self.interval = max(0.2, lease_seconds / 3)
        self.clock = clock
        self.started = clock()
        self._last = 0.0
        self._doc: dict = {"_id": SERVER_ID_PREFIX + server_id, "type": "server", "server_id": server_id,
                           "host": socket.getfqdn(), "pid": os.getpid(), "version": __version__,
                           "project": project, "started": self.started, "interval": self.interval}
        self._in_flight = False

    def soon(self) -> None:
        """Beat at the next chance (a node came up or went down: say so now)."""
        self._last = 0.0

    def due(self, now: float) -> bool:
        return not self._in_flight and now - self._last >= self.interval

    def beat(self, now: float, tasks: list[str], nodes: dict[str, dict], status: str = "running") -> None:
        """Write the heartbeat (in the background; a failed beat is tried again next time)."""
        self._last = now
        self._in_flight = True
        doc = dict(self._doc, beat=now, status=status, tasks=sorted(tasks), running=len(tasks), nodes=nodes)
        self.writer.submit(doc, self._written)

    def _written(self, result: Any) -> None:
        self._in_flight = False
        if isinstance(result, CouchError):
            if result.status == 409:
                self._doc.pop("_rev", None)   # the document was edited or deleted: write it afresh
                try:
                    self._doc["_rev"] = self.writer.db.get(self._doc["_id"])["_rev"]
                except CouchError:
                    pass
            else:
                log.debug("heartbeat not written: %s", result)
            self._last = 0.0
            return
        self._doc["_rev"] = result["_rev"]

    def stop(self, timeout: float = 2.0) -> None:
        """Say this server stopped (best effort, at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        now = self.clock()
        doc = dict(self._doc, beat=now, stopped=now, status="stopped", tasks=[], running=0, nodes={})
        done: list[Any] = []
        self.writer.submit(doc, done.append)
        while not done and time.monotonic() < deadline:
            time.sleep(0.02)


@dataclass
class _Seen:
    at: float            # our clock, when we last saw its document change
    doc: dict
    beating: bool        # seen to change since we started (not only read at start-up)


class ServerWatch:
    """Other servers as their heartbeats show them."""

    def __init__(self, lease_seconds: float, clock: Callable[[], float] = time.time):
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def saw(self, doc: dict, now: float | None = None, at_start: bool = False) -> None:
        """A server document changed (or, ``at_start``, was read at start-up)."""
        server = doc.get("server_id") or str(doc.get("_id", ""))[len(SERVER_ID_PREFIX):]
        now = self.clock() if now is None else now
        beat = doc.get("beat")
        if isinstance(beat, (int, float)) and not isinstance(beat, bool) and beat < now - LONG_DEAD:
            now = beat     # long dead by any clock
        self._seen[server] = _Seen(now, doc, beating=not at_start)

    def forget(self, doc_id: str) -> None:
        self._seen.pop(doc_id[len(SERVER_ID_PREFIX):], None)

    def alive(self, server: str, now: float) -> bool | None:
        """True or False, or None for a server that never wrote a heartbeat here."""
        seen = self._seen.get(server)
        if seen is None:
            return None
        if seen.doc.get("status") == "stopped":
            return False
        return now - seen.at < self.lease_seconds

    def beating(self, server: str, now: float) -> bool:
        """Alive, and seen to beat since this watch began (not only believed alive from start-up)."""
        seen = self._seen.get(server)
        return seen is not None and seen.beating and bool(self.alive(server, now))

    def runs(self, server: str, task_id: str, claimed: float | None) -> bool:
        """Whether a live server's latest beat (written well after ``claimed``) still lists the task."""
        seen = self._seen.get(server)
        if seen is None:
            return True
        beat, tasks = seen.doc.get("beat"), seen.doc.get("tasks")
        if not isinstance(tasks, list) or not isinstance(beat, (int, float)) or claimed is None:
            return True
        if beat < claimed + 2 * float(seen.doc.get("interval") or 1.0):
            return True          # that beat may predate the claim
        return task_id in tasks

    def servers(self) -> list[dict]:
        return [s.doc for s in self._seen.values()]
