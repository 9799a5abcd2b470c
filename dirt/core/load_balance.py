"""Load balancing between nodes, as generators that yield the next node to use.

These are the 2012 API; ``dirt serve`` itself uses :mod:`dirt.balance`.
"""
from __future__ import annotations

import time
from typing import Iterator

from dirt import documents
from dirt.nodepool import NodeState
from dirt.nodes import core_task_source
from dirt.runner import NodeConnection
from dirt.status import iter_docs


def _enabled_nodes(db) -> list[dict]:
    database = getattr(db, "db", db)
    return sorted((d for d in iter_docs(database) if documents.is_node(d) and d.get("enabled") is not False),
                  key=lambda d: str(d.get("name")))


def round_robin(db) -> Iterator[dict]:
    """Generate documents of nodes available for execution in a simple
    round-robin fashion, re-getting the node list from the db each time around."""
    while True:
        nodes = _enabled_nodes(db)
        if not nodes:
            time.sleep(1.0)
            continue
        yield from nodes


def load(db, margin: float = 0.9, wait: float = 20) -> Iterator[dict]:
    """Round-robin over nodes whose 1-minute load is under ``margin`` × cpus,
    waiting ``wait`` seconds when every node is that busy."""
    connections: dict[str, NodeConnection] = {}
    try:
        while True:
            yielded = False
            for doc in _enabled_nodes(db):
                state = NodeState(doc)
                conn = connections.get(state.name)
                if conn is None or conn.spec != doc.get("spec"):
                    conn = connections[state.name] = NodeConnection(state.name, doc.get("spec") or "popen")
                try:
                    answer = conn.run_here(core_task_source("load"), timeout=30)
                    load_now = float(answer["loadavg"][0])
                except Exception:  # an unreachable node is simply skipped this round
                    continue
                if load_now < margin * state.slots:
                    yielded = True
                    yield doc
            if not yielded:
                time.sleep(wait)
    finally:
        for conn in connections.values():
            conn.close()
