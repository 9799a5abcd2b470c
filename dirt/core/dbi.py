"""dirt's interface to the CouchDB database, as the 2012 API had it.

``DirtCouchDB(host, dbname)`` wraps :class:`dirt.couch.Database` and adds the
dirt-specific calls; ``check_requirements(db, id, node)`` tells whether a node
may run a task. Requirements are parsed, never ``eval()``-ed.
"""
from __future__ import annotations

import logging
import queue
from typing import Any, Iterator

from dirt import documents, transitions
from dirt.couch import Database
from dirt.errors import Conflict
from dirt.events import DocChanged
from dirt.feed import ChangesFollower
from dirt.nodes import NODE_ID_PREFIX
from dirt.requirements import mismatch
from dirt.taskdoc import parse_task
from dirt.status import iter_docs

log = logging.getLogger(__name__)

__all__ = ["DirtCouchDB", "check_requirements"]


class DirtCouchDB:
    """A wrapper around one CouchDB database with dirt-specific functions.

    ``host`` is the server URL (credentials allowed; never logged), ``dbname``
    the database, created if missing.
    """

    def __init__(self, host: str, dbname: str):
        self.db = Database.from_url(host, dbname)
        self.db.create(exist_ok=True)
        log.info("Connected to db at %s", self.db.url)

    def __getitem__(self, doc_id: str) -> dict:
        return self.db.get(doc_id)

    def save(self, doc: dict) -> dict:
        """Save a document in the db (revision-checked); returns it with its new ``_rev``."""
        return self.db.save(doc)

    def get_nodes(self) -> dict[str, dict]:
        """Query db to get node data: ``{node name: node document}``.

        The name is the host given to ``dirt updatenodes`` (usually its fqdn).
        """
        nodes = {}
        for doc in iter_docs(self.db):
            if documents.is_node(doc):
                nodes[doc.get("name") or doc["_id"][len(NODE_ID_PREFIX):]] = doc
        return nodes

    def get_tasks(self, stop: Any = None) -> Iterator[dict]:
        """A wrapper for couchdb changes which should never die.

        Yields each task document that is waiting to run, first those already
        in the database and then new ones as they arrive; it survives CouchDB
        going away and coming back. ``stop`` (a threading.Event) ends it.
        """
        events: queue.Queue = queue.Queue()
        follower = ChangesFollower(self.db, events)
        follower.start()
        try:
            while not (stop is not None and stop.is_set()):
                try:
                    event = events.get(timeout=1.0)
                except queue.Empty:
                    continue
                if isinstance(event, DocChanged) and documents.is_task(event.doc) and \
                        documents.task_state(event.doc) == documents.TaskState.WAITING.value:
                    yield event.doc
        finally:
            follower.stop()

    def push_results(self, results: dict, id: str, node_id: str, gateway: Any = None) -> dict:  # noqa: A002
        """Update task document ``id`` with the ``results`` a task returned on
        node ``node_id``: state, results, attachments and attach_links, in one write.

        ``gateway`` is accepted for compatibility and not used.
        """
        for _ in range(5):
            task = parse_task(self.db.get(id))
            now = documents.now()
            try:
                stored, attachments, state = documents.build_results(results, 4_000_000, task.doc.get("_attachments"))
            except documents.BadResult as exc:
                doc = transitions.ended(task, documents.TaskState.ERROR.value, "bad_result", str(exc), now)
            else:
                extra = {"results": stored, "attach_links": stored["attach_links"]}
                if attachments:
                    extra["_attachments"] = attachments
                reason = stored.get("reason") if isinstance(stored.get("reason"), str) else None
                doc = transitions.ended(task, state, state, reason, now, extra)
            doc["node"] = node_id
            try:
                return self.db.save(doc)
            except Conflict:
                continue
        raise Conflict(f"task {id} kept changing while its results were pushed")

    def disable_node(self, fqdn: str) -> int:
        """Set the ``enabled`` flag of the node named (or with fqdn) ``fqdn`` to false.

        Returns how many node documents were changed.
        """
        changed = 0
        for name, doc in self.get_nodes().items():
            if fqdn in (name, doc.get("fqdn")) and doc.get("enabled") is not False:
                doc["enabled"] = False
                self.db.save(doc)
                changed += 1
        return changed


def check_requirements(db: DirtCouchDB | Database, id: str, node: Any) -> bool:  # noqa: A002
    """Check whether the system requirements in task ``id`` are satisfied by ``node``.

    ``node`` is a node document, or a node's name or fqdn. A malformed
    ``requires`` makes it False (and is logged), never an exception.
    """
    database = db.db if isinstance(db, DirtCouchDB) else db
    task = parse_task(database.get(id))
    if not isinstance(node, dict):
        node = database.get(NODE_ID_PREFIX + str(node))
    info = node.get("sys_info") if isinstance(node.get("sys_info"), dict) else {}
    if task.problem:
        log.warning("task %s: %s", id, task.problem)
        return False
    return mismatch(task.platform, task.requires, info) is None
