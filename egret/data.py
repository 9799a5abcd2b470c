"""pushdata: store the documents of a JSON file in a database.

Three file shapes are accepted: ``{"docs": [...]}`` (the ``_bulk_docs``
body, as in dirt's documentation), a bare list of documents (a skeleton's
``test_data.json``), and a single document (any other object).

Documents go up through ``_bulk_docs`` in batches. Each one the server
refuses (a conflict, a ``validate_doc_update`` rejection) is reported with
its id and reason; the others are stored. With ``update=True`` a document
whose id already exists gets that document's current revision, so it
replaces it instead of conflicting.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egret.couch import Couch
from egret.errors import SourceError

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class Rejection:
    """A document the server did not store: its id, CouchDB's error name and reason."""

    doc_id: str
    error: str
    reason: str


@dataclass
class DataResult:
    """What pushdata did: ``written`` maps ids to new revisions; ``rejected`` the failures."""

    written: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    created_database: bool = False


def load_documents(path: Path | str) -> list[dict[str, Any]]:
    """The documents in a JSON file of one of the three accepted shapes."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SourceError(path, "not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    if isinstance(data, dict) and "docs" in data:
        docs = data["docs"]
        if not isinstance(docs, list):
            raise SourceError(path, '"docs" must be a list of documents')
    elif isinstance(data, list):
        docs = data
    elif isinstance(data, dict):
        docs = [data]
    else:
        raise SourceError(path, 'expected {"docs": [...]}, a list of documents, or one document')
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise SourceError(path, f"document {index + 1} is not a JSON object")
        if "_id" in doc and not isinstance(doc["_id"], str):
            raise SourceError(path, f"document {index + 1}: _id must be a string")
    return docs


def push_documents(docs: list[dict[str, Any]], couch: Couch, update: bool = False) -> DataResult:
    """Store ``docs`` in ``couch``'s database (created if missing); see the module docstring."""
    result = DataResult(created_database=couch.ensure_database())
    for start in range(0, len(docs), BATCH):
        batch = [dict(doc) for doc in docs[start:start + BATCH]]
        if update:
            ids = [doc["_id"] for doc in batch if "_id" in doc and "_rev" not in doc]
            revs = couch.current_revisions(ids)
            for doc in batch:
                if "_rev" not in doc and doc.get("_id") in revs:
                    doc["_rev"] = revs[doc["_id"]]
        for answer in couch.bulk_docs(batch):
            # Answers are matched by id: pouchdb-server does not keep the order.
            doc_id = str(answer.get("id") or "?")
            if "error" in answer:
                result.rejected.append(Rejection(doc_id, str(answer["error"]), str(answer.get("reason", ""))))
            else:
                result.written[doc_id] = answer.get("rev", "")
    log.info("stored %d documents, %d rejected", len(result.written), len(result.rejected))
    return result


def push_file(path: Path | str, couch: Couch, update: bool = False) -> DataResult:
    """Read the documents in ``path`` (before touching the server) and store them."""
    return push_documents(load_documents(path), couch, update=update)
