"""Push a compiled app: write only what changed, stream what is big.

How a push decides what to send: it reads the design document on the server
(one GET, attachments as stubs) and compares.

* An attachment is unchanged when the server has one of that name, length and
  content type, and either the server's ``md5-`` digest equals the local
  file's or the MD5 that egret recorded in the ``egret`` field at the last
  push does (CouchDB digests compressed text attachments, so its digest alone
  is not enough).
* The fields are unchanged when every field but ``_rev`` and
  ``_attachments`` is equal (``egret``, the record of MD5s, included).

Nothing changed: no write at all (no new revision, no view rebuild). Otherwise
attachments over :data:`INLINE_LIMIT` are first uploaded one by one as raw,
streamed bodies, then one PUT of the document carries the fields, the other
changed attachments inline and stubs for the rest; attachments no longer in
the directory are dropped by that PUT. A 409 (the document changed or was
deleted on the server meanwhile) makes the push start over once from a fresh
read, then gives up with :class:`~egret.errors.Conflict`.
"""
from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egret.attachments import Attachment
from egret.compiler import CompiledApp, compile_app
from egret.couch import Couch
from egret.errors import Conflict

log = logging.getLogger(__name__)

INLINE_LIMIT = 1024 * 1024  # bigger attachments are uploaded on their own, streamed
INLINE_BUDGET = 8 * 1024 * 1024  # at most this much attachment data inside the JSON body


@dataclass
class PushResult:
    """What a push did.

    ``uploaded`` lists the attachments sent, as ``(name, size in bytes)``;
    ``removed`` the attachments dropped; ``fields_changed`` whether anything
    but attachments changed; ``rev`` the design document's revision after
    the push; ``url`` the app's ``index.html`` (or the design document) URL,
    without credentials.
    """

    doc_id: str
    rev: str | None
    url: str
    created_database: bool = False
    fields_changed: bool = False
    uploaded: list[tuple[str, int]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the push wrote anything."""
        return self.fields_changed or bool(self.uploaded) or bool(self.removed)


def push_directory(directory: Path | str, couch: Couch) -> PushResult:
    """Compile ``directory`` for ``couch``'s database and push it.

    Compiling comes first, so a broken app never creates a database or
    writes anything.
    """
    app = compile_app(directory, database=couch.target.database)
    return push_app(app, couch)


def push_app(app: CompiledApp, couch: Couch) -> PushResult:
    """Create the database if missing and bring the design document up to date."""
    created = couch.ensure_database()
    try:
        result = _push_once(app, couch)
    except Conflict:
        log.info("%s changed on the server during the push; pushing again", app.doc_id)
        result = _push_once(app, couch)
    result.created_database = created
    return result


def index_url(app: CompiledApp, couch: Couch) -> str:
    """The URL a person opens: the app's ``index.html``, or the design document."""
    if "index.html" in app.attachments:
        return couch.attachment_url(app.doc_id, "index.html")
    return couch.document_url(app.doc_id)


def _push_once(app: CompiledApp, couch: Couch) -> PushResult:
    current = couch.get_document(app.doc_id)
    server_stubs: dict[str, Any] = (current or {}).get("_attachments", {})
    recorded = ((current or {}).get("egret") or {}).get("attachments") or {}
    changed = [
        att for name, att in sorted(app.attachments.items())
        if not _unchanged(att, server_stubs.get(name), recorded.get(name))
    ]
    removed = sorted(set(server_stubs) - set(app.attachments))
    current_fields = {k: v for k, v in (current or {}).items() if k not in ("_rev", "_attachments", "egret")}
    local_fields = {k: v for k, v in app.doc.items() if k != "egret"}
    fields_changed = current is None or current_fields != local_fields
    record_stale = (current or {}).get("egret") != app.doc.get("egret")
    result = PushResult(doc_id=app.doc_id, rev=(current or {}).get("_rev"), url=index_url(app, couch))
    if not (changed or removed or fields_changed or record_stale):
        log.info("%s is up to date (rev %s)", app.doc_id, result.rev)
        return result

    inline, streamed, budget = [], [], INLINE_BUDGET
    for att in changed:
        if att.length > INLINE_LIMIT or att.length > budget:
            streamed.append(att)
        else:
            inline.append(att)
            budget -= att.length

    rev = result.rev
    for att in streamed:
        log.info("uploading %s (%d bytes)", att.name, att.length)
        rev = couch.put_attachment(app.doc_id, att.name, rev, att.chunks(), att.content_type, att.length)
    if streamed:
        # Stubs must name what is on the server now (pouchdb-server needs their digests).
        server_stubs = (couch.get_document(app.doc_id) or {}).get("_attachments", {})

    doc = dict(app.doc)
    if rev:
        doc["_rev"] = rev
    inline_names = {att.name for att in inline}
    entries = {}
    for name, att in sorted(app.attachments.items()):
        if name in inline_names:
            entries[name] = att.inline()
        else:
            entries[name] = dict(server_stubs[name], stub=True)
    if entries:
        doc["_attachments"] = entries
    result.rev = couch.put_document(doc)
    result.fields_changed = fields_changed
    result.uploaded = [(att.name, att.length) for att in changed]
    result.removed = removed
    log.info("pushed %s rev %s", app.doc_id, result.rev)
    return result


def _unchanged(att: Attachment, stub: dict[str, Any] | None, recorded_md5: str | None) -> bool:
    if not stub or stub.get("length") != att.length or stub.get("content_type") != att.content_type:
        return False
    if stub.get("digest") == "md5-" + base64.b64encode(bytes.fromhex(att.md5)).decode("ascii"):
        return True
    return recorded_md5 == att.md5
