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
has it, so each notification is sent once however many ``dirt serve`` run. The
claim document then records the outcome: ``sent``, or ``failed`` with the
error after ``notify_retries`` retries (doubling delays from
``notify_retry_delay``), or ``sending``/``retrying`` with a lease (``expires``)
while that is under way. Sender threads do the sending, so one slow server
delays no other notification. A claim whose server died is taken over by any
notifier once its lease has run out.

So that nothing is lost when a ``dirt serve`` stops between finishing a task
and claiming its notifications, the worker also sweeps: at start it looks at
tasks that finished in the last ``catch_up`` seconds (an hour), and then every
``sweep_interval`` seconds at those finished since its last sweep, and sends
what nobody has claimed. The views it needs for that, and to see whether all
tasks of a record are finished, live in the design document
``_design/dirt-notify``, which the notifier installs itself.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import quote

from . import channels, documents
from .channels import DeliveryError, SmtpConfig
from .couch import Database, split_credentials
from .documents import TaskState, state_rule_js
from .errors import Conflict, CouchError, NotFound
from .plural import plural
from .settings import Settings

log = logging.getLogger(__name__)

DESIGN_ID = "_design/dirt-notify"
FAILURE, WEBHOOK, COMMIT_STATUS = "failure", "webhook", "commit_status"
STATUS_CONTEXT = "dirt"
OUTCOME_ORDER = ("failed", "error", "cancelled", "skipped", "passed")   # a record's outcome: the first one present
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


# -- what is said -------------------------------------------------------------------------------

def web_base_url(settings: Settings) -> str:
    """The web app's URL, ending in ``/``: ``web_url``, or the design document's on the CouchDB server."""
    if settings.web_url:
        return settings.web_url.rstrip("/") + "/"
    base = split_credentials(settings.couchdb_host)[0]   # never a password in a link
    return f"{base}/{quote(settings.couchdb_dbname, safe='')}/_design/{quote(settings.project_name, safe='')}/"


def record_url(settings: Settings, record_id: str) -> str:
    """The record's page in the web app."""
    return f"{web_base_url(settings)}record.html?id={quote(record_id, safe='')}"


def completion_ms(doc: Mapping) -> int:
    """When a task became final, in whole milliseconds: part of its notifications' ids."""
    completed = doc.get("completed")
    if isinstance(completed, (int, float)) and not isinstance(completed, bool):
        return int(round(completed * 1000))
    return 0


def notification_id(kind: str, subject_id: str, ms: int) -> str:
    return f"notification:{kind}:{subject_id}:{ms}"


def failure_reason(doc: Mapping) -> str:
    reason = doc.get("reason")
    if isinstance(reason, str) and reason.strip():
        return reason.strip()
    results = doc.get("results")
    if isinstance(results, dict) and isinstance(results.get("reason"), str) and results["reason"].strip():
        return results["reason"].strip()
    if documents.task_state(dict(doc)) == TaskState.FAILED.value:
        return "the task returned success: false"
    return "no reason was recorded"


def failure_email(doc: Mapping, record: Mapping, settings: Settings) -> dict:
    """``{to, subject, body}`` of the e-mail about a failed or errored task."""
    project = settings.project_name
    state = documents.task_state(dict(doc))
    name = str(doc.get("name") or "?")
    record_id = str(doc.get("record_id") or "?")
    node = str(doc.get("node") or "") or "(none: it did not start on a node)"
    description = record.get("description")
    what = "failed" if state == TaskState.FAILED.value else "ended in error"
    lines = [
        f"Task {name} of record {record_id} {what}.",
        "",
        f"Record:  {record_id}" + (f" ({' '.join(str(description).split())})" if description else ""),
        f"Task:    {doc.get('_id')} ({name})",
        f"Node:    {node}",
        f"State:   {state}",
        f"Reason:  {failure_reason(doc)}",
        "",
        f"Record page: {record_url(settings, record_id)}",
    ]
    traceback = doc.get("traceback")
    if isinstance(traceback, str) and traceback.strip():
        lines += ["", "Traceback:", traceback.rstrip()[-4000:]]
    lines += ["", "-- ", f"dirt, project {project}"]
    on = f" on {doc['node']}" if doc.get("node") else ""
    return {"to": list(settings.notify_list), "subject": f"[{project}] {name} {state}{on} (record {record_id})",
            "body": "\n".join(lines) + "\n"}


