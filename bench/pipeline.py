#!/usr/bin/env python3
"""Pipeline benchmark: what tasks that run after others cost dirt.

    python bench/pipeline.py             # a chain of 200 (placement) and of 100 (real run)
    python bench/pipeline.py --quick     # smaller numbers (a smoke run)

Figures:

1. placement per round: ``Placer.plan`` over a chain of N (the first
   running, the others each after the one before) and over N - 1
   independent tasks no node can take, with room on the node (every waiting
   task is looked at) and without (only the changed ones are). Target: the
   chain costs at most 1.5 x the independent tasks.
2. a real chain: M no-op tasks, each after the one before, run by an
   in-process dirt server (built as ``dirt serve`` builds it) on pouchdb-server
   with one ``localhost`` node: the time from one task's end (its
   ``completed``) to the next one's start, median and p90, and the whole
   chain against M independent tasks run on one slot.

Exit status is 0 whether or not the target is met: this is a measurement.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from servers import PouchServer  # noqa: E402  (tests/servers.py)

from dirt.balance import RoundRobin  # noqa: E402
from dirt.couch import Database  # noqa: E402
from dirt.create import create_project  # noqa: E402
from dirt.nodes import update_nodes  # noqa: E402
from dirt.pipeline import Brief, Pipelines  # noqa: E402
from dirt.placement import NodeView, Placer  # noqa: E402
from dirt.server import build_server  # noqa: E402
from dirt.settings import load_project  # noqa: E402
from dirt.taskdoc import parse_task  # noqa: E402

NOOP = "import time\nif __name__ == '__channelexec__':\n    channel.send({'success': True, 't': time.time()})\n"


def task(doc_id: str, **fields):
    return parse_task({"_id": doc_id, "_rev": "1-x", "type": "task", "record_id": "r1", "name": "noop",
                       "created": 1, **fields})


def per_round(placer: Placer, tasks, nodes, fresh, pipelines, rounds: int = 20, batches: int = 15) -> float:
    """Seconds per round: the best of several batches (other work on the machine only slows one down)."""
    placer.plan(tasks, nodes, 1, fresh, pipelines=pipelines)
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(rounds):
            placer.plan(tasks, nodes, 1, fresh, pipelines=pipelines)
        best = min(best, (time.perf_counter() - start) / rounds)
    return best


def placement(n: int) -> list[tuple[str, str]]:
    """A round in the steady state: the chain's first task runs, the other n - 1 wait for
    it; against n - 1 independent tasks that wait too (no node matches them)."""
    info = {"sys_platform": "linux", "platform": "Linux-6.1", "architecture": "x86_64", "cpu_count": 2}
    first = task("t0000", state="running", node="n1")
    chain = [task(f"t{i:04d}", after=[f"t{i - 1:04d}"]) for i in range(1, n)]
    alone = [task(f"a{i:04d}", requires=["architecture is sparc64"]) for i in range(1, n)]
    book = Pipelines()
    for t in [first] + chain:
        book.saw(t)
    book.loaded({"r1": [Brief.of(t) for t in [first] + chain]})
    placer = Placer(RoundRobin(), lambda t: None)
    rows = []
    for label, room in (("a node with room: every waiting task looked at", 4), ("no room: only changed ones", 0)):
        nodes = [NodeView(name="n1", ready=True, sys_info=info, slots=4, room=room)]
        a = per_round(placer, chain, nodes, {chain[0].id}, book)
        b = per_round(placer, alone, nodes, {alone[0].id}, None)
        verdict = "PASS" if a <= 1.5 * b + 20e-6 else "FAIL"
        rows.append((f"placement per round, {n - 1} waiting, {label}",
                     f"chain {a * 1e6:.0f} µs, independent {b * 1e6:.0f} µs: {a / b:.2f}x "
                     f"(target <= 1.5x) {verdict}"))
    return rows


def real_chain(m: int) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        couch = PouchServer(Path(tmp) / "pouchdb").start()
        try:
            return _real_chain(couch, Path(tmp), m)
        finally:
            couch.stop()


def _real_chain(couch, tmp: Path, m: int) -> list[tuple[str, str]]:
    rows = []
    timings = {}
    for kind in ("chain", "independent"):
        name = f"bench-{kind}"
        root = create_project(tmp / name, name)
        with open(root / "settings.py", "a") as f:
            f.write(f"couchdb_host = {couch.url!r}\nlog_file = None\n")
        (root / "tasks" / "noop.py").write_text(NOOP)
        project = load_project(root)
        db = Database.from_url(couch.url, name)
        db.create()
        update_nodes(db, ["localhost"], project.settings)
        node = db.get("node:localhost")
        node["slots"] = 1
        db.save(node)
        docs = [{"_id": f"t{i:04d}", "type": "task", "record_id": "r1", "name": "noop", "created": i,
                 **({"after": [f"t{i - 1:04d}"]} if kind == "chain" and i else {})} for i in range(m)]
        db.save({"_id": "r1", "type": "record", "created": 1})
        start = time.time()
        db.bulk_docs(docs)
        server = build_server(project, db, notify=False)
        try:
            server.run(until_idle=True, idle_timeout=600)
        finally:
            server.close()
        done = [db.get(d["_id"]) for d in docs]
        assert all(d.get("state") == "passed" for d in done), [d.get("state") for d in done][:5]
        timings[kind] = max(d["completed"] for d in done) - start
        if kind == "chain":
            gaps = [done[i]["results"]["t"] - done[i - 1]["completed"] for i in range(1, m)]
            gaps.sort()
            p90 = gaps[int(0.9 * len(gaps))]
            rows.append((f"real chain of {m}: previous task's end -> next task's start",
                         f"median {statistics.median(gaps) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms"))
    rows.append((f"real chain of {m} against {m} independent tasks on one slot",
                 f"{timings['chain']:.2f} s against {timings['independent']:.2f} s "
                 f"({timings['chain'] / timings['independent']:.2f}x)"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers (a smoke run)")
    args = parser.parse_args(argv)
    rows = placement(50 if args.quick else 200)
    rows += real_chain(20 if args.quick else 100)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
