"""What a task is handed by the tasks it runs after: their results and files.

A task that runs after others (``after``) finds in its environment, as JSON,
what each of them returned::

    DIRT_AFTER = [{"id": "r1-build", "name": "build", "state": "passed",
                   "platform": "linux", "kwargs": {...}, "results": {...},
                   "files": {"hello.tar.gz": "http://db.example.org:5984/builder/r1-build/hello.tar.gz"}}]

one entry per task, in the order its ``after`` names them, and every task
gets ``DIRT_COUCHDB_URL``, its database's URL. These URLs never hold a
password: they are built from the ``task_couchdb_url`` setting (default:
``couchdb_host``) with any credentials taken out, since a task's environment
is seen by everything it runs. A task fetching a file from a database that
needs a login brings its own (a read-only account in ``~/.netrc`` on the
node; docs/pipelines.rst shows how).

If the entries would make the variable longer than :data:`LIMIT` (programs
a task starts get the environment too, and an operating system caps each
variable), the largest ``results`` are left out, marked ``"results": null,
"results_omitted": true``; the task then reads that task's document from
``DIRT_COUCHDB_URL``.

The documents are read when the task starts (in its slot's thread), so the
results are those its dependencies ended with.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .attempts import Run
from .couch import Database, split_credentials
from .documents import task_state
from .settings import Settings

LIMIT = 64 * 1024     # bytes of DIRT_AFTER at most


def database_url(settings: Settings) -> str:
    """The database's URL as tasks are given it: ``task_couchdb_url`` or ``couchdb_host``, without credentials."""
    base = split_credentials(settings.task_couchdb_url or settings.couchdb_host, environ={})[0]
    return f"{base}/{quote(settings.couchdb_dbname, safe='')}"


class Handoff:
    """Builds the environment a run is given; see the module docstring."""

    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.url = database_url(settings)

    def environment(self, run: Run) -> dict[str, str]:
        """``DIRT_COUCHDB_URL``, and ``DIRT_AFTER`` for a task that runs after others.
        Raises CouchError if the documents cannot be read."""
        env = {"DIRT_COUCHDB_URL": self.url}
        if run.after:
            answer = self.db.all_docs(keys=list(run.after), include_docs=True)
            docs = {row["id"]: row["doc"] for row in answer.get("rows", []) if isinstance(row.get("doc"), dict)}
            env["DIRT_AFTER"] = after_json([docs[i] for i in run.after if i in docs], self.url)
        return env


def after_entry(doc: dict, url: str) -> dict[str, Any]:
    """What a follower is told of one task it runs after."""
    doc_url = f"{url}/{quote(doc['_id'], safe='')}"
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "state": task_state(doc),
        "platform": doc.get("platform"),
        "kwargs": doc.get("kwargs") if isinstance(doc.get("kwargs"), dict) else {},
        "results": doc.get("results") if isinstance(doc.get("results"), dict) else None,
        "files": {name: f"{doc_url}/{quote(name, safe='/')}" for name in sorted(doc.get("_attachments") or {})},
        "url": doc_url,
    }


def after_json(docs: list[dict], url: str, limit: int = LIMIT) -> str:
    """``DIRT_AFTER`` for these documents, the largest results left out until it fits ``limit``."""
    entries = [after_entry(doc, url) for doc in docs]
    text = json.dumps(entries, ensure_ascii=False, sort_keys=True)
    by_size = sorted(range(len(entries)), key=lambda i: -len(json.dumps(entries[i]["results"])))
    for i in by_size:
        if len(text.encode("utf-8")) <= limit:
            break
        entries[i].update(results=None, results_omitted=True)
        text = json.dumps(entries, ensure_ascii=False, sort_keys=True)
    return text
