"""Records and tasks as a CI project stores them, for the web app's tests."""
from __future__ import annotations

import time


# A record time that pouchdb-server gives back from a view one digit lower
# (1796043762.9315343): a list continued from the key as read back skipped
# the record, and records of the same time.
ROUNDED_DOWN = 1796043762.9315345


def record(rid: str, created: float, branch: str | None = "main", author: str | None = "ann",
           sha: str | None = None, **more) -> dict:
    doc = {"_id": rid, "type": "record", "description": f"commit {rid}", "created": created, **more}
    if branch:
        doc["branch"] = branch
    if author:
        doc["author"] = author
    doc["sha"] = sha or (rid.encode().hex() * 8)[:40]
    return doc


def task(tid: str, rid: str, name: str, state: str, created: float, took: float = 10.0, **more) -> dict:
    doc = {"_id": tid, "type": "task", "record_id": rid, "name": name, "created": created, "state": state, **more}
    if state == "running":
        doc.update(node="n1", started=time.time() - took)
    elif state not in ("waiting",):
        doc.update(node="n1", started=created + 5, completed=created + 5 + took,
                   results={"success": state == "passed"})
    return doc


def store(db, docs: list[dict]) -> None:
    answers = db.bulk_docs(docs)
    assert all(a.get("ok") for a in answers), [a for a in answers if not a.get("ok")][:3]
