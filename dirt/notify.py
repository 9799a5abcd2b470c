"""Notifications: tell people and services when tasks fail and records finish.

What is sent (each only if configured in the project's settings):

* a task ends ``failed`` or ``error``: one e-mail to ``notify_list`` naming the
  record, task, node and reason, with a link to the record's page;
* every task of a record is finished: one JSON POST of the record's summary to
  ``webhook_url``, and, for records that carry a commit (``sha`` or ``commit``)
  and a ``repository``, one GitHub or GitLab commit status.

A :class:`Notifier` never holds up the scheduler: :meth:`Notifier.task_final`
only puts the document on a queue. A worker thread decides what to send and
*claims* each notification by creating a document with a deterministic id
(``notification:<kind>:<task or record id>:<completion time in ms>``) with a
plain PUT: a 409 means another server (or this one, before a restart) already
has it, so each notification is sent once however many ``dirt serve`` run.
:class:`~dirt.delivery.Deliveries` sends what was claimed and records on the
claim document how that went. A claim whose server died is taken over by any
notifier once its lease has run out. What the messages say is in
:mod:`dirt.notices`. :meth:`Notifier.step` is one round of the worker, for
tests that drive it.

So that nothing is lost when a ``dirt serve`` stops between finishing a task
and claiming its notifications, the worker also sweeps: at start it looks at
tasks that finished in the last ``catch_up`` seconds (an hour), and then every
``sweep_interval`` seconds at those finished since its last sweep, and sends
what nobody has claimed. The views it needs for that, and to see whether all
tasks of a record are finished, live in the design document
``_design/dirt-notify``, which the notifier installs itself.
"""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Mapping

from . import channels, documents
from .couch import Database
from .delivery import Deliveries
from .documents import TaskState, state_rule_js
from .errors import Conflict, CouchError, NotFound
from .notices import (COMMIT_STATUS, FAILURE, STATUS_CONTEXT, WEBHOOK, RecordSummary, completion_ms, describe,
                      failure_email, notification_id, record_url)
from .settings import Settings

log = logging.getLogger(__name__)

DESIGN_ID = "_design/dirt-notify"
VIEW_TIMEOUT = 600.0        # a view's first build over a big database takes a while
SEEN_LIMIT = 50_000


def views() -> dict:
    """The views of ``_design/dirt-notify``."""
    return {
        # record_id -> each of its tasks, small: whether all are finished, and the summary.
        "tasks_by_record": {"map": (
            "function (doc) {\n" + state_rule_js() +
            "\n  if (doc.type !== 'task' || typeof doc.record_id !== 'string') return;\n  var state = taskState(doc);\n"
            "  emit(doc.record_id, {state: state, name: doc.name || null, node: doc.node || null,\n"
            "                       completed: typeof doc.completed === 'number' ? doc.completed : null});\n}")},
        # completion time -> finished task: what the sweep looks at.
        "finished_tasks": {"map": (
            "function (doc) {\n" + state_rule_js() +
            "\n  if (doc.type !== 'task' || typeof doc.completed !== 'number') return;\n  var state = taskState(doc);\n"
            "  if (isFinalState(state)) emit(doc.completed, {state: state,\n"
            "    record_id: typeof doc.record_id === 'string' ? doc.record_id : null});\n}")},
        # lease expiry -> notification claims still under way.
        "pending_notifications": {"map": (
            "function (doc) {\n  if (doc.type !== 'notification') return;\n"
            "  if (doc.state === 'sending' || doc.state === 'retrying') emit(doc.expires, null);\n}")},
    }


# -- the notifier ----------------------------------------------------------------------------------

