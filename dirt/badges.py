"""Status badges: a small SVG image per branch (and per task name on a branch)
saying whether it passes, at a URL that a README on another site can embed::

    DB_URL/badge:main/status.svg              the branch: passing or failing
    DB_URL/badge:main/task/test.unit.svg      one task name on that branch

(a ``/`` in a branch name is written ``%2F`` in the URL). The images are
attachments of one document per branch, ``badge:BRANCH``, which
:class:`BadgeWriter` keeps current as records finish; CouchDB serves them
itself, as ``image/svg+xml``. An ``<img>`` never runs script, and CouchDB
3.2+'s ``Content-Security-Policy: sandbox`` on attachments does not stop
images, so badges need no change to the server's settings. Only a reader of
the database can fetch them: a README on another site reaches them only if
the database is readable without signing in (or the badges are written to a
database that is, see ``badge_db``).

A badge tells the newest *decided* record of the branch (its verdict is
passed or failed, see :mod:`dirt.verdict`): while a newer one still runs,
the badge keeps saying how the last one ended.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from .couch import Database, split_credentials
from .errors import Conflict, DirtError, NotFound
from .settings import Settings
from .verdict import DECIDED, NONE, record_verdict

log = logging.getLogger(__name__)

DOC_PREFIX = "badge:"
BRANCH_BADGE = "status.svg"
CONTENT_TYPE = "image/svg+xml"
LOOKBACK = 50            # records of a branch looked at for the newest decided one

MESSAGES = {"passed": "passing", "failed": "failing", "running": "running", "waiting": "waiting",
            "cancelled": "cancelled", "skipped": "skipped", NONE: "no runs"}
COLORS = {"passing": "#1f9d55", "failing": "#dc3b3b", "running": "#2b7de9", "waiting": "#6b7585",
          "cancelled": "#7d5bc4", "skipped": "#b58a10", "no runs": "#6b7585"}
LABEL_COLOR = "#4a5361"
MAX_LABEL = 48


class BadgeError(DirtError):
    """The badges cannot be computed (the web app's views are missing)."""


# -- the image ---------------------------------------------------------------------------

# Advance widths (px) of Verdana-like 11 px text, by character class; close
# enough that text fits its box, and fixed so a badge is always the same bytes.
_NARROW = set("ijl.,:;'|!`")
_SEMI = set("frtI()[]{}/\\- \"")
_WIDE = set("mwMW@%")
_CAPS = set("ABCDEFGHJKLNOPQRSTUVXYZ&#")


def text_width(text: str) -> float:
    """The width of ``text`` in the badge's font, in pixels (an estimate)."""
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += 3.6
        elif ch in _SEMI:
            width += 4.9
        elif ch in _WIDE:
            width += 10.6
        elif ch in _CAPS:
            width += 7.6
        elif ord(ch) > 0x2E7F:          # CJK and the like: full width
            width += 11.0
        else:
            width += 6.6
    return width


def _clean(text: str, limit: int = MAX_LABEL) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in str(text)).strip() or "?"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def badge_svg(label: str, message: str, color: str | None = None) -> str:
    """A flat badge ``[label | message]`` as SVG text. Both texts are escaped
    (nothing in them becomes markup) and cut to a readable length."""
    label, message = _clean(label), _clean(message, 24)
    color = color or COLORS.get(message, COLORS["no runs"])
    left = round(text_width(label) + 12)
    right = round(text_width(message) + 12)
    width = left + right
    title = escape(f"{label}: {message}", {'"': "&quot;"})
    label_x, message_x = left / 2, left + right / 2

    def text(x: float, content: str) -> str:
        body = escape(content)
        return (f'<text x="{x:g}" y="15" fill="#010101" fill-opacity=".3">{body}</text>'
                f'<text x="{x:g}" y="14">{body}</text>')

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        f'<clipPath id="c"><rect width="{width}" height="20" rx="3"/></clipPath>'
        f'<g clip-path="url(#c)"><rect width="{left}" height="20" fill="{LABEL_COLOR}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{color}"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f"{text(label_x, label)}{text(message_x, message)}</g></svg>\n"
    )


