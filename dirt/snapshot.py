"""Start-up without reading the history: what a starting server needs, from one view.

A server needs every unfinished task, every node and every server heartbeat;
it does not need the finished tasks, which are nearly all of a database that
has been in use for months. dirt keeps its own design document,
``_design/dirt-serve``, with one view of exactly those documents (tasks by
the shared state rule, ``web/lib/state.js``). A starting server notes the
database's ``update_seq``, reads the view, and then follows ``_changes`` from
that sequence, so nothing written meanwhile is missed (a change seen twice is
harmless: documents are taken by revision).

The view is built once, in the background, by the first server on a
database (about a minute per 100,000 documents on pouchdb-server; that first
server reads the ``_changes`` history as dirt always did), then kept current
by each start and by :func:`refresh` every few minutes while a server runs,
so a later start costs time in proportion to the work in flight, not to the
history. Where the design document cannot be written (an account that is not
a database admin), the server reads the whole ``_changes`` history at every
start instead, and says so.

The same design document answers what a record's followers need
(:func:`record_tasks`: every task of a record, briefly) and what bisections
read (the records of a branch, the open bisections).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Iterable, Iterator

from .couch import Database
from .documents import is_task, state_rule_js
from .errors import Conflict, CouchError, NotFound, Unauthorized
from .pipeline import Brief
from .taskdoc import parse_task

log = logging.getLogger(__name__)

DESIGN = "dirt-serve"
VIEW = "unfinished"
PAGE = 1000
VIEW_TIMEOUT = 900.0
BUILD_TIMEOUT = 7200.0     # seconds: a first build over millions of documents
READY_DOC = "_local/dirt-serve"


COUNTS = "counts"
BY_RECORD = "by_record"
BRANCH_RECORDS = "branch_records"
OPEN_BISECTS = "open_bisects"
KEYS_PER_REQUEST = 50       # record or document ids per GET (they travel in the URL)


def design_document() -> dict:
    """``unfinished``: unfinished tasks, nodes and servers (what a server starts
    from); ``counts``: records and tasks by state (what ``dirt status`` sums up);
    ``by_record``: each task's name, state, node, after and revision by record
    (what a server reads of a record whose tasks run after others);
    ``branch_records``: records by [branch, created, _id] and ``open_bisects``:
    bisect documents not yet done (what :mod:`dirt.bisector` reads)."""
    return {"_id": f"_design/{DESIGN}", "language": "javascript", "views": {
        VIEW: {"map": (
            "function (doc) {\n" + state_rule_js() + "\n"
            "  if (doc.type === 'task') {\n"
            "    var state = taskState(doc);\n"
            "    if (!isFinalState(state)) emit(['task', state, doc._id], null);\n"
            "  } else if (doc.type === 'node' || doc.type === 'server') {\n"
            "    emit([doc.type, '', doc._id], null);\n"
            "  }\n}")},
        COUNTS: {"map": (
            "function (doc) {\n" + state_rule_js() + "\n"
            "  if (doc.type === 'task') emit(['task', taskState(doc)], null);\n"
            "  else if (doc.type === 'record') emit(['record'], null);\n}"), "reduce": "_count"},
        BY_RECORD: {"map": (
            "function (doc) {\n" + state_rule_js() + "\n"
            "  if (doc.type !== 'task' || typeof doc.record_id !== 'string') return;\n"
            "  emit(doc.record_id, [typeof doc.name === 'string' ? doc.name : null, taskState(doc),\n"
            "                       typeof doc.node === 'string' ? doc.node : null,\n"
            "                       Array.isArray(doc.after) ? doc.after : null, doc._rev]);\n}")},
        BRANCH_RECORDS: {"map": (
            "function (doc) {\n"
            "  if (doc.type === 'record' && typeof doc.branch === 'string' && typeof doc.created === 'number')\n"
            "    emit([doc.branch, doc.created, doc._id], null);\n}")},
        OPEN_BISECTS: {"map": (
            "function (doc) {\n"
            "  if (doc.type === 'bisect' && (!doc.state || doc.state === 'new' || doc.state === 'running'))\n"
            "    emit(typeof doc.created === 'number' ? doc.created : 0, null);\n}")},
    }}


def install(db: Database) -> bool:
    """Make sure ``_design/dirt-serve`` is current; False if this account may not write it."""
    wanted = design_document()
    for _ in range(3):
        try:
            current = db.get(wanted["_id"])
        except NotFound:
            current = {}
        if current.get("views") == wanted["views"]:
            return True
        try:
            db.save({**current, **wanted, **({"_rev": current["_rev"]} if "_rev" in current else {})})
            return True
        except Conflict:
            continue
        except Unauthorized:
            return False
    return True


def counts(db: Database) -> dict[tuple, int]:
    """Records and tasks by state: ``{("record",): n, ("task", "passed"): m, ...}``."""
    rows = db.view(DESIGN, COUNTS, timeout=VIEW_TIMEOUT, group_level=2).get("rows", [])
    return {tuple(row["key"]): row["value"] for row in rows}


def unfinished(db: Database) -> list[dict]:
    """Every unfinished task, node and server document."""
    return list(_rows(db))


def load(db: Database) -> tuple[Any, list[dict]] | None:
    """``(seq, documents)``: the database's update_seq, then every unfinished
    task, node and server document; None if the view cannot be used yet.

    The view is used once it has been built (a marker, ``_local/dirt-serve``,
    says so, for this version of the view). Until then the caller reads the
    history from ``_changes`` (on pouchdb-server about eight times quicker
    than building the view), and once caught up calls :func:`build_later`,
    which builds it in the background for the next start.
    """
    if not install(db):
        log.warning("dirt serve may not write _design/%s (it needs a database admin's rights): reading the "
                    "whole history of %s at every start instead", DESIGN, db.url)
        return None
    if not built(db):
        return None         # the caller reads the history, then has the view built (build_later)
    seq = db.info().get("update_seq", 0)
    return seq, list(_rows(db))


def build_later(db: Database) -> None:
    """Build the view if it is installed and not built yet (run it in a thread of
    its own, once caught up with the history: on pouchdb-server a build competes
    with everything else for its one core)."""
    try:
        installed = db.get(f"_design/{DESIGN}").get("views") == design_document()["views"]
    except CouchError:
        installed = False
    if installed and not built(db):
        build(db)


def _views_hash() -> str:
    return hashlib.sha256(json.dumps(design_document()["views"], sort_keys=True).encode()).hexdigest()


def built(db: Database) -> bool:
    """Whether the view has been built on this database (this version of it)."""
    try:
        return db.get(READY_DOC).get("views") == _views_hash()
    except CouchError:
        return False


def build(db: Database) -> None:
    """Build the view (its first build reads every document), then mark it built."""
    started = time.monotonic()
    try:
        for view in (VIEW, BY_RECORD):     # each view apart on pouchdb-server
            while True:
                try:
                    db.view(DESIGN, view, timeout=BUILD_TIMEOUT, limit=0)
                    break
                except CouchError as exc:
                    # Apache CouchDB answers a long first build with "500 timeout" after a
                    # minute and goes on building: ask again until it is done.
                    if exc.error != "timeout" or time.monotonic() - started > BUILD_TIMEOUT:
                        raise
        marker = {"_id": READY_DOC, "views": _views_hash(), "built": time.time()}
        try:
            marker["_rev"] = db.get(READY_DOC)["_rev"]
        except NotFound:
            pass
        db.save(marker)
    except CouchError as exc:
        log.warning("could not build _design/%s/_view/%s yet (%s): the next start reads the history again",
                    DESIGN, VIEW, exc)
        return
    log.info("built dirt's view of unfinished tasks in %.0f s: later starts read only unfinished tasks",
             time.monotonic() - started)


def _rows(db: Database) -> Iterator[dict]:
    start = None
    while True:
        params: dict = {"include_docs": True, "limit": PAGE + 1}
        if start is not None:
            params["startkey"] = start
        rows = db.view(DESIGN, VIEW, timeout=VIEW_TIMEOUT, **params).get("rows", [])
        for row in rows[:PAGE]:
            if isinstance(row.get("doc"), dict):
                yield row["doc"]
        if len(rows) <= PAGE:
            return
        start = rows[PAGE]["key"]


def record_tasks(db: Database, record_ids: Iterable[str]) -> dict[str, list[Brief]]:
    """Every task of each record, briefly (:class:`~dirt.pipeline.Brief`), from ``by_record``."""
    ids = sorted(set(record_ids))
    out: dict[str, list[Brief]] = {rid: [] for rid in ids}
    for start in range(0, len(ids), KEYS_PER_REQUEST):
        chunk = ids[start:start + KEYS_PER_REQUEST]
        try:
            rows = db.view(DESIGN, BY_RECORD, timeout=VIEW_TIMEOUT, keys=chunk).get("rows", [])
        except NotFound:    # this account could not install the view: ask CouchDB to look (slower)
            docs = db.find({"type": "task", "record_id": {"$in": chunk}})
            rows = [{"id": d["_id"], "key": d["record_id"], "value": _row_value(d)} for d in docs
                    if isinstance(d.get("_id"), str) and isinstance(d.get("record_id"), str)]
        for row in rows:
            brief = _brief(row)
            if brief is not None and brief.record_id in out:
                out[brief.record_id].append(brief)
    return out


def _row_value(doc: dict) -> list:
    """A document found by ``_find``, as a ``by_record`` row's value."""
    task = parse_task(doc)
    return [task.name, task.state, task.node, list(task.after) or None, doc.get("_rev")]