@dataclass
class RecordSummary:
    """A record and the states of its tasks (as the ``tasks_by_record`` view has them)."""

    record_id: str
    record: dict
    tasks: list[dict]       # {id, name, state, node, completed}

    @property
    def finished(self) -> bool:
        return bool(self.tasks) and all(t["state"] in documents.FINAL_STATES for t in self.tasks)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task["state"]] = counts.get(task["state"], 0) + 1
        return counts

    @property
    def outcome(self) -> str:
        counts = self.counts
        return next((state for state in OUTCOME_ORDER if counts.get(state)), "passed")

    @property
    def finished_ms(self) -> int:
        return max((completion_ms(t) for t in self.tasks), default=0)

    @property
    def commit(self) -> tuple[Any, Any]:
        """The record's (sha, repository), either possibly None."""
        return self.record.get("sha") or self.record.get("commit"), self.record.get("repository")

    def describe_counts(self) -> str:
        counts = self.counts
        return ", ".join(f"{counts[s]} {s}" for s in ("passed", "failed", "error", "cancelled", "skipped")
                         if counts.get(s))

    def webhook_body(self, settings: Settings) -> dict:
        record = {k: v for k, v in self.record.items() if k not in ("_rev", "_attachments")}
        return {
            "event": "record.finished",
            "project": settings.project_name,
            "record_id": self.record_id,
            "outcome": self.outcome,
            "counts": self.counts,
            "total": len(self.tasks),
            "finished": self.finished_ms / 1000,
            "url": record_url(settings, self.record_id),
            "record": record,
            "tasks": self.tasks,
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
        self.smtp = SmtpConfig.from_settings(settings, self.environ)
        self.lease = max(60.0, 3 * settings.notify_timeout)
        self._senders = senders
        self._inbox: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self._outbox: "queue.Queue[dict | None]" = queue.Queue()
        self._retries: list[tuple[float, int, dict]] = []     # (due, n, claim), a heap
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._busy = 0                  # finals and claims taken in but not yet done with
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
        if s.commit_status and not self.environ.get(self._token_env()):
            log.warning("commit_status is %s but the environment variable %s is not set: "
                        "commit statuses will fail", s.commit_status, self._token_env())
        self._swept_until = self.clock() - self.catch_up
        worker = threading.Thread(target=self._work, name="notify", daemon=True)
        self._threads.append(worker)
        for n in range(self._senders):
            self._threads.append(threading.Thread(target=self._send_loop, name=f"notify-send-{n}", daemon=True))
        for thread in self._threads:
            thread.start()
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
        with self._cv:
            return self._cv.wait_for(lambda: self._ready and self._busy == 0 and not self._retries, timeout)

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
            retries, self._retries = self._retries, []
        for _, _, claim in retries:
            self._release(claim)
        for _ in range(self._senders):
            self._outbox.put(None)
        for thread in self._threads[1:]:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._threads = []

    # -- the worker: decide and claim ----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            now = self.clock()
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
            self._start_due_retries()
            try:
                kind, payload = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "stop":
                return
            try:
                self._handle_final(payload)
            except CouchError as exc:
                log.warning("Task %s: notifications not decided yet (%s); the next sweep tries again",
                            payload.get("_id"), exc)
            except Exception:
                log.exception("Task %s: could not decide its notifications", payload.get("_id"))
            finally:
                self._done()

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
        self._queue_send(saved)

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
        self._queue_send(saved)

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

    # -- retries ---------------------------------------------------------------------------------
    def _start_due_retries(self) -> None:
        now = self.clock()
        while True:
            with self._cv:
                if not self._retries or self._retries[0][0] > now:
                    return
                _, _, claim = heapq.heappop(self._retries)
                self._busy += 1     # counted as a send from here on, so wait_idle never sees a gap
            claim.update(state="sending", expires=now + self.lease)
            try:
                saved = self.db.save(claim)
            except Conflict:
                log.info("%s: another server took it over", describe(claim))
                self._done()
                continue
            except CouchError as exc:
                log.warning("%s: cannot renew the claim yet (%s)", describe(claim), exc)
                claim["expires"] = now + 5
                with self._cv:
                    heapq.heappush(self._retries, (now + 5, next(self._counter), claim))
                self._done()
                continue
            self._outbox.put(saved)

    def _release(self, claim: dict) -> None:
        """Leave a claim for the next notifier (lease expired now)."""
        claim["expires"] = self.clock()
        try:
            self.db.save(claim)
        except CouchError:
            pass    # its lease runs out on its own

    # -- senders -----------------------------------------------------------------------------------
    def _queue_send(self, claim: dict) -> None:
        with self._cv:
            self._busy += 1
        self._outbox.put(claim)

    def _done(self) -> None:
        with self._cv:
            self._busy -= 1
            self._cv.notify_all()

    def _send_loop(self) -> None:
        while True:
            claim = self._outbox.get()
            if claim is None:
                return
            try:
                if self._closing:
                    self._release(claim)
                else:
                    self._deliver(claim)
            except Exception:
                log.exception("%s: could not be sent", describe(claim))
            finally:
                self._done()

    def _deliver(self, claim: dict) -> None:
        tries = int(claim.get("tries") or 0) + 1
        try:
            self._send(claim)
        except DeliveryError as exc:
            error, permanent = str(exc), exc.permanent
        except Exception as exc:    # a bug must not leave the claim "sending" forever
            log.exception("%s: unexpected failure", describe(claim))
            error, permanent = f"{type(exc).__name__}: {exc}", True
        else:
            claim.update(state="sent", tries=tries, sent=self.clock())
            claim.pop("error", None)
            claim.pop("next_try", None)
            if self._record_outcome(claim):
                log.info("%s sent", describe(claim))
            return
        retries = self.settings.notify_retries
        if permanent or tries > retries:
            claim.update(state="failed", tries=tries, error=error, failed=self.clock())
            claim.pop("next_try", None)
            self._record_outcome(claim)
            why = "it cannot succeed" if permanent else plural(tries, "try", "tries")
            log.error("%s failed, giving up after %s: %s", describe(claim), why, error)
            return
        delay = self.settings.notify_retry_delay * 2 ** (tries - 1)
        now = self.clock()
        claim.update(state="retrying", tries=tries, error=error, next_try=now + delay,
                     expires=now + delay + self.lease)
        saved = self._record_outcome(claim)
        log.warning("%s failed (try %d of %d): %s; retrying in %g s", describe(claim), tries, retries + 1,
                    error, delay)
        if saved is not None:
            with self._cv:
                heapq.heappush(self._retries, (now + delay, next(self._counter), saved))

    def _record_outcome(self, claim: dict) -> dict | None:
        """Save the claim's new state; keep trying while the database is unreachable.

        Not saving "sent" would let another server send it again once the
        lease runs out, so this tries for most of the lease.
        """
        deadline = time.monotonic() + self.lease / 2
        delay = 0.5
        while True:
            try:
                return self.db.save(copy.deepcopy(claim))
            except Conflict:
                log.warning("%s: another server took it over meanwhile", describe(claim))
                return None
            except CouchError as exc:
                if time.monotonic() > deadline:
                    log.error("%s: could not record that it was %s (%s)", describe(claim), claim["state"], exc)
                    return None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _send(self, claim: dict) -> None:
        kind, message, s = claim.get("kind"), claim.get("message") or {}, self.settings
        if kind == FAILURE:
            refused = channels.send_email(message.get("to") or [], message.get("subject", ""),
                                          message.get("body", ""), smtp=self.smtp)
            if refused:
                log.warning("%s: the SMTP server refused %s", describe(claim), ", ".join(refused))
        elif kind == WEBHOOK:
            if not s.webhook_url:
                raise DeliveryError("webhook_url is not set (any more)", permanent=True)
            channels.post_json(s.webhook_url, message.get("body"), timeout=s.notify_timeout,
                               headers={"X-Dirt-Event": "record.finished", "X-Dirt-Delivery": claim["_id"]})
        elif kind == COMMIT_STATUS:
            service = message.get("service")
            if service != s.commit_status:
                raise DeliveryError(f"commit_status is not {service!r} (any more)", permanent=True)
            token = self.environ.get(self._token_env())
            if not token:
                raise DeliveryError(f"no token: the environment variable {self._token_env()} is not set",
                                    permanent=True)
            channels.post_commit_status(service, s.commit_status_api, message["repository"], message["sha"],
                                        state=message["state"], description=message["description"],
                                        target_url=message["target_url"], context=message["context"],
                                        token=token, timeout=s.notify_timeout)
        else:
            raise DeliveryError(f"unknown kind of notification {kind!r}", permanent=True)

    # -- small things -------------------------------------------------------------------------------
    def _token_env(self) -> str:
        s = self.settings
        return s.commit_status_token_env or channels.COMMIT_STATUS_TOKEN_ENVS.get(s.commit_status, "")

    def _remember(self, key: tuple) -> None:
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)


def describe(claim: Mapping) -> str:
    """How a notification is named in the log (never with a URL or token)."""
    kind = claim.get("kind")
    if kind == FAILURE:
        return f"Task {claim.get('task_id')}: failure e-mail"
    if kind == WEBHOOK:
        return f"Record {claim.get('record_id')}: webhook"
    if kind == COMMIT_STATUS:
        message = claim.get("message") or {}
        return f"Record {claim.get('record_id')}: {message.get('service')} commit status"
    return f"notification {claim.get('_id')}"
