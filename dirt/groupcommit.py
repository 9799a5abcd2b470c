"""Group commit: concurrent document writes merged into ``_bulk_docs`` requests.

Each task costs dirt a claim write and an outcome write, from different
threads. Sent one by one they keep a single-process server such as
pouchdb-server busy (a PUT costs it about as much CPU as a whole small
``_bulk_docs`` batch). :class:`GroupCommit` sends whatever writes are waiting
in one ``_bulk_docs`` request while the previous one is in flight, so batching
adds no delay when the server is idle and grows when it is busy.

On a CouchDB cluster, writes ask for every copy and a 202 is settled
(:mod:`dirt.cluster`), so a write that only *may* have won is reported as a
win or as a conflict, exactly as a single node would. Every write stays
revision-checked: ``_bulk_docs`` (without
``all_or_nothing``) checks each document's ``_rev`` on its own, and each
caller gets its own new revision, or :class:`~dirt.errors.Conflict`, or the
error the server gave. Answers are matched by id (pouchdb-server does not
always answer in request order), so one batch never holds the same id twice.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Callable, Sequence

from . import cluster
from .couch import Database
from .errors import Conflict, CouchError, Unauthorized

log = logging.getLogger(__name__)


class _Write:
    __slots__ = ("doc", "done", "error", "callback")

    def __init__(self, doc: dict, callback: Callable[[dict | CouchError], None] | None = None):
        self.doc = doc
        self.done = threading.Event()
        self.error: CouchError | None = None
        self.callback = callback

    def finish(self) -> None:
        self.done.set()
        if self.callback is not None:
            try:
                self.callback(self.error if self.error else self.doc)
            except Exception:   # a caller's bug must not stop the writer
                log.exception("a write's callback failed")


class GroupCommit:
    """Saves documents to ``db`` in shared ``_bulk_docs`` requests."""

    def __init__(self, db: Database, max_batch: int = 200, copies: int | None = None):
        self.db = db
        self.copies = copies            # on a cluster: write every copy, settle what is only accepted
        self.max_batch = max_batch
        self._pending: list[_Write] = []
        self._cond = threading.Condition()
        self._sender: threading.Thread | None = None
        self._closed = False

    def save(self, doc: dict) -> dict:
        """Like :meth:`Database.save`: sets ``_id``/``_rev`` on ``doc`` and returns it."""
        outcome = self.save_many([doc])[0]
        if isinstance(outcome, CouchError):
            raise outcome
        return outcome

    def save_many(self, docs: Sequence[dict]) -> list[dict | CouchError]:
        """Save several documents; for each, the saved doc or the error it got."""
        writes = self._enqueue([_Write(doc) for doc in docs])
        for write in writes:
            write.done.wait()
        return [write.error if write.error else write.doc for write in writes]

    def submit(self, doc: dict, callback: Callable[[dict | CouchError], None]) -> None:
        """Save ``doc`` without waiting; ``callback`` gets the saved doc or the
        error, in the writer's thread (it must not block)."""
        self._enqueue([_Write(doc, callback)])

    def _enqueue(self, writes: list[_Write]) -> list[_Write]:
        for write in writes:
            write.doc.setdefault("_id", uuid.uuid4().hex)
        with self._cond:
            if self._closed:
                raise CouchError("the database writer is closed")
            self._pending.extend(writes)
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="groupcommit", daemon=True)
                self._sender.start()
            self._cond.notify()
        return writes

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _next_batch(self) -> list[_Write]:
        batch, ids, rest = [], set(), []
        for write in self._pending:
            if len(batch) < self.max_batch and write.doc["_id"] not in ids:
                ids.add(write.doc["_id"])
                batch.append(write)
            else:
                rest.append(write)
        self._pending = rest
        return batch

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    self._sender = None
                    return
                batch = self._next_batch()
            self._send(batch)

    def _settle(self, write: _Write) -> None:
        """Only accepted (a cluster's 202): the write counts only if it is the
        revision every server will keep (see :mod:`dirt.cluster`); else it lost, as a 409."""
        try:
            best = cluster.settle(self.db, write.doc["_id"], self.copies)
        except CouchError as exc:
            write.error = exc
            return
        if best is None or best.get("_rev") != write.doc["_rev"]:
            write.error = Conflict(f"document {write.doc['_id']} was written by another server at the same time "
                                   "(a cluster conflict); that revision won", 409, "conflict")

    def _send(self, batch: list[_Write]) -> None:
        try:
            answers, accepted = self.db.write_docs([w.doc for w in batch], w=self.copies)
        except CouchError as exc:
            if len(batch) > 1 and exc.status is not None and 400 <= exc.status < 500:
                # One document (too large, say) spoiled the request: send each on its own.
                for write in batch:
                    self._send([write])
                return
            for write in batch:
                write.error = exc
                write.finish()
            return
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        for write in batch:
            answer = by_id.get(write.doc["_id"])
            if answer is None:
                write.error = CouchError(f"_bulk_docs gave no answer for {write.doc['_id']!r}")
            elif answer.get("rev") and not answer.get("error"):
                write.doc["_rev"] = answer["rev"]
                if accepted and self.copies:
                    self._settle(write)
            elif answer.get("error") == "conflict":
                write.error = Conflict(f"document {write.doc['_id']} changed meanwhile (conflict)", 409, "conflict")
            elif answer.get("error") in ("forbidden", "unauthorized"):
                write.error = Unauthorized(f"document {write.doc['_id']} refused: {answer.get('reason')}", 403,
                                           answer.get("error"))
            else:
                write.error = CouchError(f"document {write.doc['_id']} not saved: {answer.get('error')}: "
                                         f"{answer.get('reason')}", None, answer.get("error"))
            write.finish()
