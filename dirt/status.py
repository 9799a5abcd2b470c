"""``dirt status``: a terminal summary of records, tasks, nodes and waiting reasons."""
from __future__ import annotations

from collections import Counter
from typing import Iterator

from . import documents
from .couch import Database
from .plural import plural

PAGE = 1000


def iter_docs(db: Database) -> Iterator[dict]:
    """Every document in the database, a page at a time."""
    start = None
    while True:
        params: dict = {"include_docs": True, "limit": PAGE + 1}
        if start is not None:
            params["startkey"] = start
        rows = db.all_docs(**params).get("rows", [])
        for row in rows[:PAGE]:
            if isinstance(row.get("doc"), dict):
                yield row["doc"]
        if len(rows) <= PAGE:
            return
        start = rows[PAGE]["id"]


def summarize(db: Database) -> str:
    """A few lines saying how many records and tasks there are, in which states, and why tasks wait."""
    records, states, reasons, nodes = 0, Counter(), Counter(), []
    for doc in iter_docs(db):
        if doc.get("type") == "record":
            records += 1
        elif documents.is_task(doc):
            state = documents.task_state(doc)
            states[state] += 1
            if state == "waiting" and doc.get("reason"):
                reasons[doc["reason"]] += 1
        elif documents.is_node(doc):
            nodes.append(doc)
    lines = [f"database {db.url}", f"records: {records}"]
    order = ["waiting", "running", "passed", "failed", "error", "cancelled"]
    lines.append("tasks: " + (", ".join(f"{states[s]} {s}" for s in order if states[s]) or "none"))
    lines.append(f"nodes: {len(nodes) or 'none (add one with `dirt updatenodes HOST`)'}")
    for node in sorted(nodes, key=lambda d: str(d.get("name"))):
        info = node.get("sys_info") if isinstance(node.get("sys_info"), dict) else {}
        flags = "enabled" if node.get("enabled") is not False else "disabled"
        if node.get("status") == "down":
            flags += f", down: {node.get('down_reason', '')}"
        lines.append(f"  {node.get('name')}: {plural(info.get('cpu_count', '?'), 'cpu')}, "
                     f"{info.get('sys_platform', '?')} {info.get('architecture', '?')}, {flags}")
    if reasons:
        lines.append("waiting because:")
        for reason, count in reasons.most_common(10):
            lines.append(f"  {count} × {reason}")
    return "\n".join(lines)
