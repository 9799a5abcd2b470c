"""Writes on a CouchDB cluster: revision checks that hold when two coordinators race.

On a single node, a revision-checked write either wins (201) or loses (409).
On a cluster (n copies of each document), two writes on the same revision sent
to two coordinators at once can *both* be accepted: each is stored on some
copies, the answer is 202 ("fewer copies than asked"), and the document ends
with two conflicting leaf revisions. dirt asks for all ``n`` copies (``w=n``);
a 201 then means the revision is on every copy, so no other write on the
same revision can have succeeded. A 202 means "not known yet": the writer
reads every leaf from all ``n`` copies (each racing write is stored on at
least one copy by the time its writer hears back), and :func:`settle` keeps
CouchDB's own deterministic winner and deletes the others. Every writer
applies the same rule to the same leaves, so exactly one of them goes on,
and no task document keeps a conflict.

:func:`copies` reads ``n`` from the database's info (pouchdb-server and a
single-node CouchDB have none: nothing here is used there).
"""
from __future__ import annotations

import logging

from .couch import Database
from .errors import CouchError

log = logging.getLogger(__name__)


def copies(db: Database) -> int | None:
    """How many copies a cluster keeps of each document (None: not a cluster)."""
    try:
        cluster = db.info().get("cluster") or {}
    except CouchError:
        return None
    n = cluster.get("n") if isinstance(cluster, dict) else None
    return n if isinstance(n, int) and n > 1 else None


def winner(leaves: list[dict]) -> dict | None:
    """CouchDB's winning revision among ``leaves``: not deleted first, then the
    longest history, then the greatest revision id (None if all are deleted)."""
    live = [leaf for leaf in leaves if not leaf.get("_deleted")]
    if not live:
        return None

    def key(leaf: dict) -> tuple[int, str]:
        number, _, rev_id = str(leaf.get("_rev", "0-")).partition("-")
        return (int(number) if number.isdigit() else 0, rev_id)

    return max(live, key=key)


def settle(db: Database, doc_id: str, n: int) -> dict | None:
    """Resolve the document's conflicting leaves as every server does: keep the
    winner, delete the others. Returns the winning revision's document."""
    leaves = db.leaves(doc_id, r=n)
    best = winner(leaves)
    for leaf in leaves:
        if best is not None and leaf.get("_rev") != best.get("_rev") and not leaf.get("_deleted"):
            log.info("document %s: removing the conflicting revision %s (%s won)", doc_id, leaf["_rev"],
                     best["_rev"])
            db.delete_revision(doc_id, leaf["_rev"])
    return best