# -- where badges live -------------------------------------------------------------------

def badge_doc_id(branch: str) -> str:
    return DOC_PREFIX + branch


def task_badge_name(task: str) -> str:
    """The attachment name of a task's badge on its branch's document."""
    return f"task/{task}.svg"


def badge_url(database_url: str, branch: str, task: str | None = None) -> str:
    """The badge's URL under ``database_url`` (credentials are never part of it)."""
    base = split_credentials(database_url)[0]
    name = task_badge_name(task) if task else BRANCH_BADGE
    return f"{base}/{quote(badge_doc_id(branch), safe=':')}/{quote(name, safe='/')}"


# -- keeping them current ------------------------------------------------------------------

class BadgeWriter:
    """Keeps the badges of each branch current, from the web app's views.

    ``db`` is the project's database, with its web app pushed (the views
    ``records_by``, ``summary`` and ``tasks`` of ``_design/<project_name>``);
    ``badge_db`` is where the badge documents go: the same database unless
    given, e.g. a public one when the project's database is private.

    Call :meth:`record_finished` when a record's tasks are all final (and
    whenever one fails, if badges should turn red at once). It is safe to call
    from several servers and more than once: a badge document is rewritten
    only when an image on it changed, and a lost race (409) is retried.
    """

    def __init__(self, db: Database, settings: Settings, badge_db: Database | None = None):
        self.db = db
        self.badge_db = badge_db or db
        self.design = settings.project_name

    def record_finished(self, record_id: str) -> bool:
        """Update the badges of the record's branch; True if a badge changed.

        A record without a ``branch`` (a string) has no badge.
        """
        try:
            record = self.db.get(record_id)
        except NotFound:
            return False
        branch = record.get("branch")
        if not isinstance(branch, str) or not branch:
            return False
        return self.update_branch(branch)

    def update_branch(self, branch: str) -> bool:
        """Compute the branch's state now and write its badges if they changed."""
        record_id, verdict = self.decided_record(branch)
        tasks = self.task_verdicts(record_id) if record_id else {}
        images = {BRANCH_BADGE: badge_svg(branch, MESSAGES[verdict])}
        for name, task_verdict in tasks.items():
            images[task_badge_name(name)] = badge_svg(name, MESSAGES[task_verdict])
        fields = {"type": "badge", "branch": branch, "state": verdict, "record_id": record_id, "tasks": tasks}
        for _ in range(5):
            try:
                return self._write(badge_doc_id(branch), fields, images)
            except Conflict:
                continue       # another server wrote it just now: compare again
        log.warning("badge of branch %s: gave up after repeated conflicts", branch)
        return False

    def decided_record(self, branch: str) -> tuple[str | None, str]:
        """(id, verdict) of the branch's newest record that passed or failed; else of its
        newest record at all (running, waiting...), or (None, "none")."""
        rows = self._view("records_by", reduce=False, descending=True, startkey=["branch", branch, {}],
                          endkey=["branch", branch], limit=LOOKBACK)["rows"]
        ids = [row["id"] for row in rows]
        if not ids:
            return None, NONE
        summaries = {row["key"]: row["value"] for row in
                     self._view("summary", group=True, keys=ids)["rows"] if row.get("value")}
        verdicts = [(rid, record_verdict((summaries.get(rid) or {}).get("states") or {})) for rid in ids]
        for rid, verdict in verdicts:
            if verdict in DECIDED:
                return rid, verdict
        return verdicts[0]

    def task_verdicts(self, record_id: str) -> dict[str, str]:
        """Each task name of the record, with the verdict of its tasks of that name."""
        counts: dict[str, dict[str, int]] = {}
        rows = self._view("tasks", reduce=False, startkey=[record_id], endkey=[record_id, {}])["rows"]
        for row in rows:
            name = (row.get("value") or {}).get("name")
            if isinstance(name, str) and name:
                by_state = counts.setdefault(name, {})
                by_state[row["key"][1]] = by_state.get(row["key"][1], 0) + 1
        return {name: record_verdict(c) for name, c in sorted(counts.items())}

    def _view(self, name: str, **params: Any) -> dict:
        try:
            return self.db.view(self.design, name, **params)
        except NotFound:
            raise BadgeError(
                f"badges are computed from the web app's view {name!r} of _design/{self.design} in "
                f"{self.db.url}, which is missing: push the app (egret push, in the project's web/)") from None

    def _write(self, doc_id: str, fields: dict, images: dict[str, str]) -> bool:
        try:
            doc = self.badge_db.get(doc_id)
        except NotFound:
            doc = {"_id": doc_id}
        stubs = doc.get("_attachments") or {}
        attachments: dict[str, dict] = {}
        changed = any(doc.get(k) != v for k, v in fields.items())
        for name, stub in stubs.items():
            attachments[name] = stub        # kept as it is (pouchdb-server wants the whole stub)
        for name, svg in images.items():
            data = svg.encode("utf-8")
            digest = "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode("ascii")
            stub = stubs.get(name) or {}
            if stub.get("digest") == digest and stub.get("content_type") == CONTENT_TYPE:
                continue
            attachments[name] = {"content_type": CONTENT_TYPE, "data": base64.b64encode(data).decode("ascii")}
            changed = True
        if not changed:
            return False
        doc.update(fields)
        doc["_attachments"] = attachments
        self.badge_db.save(doc)
        log.info("badge of branch %s: %s (record %s)", fields["branch"], MESSAGES[fields["state"]],
                 fields["record_id"])
        return True


