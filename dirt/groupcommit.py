"""Group commit: concurrent document writes merged into ``_bulk_docs`` requests.

Each task costs dirt a claim write and an outcome write, from different
threads. Sent one by one they keep a single-process server such as
pouchdb-server busy (a PUT costs it about as much CPU as a whole small
``_bulk_docs`` batch). :class:`GroupCommit` sends whatever writes are waiting
in one ``_bulk_docs`` request while the previous one is in flight, so batching
adds no delay when the server is idle and grows when it is busy.

Every write stays revision-checked: ``_bulk_docs`` (without
``all_or_nothing``) checks each document's ``_rev`` on its own, and each
caller gets its own new revision, or :class:`~dirt.errors.Conflict`, or the
error the server gave. Answers are matched by id (pouchdb-server does not
always answer in request order), so one batch never holds the same id twice.
"""
from __future__ import annotations

import threading
import uuid
from typing import Sequence

from .couch import Database
from .errors import Conflict, CouchError, Unauthorized


class _Write:
    __slots__ = ("doc", "done", "error")

    def __init__(self, doc: dict):
        self.doc = doc
        self.done = threading.Event()
        self.error: CouchError | None = None


class GroupCommit:
    """Saves documents to ``db`` in shared ``_bulk_docs`` requests."""

    def __init__(self, db: Database, max_batch: int = 200):
        self.db = db
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
        writes = []
        for doc in docs:
            doc.setdefault("_id", uuid.uuid4().hex)
            writes.append(_Write(doc))
        with self._cond:
            if self._closed:
                raise CouchError("the database writer is closed")
            self._pending.extend(writes)
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="groupcommit", daemon=True)
                self._sender.start()
            self._cond.notify()
        for write in writes:
            write.done.wait()
        return [write.error if write.error else write.doc for write in writes]

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

    def _send(self, batch: list[_Write]) -> None:
        try:
            answers = self.db.bulk_docs([w.doc for w in batch])
        except CouchError as exc:
            if len(batch) > 1 and exc.status is not None and 400 <= exc.status < 500:
                # One document (too large, say) spoiled the request: send each on its own.
                for write in batch:
                    self._send([write])
                return
            for write in batch:
                write.error = exc
                write.done.set()
            return
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        for write in batch:
            answer = by_id.get(write.doc["_id"])
            if answer is None:
                write.error = CouchError(f"_bulk_docs gave no answer for {write.doc['_id']!r}")
            elif answer.get("rev") and not answer.get("error"):
                write.doc["_rev"] = answer["rev"]
            elif answer.get("error") == "conflict":
                write.error = Conflict(f"document {write.doc['_id']} changed meanwhile (conflict)", 409, "conflict")
            elif answer.get("error") in ("forbidden", "unauthorized"):
                write.error = Unauthorized(f"document {write.doc['_id']} refused: {answer.get('reason')}", 403,
                                           answer.get("error"))
            else:
                write.error = CouchError(f"document {write.doc['_id']} not saved: {answer.get('error')}: "
                                         f"{answer.get('reason')}", None, answer.get("error"))
            write.done.set()
