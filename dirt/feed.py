"""Following a database's ``_changes`` feed, forever, in a background thread.

The follower first reads every change after ``since`` (in batches, with the
documents), says when it has caught up, then long-polls for new changes. If
CouchDB goes away it reports that once, retries with backoff, and resumes from
the last sequence it saw, so nothing is missed and nothing stops. Sequence
values are passed back to CouchDB as they came (they are opaque strings on
CouchDB 3, integers on pouchdb-server).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from .couch import Database
from .errors import CouchError
from .events import CaughtUp, DatabaseDown, DatabaseUp, DocChanged

log = logging.getLogger(__name__)


class ChangesFollower(threading.Thread):
    """Puts :class:`~dirt.events.DocChanged`, :class:`~dirt.events.CaughtUp`,
    :class:`~dirt.events.DatabaseDown` and :class:`~dirt.events.DatabaseUp`
    events on ``events`` until :meth:`stop` is called, starting after ``since``."""

    def __init__(self, db: Database, events: "queue.Queue[tuple[str, Any]]", since: Any = 0,
                 batch: int = 500, poll_timeout: float = 20.0, settle: float = 0.02):
        super().__init__(name=f"changes:{db.name}", daemon=True)
        self.db = db
        self.events = events
        self.since = since
        self.batch = batch
        self.poll_timeout = poll_timeout
        self.settle = settle
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        caught_up = False
        down_since: float | None = None
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if caught_up:
                    answer = self.db.changes(self.since, feed="longpoll", include_docs=True,
                                             timeout=self.poll_timeout, limit=self.batch)
                else:
                    answer = self.db.changes(self.since, include_docs=True, limit=self.batch)
            except CouchError as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    self.events.put(DatabaseDown(str(exc)))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if down_since is not None:
                down_since = None
                self.events.put(DatabaseUp())
            backoff = 0.5
            results = answer.get("results") or []
            for change in results:
                doc = change.get("doc")
                if doc is None and change.get("deleted"):
                    doc = {"_id": change.get("id"), "_deleted": True}
                if isinstance(doc, dict):
                    self.events.put(DocChanged(doc))
            self.since = answer.get("last_seq", self.since)
            if not caught_up and len(results) < self.batch:
                caught_up = True
                self.events.put(CaughtUp(self.since))
            elif caught_up and results and self.settle:
                # Busy: let a few more changes gather before asking again, so
                # a burst costs one request instead of one per change.
                self._stop.wait(self.settle)