class Notifier:
    """Sends a project's notifications from its own threads; see the module docstring.

    Call :meth:`start`, hand it every task that became final with
    :meth:`task_final` (the scheduler's ``on_final``), and :meth:`close` it.
    ``clock`` is wall time (leases and retry times are stored in documents);
    ``environ`` holds the SMTP login and the commit status token.
    """

    def __init__(self, db: Database, settings: Settings, *, clock: Callable[[], float] = time.time,
                 environ: Mapping[str, str] | None = None, server_id: str | None = None,
                 sweep_interval: float = 60.0, catch_up: float = 3600.0, senders: int = 4):
        self.db = db
        self.settings = settings
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.server_id = server_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.sweep_interval = sweep_interval
        self.catch_up = catch_up
        self.lease = max(60.0, 3 * settings.notify_timeout)
        self.deliveries = Deliveries(db, settings, self.environ, self.lease, clock, senders)
        self._inbox: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self._cv = threading.Condition()
        self._busy = 0                  # finals handed in but not yet decided
        self._ready = False             # the first sweep has run
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._views_ready = False
        self._swept_until = 0.0
        self._next_sweep = 0.0
        self._seen: OrderedDict[tuple, None] = OrderedDict()  # what this notifier already looked at
        self._warned: set[str] = set()

    @property
    def enabled(self) -> bool:
        """Whether any notification is configured (if not, the notifier does nothing at all)."""
        s = self.settings
        return bool(s.notify_list or s.webhook_url or s.commit_status)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "Notifier":
        """Start the worker and sender threads (no-op if nothing is configured)."""
        if not self.enabled or self._threads:
            return self
        s = self.settings
        if s.commit_status and not self.environ.get(self.deliveries.token_env()):
            log.warning("commit_status is %s but the environment variable %s is not set: "
                        "commit statuses will fail", s.commit_status, self.deliveries.token_env())
        self._swept_until = self.clock() - self.catch_up
        worker = threading.Thread(target=self._work, name="notify", daemon=True)
        self._threads.append(worker)
        worker.start()
        self.deliveries.start()
        return self

    def task_final(self, doc: dict) -> None:
        """A task reached a final state: decide and send its notifications later. Never blocks."""
        if not self._threads or self._closing:
            return
        with self._cv:
            self._busy += 1
        self._inbox.put(("final", doc))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until everything handed in so far is sent, failed or given up; whether it was."""
        if not self._threads:
            return True
        deadline = time.monotonic() + timeout
        with self._cv:
            if not self._cv.wait_for(lambda: self._ready and self._busy == 0, timeout):
                return False
        return self.deliveries.wait_idle(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float | None = None) -> None:
        """Finish what is under way (up to ``timeout``, default notify_timeout + 5 s), then stop.

        Notifications still waiting to be retried, or not sent by then, are
        left claimed with an expired lease, so the next notifier on the
        database (this one restarted, or another server's) sends them.
        """
        if not self._threads:
            return
        deadline = time.monotonic() + (self.settings.notify_timeout + 5 if timeout is None else timeout)
        self._inbox.put(("stop", None))
        self._threads[0].join(max(0.0, deadline - time.monotonic()))
        with self._cv:
            self._cv.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic()))
            self._closing = True
        self.deliveries.close(deadline)
        self._threads = []

    # -- the worker: decide and claim ----------------------------------------------------------------
    def _work(self) -> None:
        while self.step():
            pass

    def step(self, now: float | None = None, timeout: float = 0.2) -> bool:
        """One round of the notifier: sweep when due, restart due retries, then
        decide the notifications of the next finished task handed in (waiting
        up to ``timeout`` for one). False once :meth:`close` asked it to stop."""
        now = self.clock() if now is None else now
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_interval
            try:
                self._sweep()
            except CouchError as exc:
                self._warn_once(f"notifications: cannot look for unsent notifications yet ({exc})")
            except Exception:
                log.exception("notifications: sweep failed")
            finally:
                with self._cv:
                    self._ready = True
                    self._cv.notify_all()
        self.deliveries.start_due_retries(now)
        try:
            kind, payload = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return True
        if kind == "stop":
            return False
        try:
            self._handle_final(payload)
        except CouchError as exc:
            log.warning("Task %s: notifications not decided yet (%s); the next sweep tries again",
                        payload.get("_id"), exc)
        except Exception:
            log.exception("Task %s: could not decide its notifications", payload.get("_id"))
        finally:
            self._done()
        return True

    def _handle_final(self, doc: dict) -> None:
        state = documents.task_state(doc)
        if state not in documents.FINAL_STATES:
            return
        key = ("task", doc.get("_id"), completion_ms(doc))
        if key not in self._seen:
            if state in (TaskState.FAILED.value, TaskState.ERROR.value) and self.settings.notify_list:
                self._notify_failure(doc)
            self._remember(key)
        record_id = doc.get("record_id")
        if isinstance(record_id, str) and self._record_kinds():
            self._check_record(record_id)

    def _record_kinds(self) -> list[str]:
        kinds = []
        if self.settings.webhook_url:
            kinds.append(WEBHOOK)
        if self.settings.commit_status:
            kinds.append(COMMIT_STATUS)
        return kinds

    def _notify_failure(self, doc: dict) -> None:
        record = self._record(doc.get("record_id"))
        message = failure_email(doc, record, self.settings)
        nid = notification_id(FAILURE, doc["_id"], completion_ms(doc))
        self._claim(self._new_claim(nid, FAILURE, message, task_id=doc["_id"], record_id=doc.get("record_id")))

    def _check_record(self, record_id: str) -> None:
        """If every task of the record is finished, claim its webhook and commit status."""
        summary = self._summary(record_id)
        if summary is None or not summary.finished:
            return
        key = ("record", record_id, summary.finished_ms)
        if key in self._seen:
            return
        self._claim_record(summary)
        self._remember(key)

    def _claim_record(self, summary: RecordSummary) -> None:
        record_id, ms = summary.record_id, summary.finished_ms
        if self.settings.webhook_url:
            self._claim(self._new_claim(notification_id(WEBHOOK, record_id, ms), WEBHOOK,
                                        {"body": summary.webhook_body(self.settings)}, record_id=record_id))
        service = self.settings.commit_status
        sha, repository = summary.commit
        if service and (sha or repository):
            repo = channels.repository_path(service, repository)
            if repo is None or not channels.valid_sha(sha):
                log.warning("Record %s: no %s commit status: its sha %r / repository %r are not a commit "
                            "and a repository", record_id, service, sha, repository)
                return
            message = {"service": service, "repository": repo, "sha": sha,
                       "state": channels.status_state(service, summary.outcome),
                       "description": f"{summary.describe_counts()} ({self.settings.project_name})",
                       "target_url": record_url(self.settings, record_id), "context": STATUS_CONTEXT}
            self._claim(self._new_claim(notification_id(COMMIT_STATUS, record_id, ms), COMMIT_STATUS, message,
                                        record_id=record_id))

    def _summary(self, record_id: str) -> RecordSummary | None:
        """The record's tasks, if it has any; when they look finished, read twice.

        A view can miss a document that was written while its index was being
        updated (pouchdb-server skips it until the next update), so a record
        is only called finished when two readings in a row agree.
        """
        tasks = self._record_tasks(record_id)
        for _ in range(3):
            summary = RecordSummary(record_id, {}, tasks)
            if not tasks or not summary.finished:
                return summary if tasks else None
            again = self._record_tasks(record_id)
            if again == tasks:
                summary.record = self._record(record_id)
                return summary
            tasks = again
        return None     # still changing: the task that changes it brings us back

    def _record_tasks(self, record_id: str) -> list[dict]:
        rows = self._view("tasks_by_record", key=record_id)["rows"]
        tasks = [{"id": row["id"], **(row.get("value") or {})} for row in rows]
        return sorted(tasks, key=lambda t: (str(t.get("name")), t["id"]))

    def _record(self, record_id: Any) -> dict:
        if not isinstance(record_id, str) or not record_id:
            return {}
        try:
            return self.db.get(record_id)
        except NotFound:
            return {"_id": record_id}

    def _new_claim(self, nid: str, kind: str, message: dict, **about: Any) -> dict:
        now = self.clock()
        return {"_id": nid, "type": "notification", "kind": kind, **about, "state": "sending",
                "server": self.server_id, "expires": now + self.lease, "tries": 0, "created": now,
                "message": message}

    def _claim(self, claim: dict) -> None:
        """Create the claim document; only whoever creates it sends."""
        try:
            saved = self.db.save(claim)
        except Conflict:
            log.debug("%s: already claimed", describe(claim))
            return
        self.deliveries.send(saved)

    # -- the sweep ------------------------------------------------------------------------------------
    def _sweep(self) -> None:
        """Take over expired claims; notify about recent finished tasks nobody has claimed."""
        self._ensure_views()
        now = self.clock()
        for row in self._view("pending_notifications", endkey=now, include_docs=True)["rows"]:
            claim = row.get("doc")
            if isinstance(claim, dict) and isinstance(claim.get("expires"), (int, float)) and claim["expires"] <= now:
                self._take_over(claim, now)
        rows = self._view("finished_tasks", startkey=self._swept_until)["rows"]
        failures: dict[str, tuple] = {}
        records: dict[str, int] = {}
        for row in rows:
            value = row.get("value") or {}
            ms = completion_ms({"completed": row.get("key")})
            key = ("task", row["id"], ms)
            if key not in self._seen:
                if value.get("state") in (TaskState.FAILED.value, TaskState.ERROR.value) and self.settings.notify_list:
                    failures[notification_id(FAILURE, row["id"], ms)] = key
                else:
                    self._remember(key)
            record_id = value.get("record_id")
            if record_id and self._record_kinds():
                records[record_id] = max(records.get(record_id, 0), ms)
        records = {r: ms for r, ms in records.items() if ("record", r, ms) not in self._seen}
        wanted = list(failures) + [notification_id(kind, r, ms) for r, ms in records.items()
                                   for kind in self._record_kinds()]
        existing = self._existing(wanted)
        for nid, key in failures.items():
            if nid not in existing:
                doc = self.db.get(key[1])
                if completion_ms(doc) == key[2] and documents.task_state(doc) in documents.FINAL_STATES:
                    log.info("Task %s: notifying its %s now (not done when it finished)", key[1],
                             documents.task_state(doc))
                    self._notify_failure(doc)
            self._remember(key)
        for record_id, ms in records.items():
            if any(notification_id(kind, record_id, ms) not in existing for kind in self._record_kinds()):
                self._check_record(record_id)
            self._remember(("record", record_id, ms))
        self._swept_until = max(self._swept_until, now - 2 * self.sweep_interval - 60)

    def _take_over(self, claim: dict, now: float) -> None:
        previous = claim.get("server")
        claim.update(state="sending", server=self.server_id, expires=now + self.lease)
        try:
            saved = self.db.save(claim)
        except Conflict:
            return
        log.info("%s: taking over from %s, which did not finish it", describe(claim), previous)
        self.deliveries.send(saved)

    def _existing(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 50):     # keys go in the URL: keep it short
            batch = ids[start:start + 50]
            for row in self.db.all_docs(keys=batch).get("rows", []):
                if "error" not in row and not (row.get("value") or {}).get("deleted"):
                    found.add(row["key"])
        return found

    def _ensure_views(self) -> None:
        if self._views_ready:
            return
        try:
            current = self.db.get(DESIGN_ID)
        except NotFound:
            current = {"_id": DESIGN_ID}
        if current.get("views") != views():
            current.update(language="javascript", views=views())
            try:
                self.db.save(current)
            except Conflict:
                pass   # another server installed it just now
        self._views_ready = True

    def _view(self, name: str, **params: Any) -> dict:
        self._ensure_views()
        try:
            return self.db.view(DESIGN_ID[len("_design/"):], name, timeout=VIEW_TIMEOUT, **params)
        except NotFound:
            self._views_ready = False   # someone deleted the design document: put it back next time
            raise

    # -- small things -------------------------------------------------------------------------------
    def _done(self) -> None:
        with self._cv:
            self._busy -= 1
            self._cv.notify_all()

    def _remember(self, key: tuple) -> None:
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)


