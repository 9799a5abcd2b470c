"""What dirt says in its notifications, and about whom: pure functions, no I/O.

The e-mail about a failed task (:func:`failure_email`), a finished record's
summary and webhook body (:class:`RecordSummary`), the links into the web
app, and the deterministic ids under which each notification is claimed
(:func:`notification_id`). :mod:`dirt.notify` decides when to send them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote

from . import documents
from .couch import split_credentials
from .documents import TaskState
from .settings import Settings

FAILURE, WEBHOOK, COMMIT_STATUS = "failure", "webhook", "commit_status"
STATUS_CONTEXT = "dirt"
OUTCOME_ORDER = ("failed", "error", "cancelled", "skipped", "passed")   # a record's outcome: the first one present


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
        *rerun_lines(doc),
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


def rerun_lines(doc: Mapping) -> list[str]:
    """For a task that was rerun: which run this is, who asked, and how the earlier runs ended."""
    run = doc.get("run")
    if not isinstance(run, int) or isinstance(run, bool) or run < 2:
        return []
    asked = f" (rerun by {doc['rerun_by']})" if isinstance(doc.get("rerun_by"), str) else ""
    earlier = [r for r in doc.get("runs") or [] if isinstance(r, dict)]
    ended = ", ".join(f"run {r.get('run')} {r.get('state')}" for r in earlier)
    return [f"Run:     {run}{asked}" + (f"; earlier: {ended}" if ended else "")]


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