def tasks_by_id(db: Database, task_ids: Iterable[str]) -> list[Brief]:
    """The task documents with these ids (any record), briefly; missing ones left out."""
    ids = sorted(set(task_ids))
    found = []
    for start in range(0, len(ids), KEYS_PER_REQUEST):
        answer = db.all_docs(keys=ids[start:start + KEYS_PER_REQUEST], include_docs=True)
        for row in answer.get("rows", []):
            doc = row.get("doc")
            if isinstance(doc, dict) and is_task(doc):
                found.append(Brief.of(parse_task(doc)))
    return found


def _brief(row: dict) -> Brief | None:
    value = row.get("value")
    if not (isinstance(value, list) and len(value) == 5 and isinstance(row.get("key"), str)
            and isinstance(row.get("id"), str)):
        return None
    name, state, node, after, rev = value
    after = tuple(after) if isinstance(after, list) and all(isinstance(a, str) and a for a in after) else ()
    head = rev.split("-", 1)[0] if isinstance(rev, str) else ""
    return Brief(row["id"], row["key"], name if isinstance(name, str) and name else None,
                 state if isinstance(state, str) else "waiting", node if isinstance(node, str) else None,
                 after, int(head) if head.isdigit() else 0)


def refresh(db: Database) -> None:
    """Bring the view up to date (a query that reads nothing), so the next start is quick."""
    try:
        db.view(DESIGN, VIEW, timeout=VIEW_TIMEOUT, limit=0)
        db.view(DESIGN, BY_RECORD, timeout=VIEW_TIMEOUT, limit=0)
    except CouchError as exc:
        log.debug("could not refresh _design/%s: %s", DESIGN, exc)