class BadgeUpdater:
    """Keeps badges current from a running server, off its loop.

    :meth:`task_final` takes every task that became final (never blocks); a
    thread of its own updates each record's branch at most every ``every``
    seconds, so a burst of finished tasks costs one update per record. Where
    the web app is not pushed (its views are missing) it says so once, and
    tries again only after ``retry_after`` seconds.
    """

    def __init__(self, writer: BadgeWriter, every: float = 2.0, retry_after: float = 600.0):
        self.writer = writer
        self.every = every
        self.retry_after = retry_after
        self._due: dict[str, float] = {}      # record id -> when to update it
        self._cond = threading.Condition()
        self._closed = False
        self._paused_until = 0.0
        self._thread = threading.Thread(target=self._loop, daemon=True, name="badges")
        self._thread.start()

    def task_final(self, doc: dict) -> None:
        record_id = doc.get("record_id")
        if not isinstance(record_id, str) or not record_id:
            return
        with self._cond:
            self._due.setdefault(record_id, time.monotonic() + self.every)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._ready():
                    soonest = min(self._due.values(), default=time.monotonic() + 3600)
                    self._cond.wait(max(0.05, max(soonest, self._paused_until) - time.monotonic()))
                if self._closed:
                    return
                now = time.monotonic()
                ready = [r for r, due in self._due.items() if due <= now]
                for record_id in ready:
                    del self._due[record_id]
            for record_id in ready:
                try:
                    self.writer.record_finished(record_id)
                except BadgeError as exc:
                    log.info("badges not updated: %s (they are kept once the web app is pushed)", exc)
                    self._paused_until = time.monotonic() + self.retry_after
                    with self._cond:
                        self._due.clear()
                    break
                except DirtError as exc:
                    log.warning("badges of record %s not updated: %s", record_id, exc)
                except Exception:   # badges must never stop the server
                    log.exception("badges of record %s not updated", record_id)

    def _ready(self) -> bool:
        now = time.monotonic()
        return now >= self._paused_until and any(due <= now for due in self._due.values())
