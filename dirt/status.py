"""``dirt status``: a terminal summary of records, tasks, servers, nodes and waiting reasons.

It reads dirt's own views (``_design/dirt-serve``, see :mod:`dirt.snapshot`),
so it costs the same whatever the history; with an account that may not
install them it reads every document instead. A server counts as alive while
its heartbeat is recent (three beats); a node is shown as up only while a
live server holds it.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Iterator

from . import documents, snapshot
from .couch import Database
from .errors import CouchError
from .heartbeat import is_server
from .plural import plural

PAGE = 1000
STATES = ("waiting", "running", "passed", "failed", "error", "cancelled", "skipped")


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


def _gather(db: Database) -> tuple[int, Counter, list[dict]]:
    """(records, tasks by state, unfinished tasks + nodes + servers)."""
    if snapshot.install(db):
        try:
            counts = snapshot.counts(db)
            unfinished = snapshot.unfinished(db)
        except CouchError as exc:
            if exc.error != "timeout":
                raise
            raise CouchError(f"dirt's views of {db.url} are still being built (the first time over a big "
                             "database takes minutes): try again shortly", exc.status, exc.error) from None
        states = Counter({key[1]: n for key, n in counts.items() if key[0] == "task" and len(key) == 2})
        return counts.get(("record",), 0), states, unfinished
    records, states, docs = 0, Counter(), []
    for doc in iter_docs(db):
        if doc.get("type") == "record":
            records += 1
        elif documents.is_task(doc):
            state = documents.task_state(doc)
            states[state] += 1
            if state not in documents.FINAL_STATES:
                docs.append(doc)
        elif documents.is_node(doc) or is_server(doc):
            docs.append(doc)
    return records, states, docs


def alive(server: dict, now: float) -> bool:
    """Whether a heartbeat document is recent: three beats (by its own interval)."""
    beat, interval = server.get("beat"), server.get("interval") or 20.0
    return server.get("status") != "stopped" and isinstance(beat, (int, float)) and \
        now - beat < 3 * float(interval) + 5


def summarize(db: Database, now: float | None = None) -> str:
    """Lines saying how many records and tasks there are, in which states, which
    servers run, which nodes are up, and why tasks wait."""
    now = time.time() if now is None else now
    records, states, docs = _gather(db)
    servers = sorted((d for d in docs if is_server(d)), key=lambda d: -(d.get("beat") or 0))
    nodes = sorted((d for d in docs if documents.is_node(d)), key=lambda d: str(d.get("name")))
    reasons = Counter(d["reason"] for d in docs if documents.is_task(d) and isinstance(d.get("reason"), str)
                      and documents.task_state(d) == "waiting")
    lines = [f"database {db.url}", f"records: {records}"]
    order = list(STATES) + sorted(set(states) - set(STATES))
    lines.append("tasks: " + (", ".join(f"{states[s]} {s}" for s in order if states[s]) or "none"))
    live = [s for s in servers if alive(s, now)]
    lines.append(f"servers: {len(live)} alive" if servers else
                 "servers: none has run here yet (start one with `dirt serve`)")
    holders: dict[str, dict] = {}
    for server in servers:
        state = "alive" if alive(server, now) else ("stopped" if server.get("status") == "stopped" else
                                                    "dead (last heartbeat " + _ago(now, server.get("beat")) + ")")
        if server in live:
            for name, info in (server.get("nodes") or {}).items():
                holders.setdefault(name, {**info, "server": server.get("server_id")})
        if server in live or now - float(server.get("beat") or 0) < 86400:
            lines.append(f"  {server.get('server_id')} (pid {server.get('pid')} on {server.get('host')}, "
                         f"dirt {server.get('version')}): {state}, running {server.get('running', 0)}")
    lines.append(f"nodes: {len(nodes) or 'none (add one with `dirt updatenodes HOST`)'}")
    for node in nodes:
        info = node.get("sys_info") if isinstance(node.get("sys_info"), dict) else {}
        name = node.get("name")
        if node.get("enabled") is False:
            flags = "disabled"
        elif name in holders:
            held = holders[name]
            flags = f"{held.get('status')} (held by {held['server']})"
            if held.get("reason"):
                flags += f": {held['reason']}"
        else:
            flags = "enabled, no live server holds it"
            if node.get("status") == "down":
                flags += f" (last seen down: {node.get('down_reason', '')})"
        lines.append(f"  {name}: {plural(info.get('cpu_count', '?'), 'cpu')}, "
                     f"{info.get('sys_platform', '?')} {info.get('architecture', '?')}, {flags}")
    if reasons:
        lines.append("waiting because:")
        for reason, count in reasons.most_common(10):
            lines.append(f"  {count} × {reason}")
    return "\n".join(lines)


def _ago(now: float, when) -> str:
    if not isinstance(when, (int, float)):
        return "never"
    seconds = max(0, int(now - when))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def task_history(db: Database, task_id: str, now: float | None = None) -> str:
    """Lines on one task: where it stands, then each of its runs (reruns keep the earlier
    ones), how each ended, and who asked for it and when."""
    from .actions import ago
    from .errors import DirtError
    from .taskdoc import parse_task

    doc = db.get(task_id)
    if not documents.is_task(doc):
        raise DirtError(f"{task_id} is not a task (its type is {doc.get('type')!r})")
    task = parse_task(doc)
    now = time.time() if now is None else now
    lines = [f"task {task.id} ({task.name} of record {task.record_id}): {task.state}"
             + (f", run {task.run} of {task.run}" if task.run > 1 else "")]
    current = {"run": task.run, "state": task.state, "node": task.node, "started": task.started,
               "completed": task.completed, "reason": task.reason, "rerun_by": task.rerun_by,
               "rerun_at": task.rerun_at, "cancelled_by": task.cancelled_by}
    runs = [vars(r) for r in task.runs] + [current]
    for run in runs:
        words = [f"  run {run['run']}: {run['state']}"]
        if run["node"]:
            words.append(f"on {run['node']}")
        if run["started"]:
            took = f", {_seconds(run['completed'] - run['started'])}" if run["completed"] else ""
            words.append(f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run['started']))}{took}")
        if run["rerun_by"]:
            words.append(f"(rerun by {run['rerun_by']} {ago(run['rerun_at'], now)})")
        tries = sum(1 for a in task.attempts if a.run == run["run"])
        if tries > 1:
            words.append(f"[{plural(tries, 'attempt')}]")
        line = " ".join(words)
        if run["reason"]:
            line += f": {run['reason']}"
        lines.append(line)
    return "\n".join(lines)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
