"""The node pool: what a running server knows about each node, and its connections.

For every node document it keeps a :class:`NodeState`; it opens a connection to
each enabled node (in a thread of its own, so the loop never waits on SSH),
retries a node that is down every ``node_retry_interval`` seconds, and pings
connected nodes: every ``busy_ping_interval`` while tasks run there (so a cut
link is noticed in seconds even without ssh keepalives), every
``PING_INTERVAL`` when idle. What it learns arrives on the event queue
(:class:`~dirt.events.NodeUp`, :class:`~dirt.events.NodeDown`,
:class:`~dirt.events.LoadRead`) and is applied by the loop, which is the only
thread that changes a NodeState.

A node's document records its status (``up``, or ``down`` with
``down_reason`` and ``down_since``) when that changes; a separate thread
writes it, so a slow database never holds the loop.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

from .couch import Database
from .errors import Conflict, CouchError, DirtError
from .events import LoadRead, NodeDown, NodeUp
from .nodes import NODE_ID_PREFIX, core_task_source, gateway_spec
from .placement import NodeView
from .runner import NodeConnection
from .settings import Settings

log = logging.getLogger(__name__)

PING_INTERVAL = 15.0      # seconds between pings of an idle node
LOAD_INTERVAL = 20.0      # seconds between load readings, for the "load" balancer


@dataclass
class NodeState:
    """One node: its document and its connection, as the loop sees them."""

    doc: dict
    conn: NodeConnection | None = None
    connecting: bool = False
    pinging: bool = False
    down_reason: str | None = None
    next_try: float = 0.0
    last_ping: float = 0.0
    last_load: float = 0.0
    load: float | None = None

    @property
    def name(self) -> str:
        name = self.doc.get("name")
        return name if isinstance(name, str) and name else str(self.doc.get("_id", ""))[len(NODE_ID_PREFIX):]

    @property
    def slots(self) -> int:
        """How many tasks it runs at once: its ``slots``, else its cpu_count, else 1."""
        for value in (self.doc.get("slots"), self.sys_info.get("cpu_count")):
            if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return value
        return 1

    @property
    def enabled(self) -> bool:
        return self.doc.get("enabled") is not False

    @property
    def sys_info(self) -> dict:
        info = self.doc.get("sys_info")
        return info if isinstance(info, dict) else {}

    @property
    def ready(self) -> bool:
        return self.conn is not None and self.conn.connected and self.down_reason is None

    @property
    def rev_number(self) -> int:
        head = str(self.doc.get("_rev") or "0-").split("-", 1)[0]
        return int(head) if head.isdigit() else 0


class NodePool:
    """The nodes of one database, for one server; see the module docstring."""

    def __init__(self, db: Database, settings: Settings, events: "queue.Queue[Any]",
                 clock: Callable[[], float], want_load: bool = False):
        self.db = db
        self.settings = settings
        self.events = events
        self.clock = clock
        self.want_load = want_load
        self.nodes: dict[str, NodeState] = {}
        self.version = 0                       # bumped whenever a node changes in a way placement sees
        self._status: "queue.Queue[tuple[str, dict, tuple[str, ...]] | None]" = queue.Queue()
        self._status_thread: threading.Thread | None = None

    # -- documents -------------------------------------------------------------------
    def apply_doc(self, doc: dict) -> None:
        """A node document changed (or is seen for the first time)."""
        node = NodeState(doc)
        name = node.name
        known = self.nodes.get(name)
        if known is None:
            self.nodes[name] = node
            self._changed()
            return
        if node.rev_number < known.rev_number:
            return
        old_spec, was_enabled = known.doc.get("spec"), known.enabled
        known.doc = doc
        if doc.get("spec") != old_spec and known.conn:
            known.conn.close()
            known.conn = None
        if known.enabled != was_enabled:
            log.info("node %s %s", name, "enabled" if known.enabled else "disabled")
        if doc.get("status") == "up" and known.down_reason:
            known.next_try = 0.0   # someone (updatenodes) reached it: try again now
        self._changed()

    def forget_doc(self, doc_id: str) -> bool:
        """The document ``doc_id`` was deleted: forget its node if it was one."""
        for name, node in list(self.nodes.items()):
            if node.doc.get("_id") == doc_id:
                del self.nodes[name]
                if node.conn:
                    node.conn.close()
                self._changed()
                return True
        return False

    def _changed(self) -> None:
        self.version += 1

    # -- connections -------------------------------------------------------------------
    def maintain(self, now: float, busy: set[str]) -> None:
        """Open connections to enabled nodes that have none; ping connected ones
        (often where ``busy`` says tasks run); read loads for the balancer."""
        for node in self.nodes.values():
            if not node.enabled or node.connecting:
                continue
            if node.conn is None or not node.conn.connected:
                if now >= node.next_try:
                    node.connecting = True
                    threading.Thread(target=self._connect, args=(node.name, self._spec(node), node.conn),
                                     daemon=True, name=f"connect:{node.name}").start()
                continue
            interval = self.settings.busy_ping_interval if node.name in busy else PING_INTERVAL
            if not node.pinging and now - node.last_ping >= interval:
                node.last_ping = now
                node.pinging = True
                threading.Thread(target=self._ping, args=(node.name, node.conn), daemon=True,
                                 name=f"ping:{node.name}").start()
            if self.want_load and now - node.last_load >= LOAD_INTERVAL:
                node.last_load = now
                threading.Thread(target=self._read_load, args=(node.name, node.conn), daemon=True,
                                 name=f"load:{node.name}").start()

    def _spec(self, node: NodeState) -> str:
        spec = node.doc.get("spec")
        return spec if isinstance(spec, str) and spec else gateway_spec(node.name, self.settings)

    def _connect(self, name: str, spec: str, conn: NodeConnection | None) -> None:
        conn = conn or NodeConnection(name, spec)
        try:
            conn.open()
        except DirtError as exc:
            self.events.put(NodeDown(name, getattr(exc, "reason", str(exc)), conn))
            return
        self.events.put(NodeUp(name, conn))

    def _ping(self, name: str, conn: NodeConnection) -> None:
        if conn.ping(timeout=self.settings.ping_timeout):
            self.events.put(NodeUp(name, conn))
        else:
            reason = f"stopped answering (no reply to a ping within {self.settings.ping_timeout:g} s)"
            conn.close(reason)   # runs on it end now, in NodeUnreachable: their tasks go back to waiting
            self.events.put(NodeDown(name, reason, conn))

    def _read_load(self, name: str, conn: NodeConnection) -> None:
        try:
            answer = conn.run_here(core_task_source("load"), timeout=10)
            load = float(answer["loadavg"][0])
        except (DirtError, KeyError, TypeError, ValueError, IndexError):
            load = None
        self.events.put(LoadRead(name, load))

    def on_up(self, event: NodeUp) -> bool:
        """A node connected or answered a ping; True if that is news (it was not up)."""
        node = self.nodes.get(event.name)
        if node is None:
            event.conn.close()
            return False
        node.connecting = node.pinging = False
        news = node.conn is not event.conn or node.down_reason is not None
        node.conn, node.down_reason = event.conn, None
        node.last_ping = self.clock()
        if news:
            log.info("node %s connected", event.name)
            self._changed()
        if node.doc.get("status") != "up":
            self._record_status(node, {"status": "up", "last_seen": self.clock()}, drop=("down_reason", "down_since"))
        return news

    def on_down(self, event: NodeDown) -> bool:
        """A node could not be reached; True if that is news."""
        node = self.nodes.get(event.name)
        if node is None:
            return False
        node.connecting = node.pinging = False
        if event.conn is not None and node.conn is not None and node.conn is not event.conn:
            return False   # news about a connection already replaced
        news = node.down_reason != event.reason
        if news:
            log.error("node %s is down: %s", event.name, event.reason)
        node.down_reason, node.conn = event.reason, None
        node.next_try = self.clock() + self.settings.node_retry_interval
        self._changed()
        if node.doc.get("status") != "down" or node.doc.get("down_reason") != event.reason:
            self._record_status(node, {"status": "down", "down_reason": event.reason, "down_since": self.clock()})
        return news

    def on_load(self, event: LoadRead) -> None:
        node = self.nodes.get(event.name)
        if node is not None:
            node.load = event.load

    def load_of(self, name: str) -> float | None:
        """The last load reading of a node (for the ``load`` balancer; never does I/O)."""
        node = self.nodes.get(name)
        return node.load if node is not None else None

    def connecting(self) -> bool:
        return any(n.connecting for n in self.nodes.values())

    def views(self, busy: dict[str, int], room: dict[str, int]) -> list[NodeView]:
        """The nodes as placement sees them: ``busy`` tasks running there (by any
        server), ``room`` tasks this server may claim for each now."""
        return [NodeView(name=n.name, enabled=n.enabled, ready=n.ready, sys_info=n.sys_info, slots=n.slots,
                         busy=busy.get(n.name, 0), room=room.get(n.name, 0), down_reason=n.down_reason)
                for n in self.nodes.values()]

    def summary(self) -> dict[str, dict]:
        """For the heartbeat: each node's status as this server sees it."""
        out = {}
        for node in self.nodes.values():
            if not node.enabled:
                out[node.name] = {"status": "disabled"}
            elif node.ready:
                out[node.name] = {"status": "up"}
            else:
                out[node.name] = {"status": "down" if node.down_reason else "connecting",
                                  **({"reason": node.down_reason} if node.down_reason else {})}
        return out

    def close(self) -> None:
        self._status.put(None)
        for node in self.nodes.values():
            if node.conn:
                node.conn.close()

    # -- the node documents' status -------------------------------------------------------
    def _record_status(self, node: NodeState, changes: dict, drop: tuple[str, ...] = ()) -> None:
        node.doc = {**{k: v for k, v in node.doc.items() if k not in drop}, **changes}
        self._status.put((node.name, changes, drop))
        if self._status_thread is None:
            self._status_thread = threading.Thread(target=self._write_statuses, daemon=True, name="node-status")
            self._status_thread.start()

    def _write_statuses(self) -> None:
        while True:
            item = self._status.get()
            if item is None:
                return
            name, changes, drop = item
            for _ in range(3):
                try:
                    doc = self.db.get(NODE_ID_PREFIX + name)
                except CouchError as exc:
                    log.warning("could not record node %s status: %s", name, exc)
                    break
                doc.update(changes)
                for key in drop:
                    doc.pop(key, None)
                try:
                    self.db.save(doc)
                    break
                except Conflict:
                    continue
                except CouchError as exc:
                    log.warning("could not record node %s status: %s", name, exc)
                    break
