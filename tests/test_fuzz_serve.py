"""No document stops the server: a fuzz run of a real `dirt serve`.

Hundreds of random task documents (every field dirt reads, user's and dirt's
own, holding values of every JSON type, good and bad), and node documents
just as bad, go into a database
that no validate_doc_update guards, as a script would fill it. Seeds are
fixed (``--fuzz-seeds``) so CI is deterministic; ``--fuzz-docs 5000`` makes a
longer run. The server must stay up, log no Python traceback, leave every
document finished or waiting with a reason, and still run a good task
written after them.
"""
from __future__ import annotations

import random
import signal

import pytest

from dirt.taskdoc import parse_task
from dirt_run import DirtServe, add_nodes, wait_for

pytestmark = pytest.mark.both_servers

JUNK = [None, True, False, 0, -1, 1, 2.5, 1e300, "", "x", "waiting", [], [1, "a"], {}, {"a": [None]},
        "architecture is x86_64", ["architecture is x86_64"], ["x86_64"], [None], "é\u0000\ufffd", 10 ** 30]
GOOD = {
    "name": ["examples.simple", "examples.kwargs", "examples.attachments", "examples.nope", "../settings", "os"],
    "kwargs": [{"foo": 1, "bar": "baz"}, {"foo": [1]}, {}],
    "requires": [["architecture not sparc64"], ["PATH in environ"], ["gpu is yes"], []],
    "platform": ["linux", "darwin", "Linux", ""],
    "timeout": [30, 0.5], "max_attempts": [1, 2, 3.0], "priority": [5, -5, 0], "created": [1, 2.5],
    "after": [["build"], []],
    "state": ["waiting", "running", "passed", "failed", "error", "cancelled", "Passed"],
    "lease": [{"server": "ghost:1:abcdef", "expires": 0}, {"server": "ghost:2:abcdef", "expires": 9e12}],
    "attempts": [[{"attempt": 1, "node": "localhost", "outcome": "node_lost"}], [{"attempt": "1"}], ["junk"]],
    "attempt": [1, 2], "node": ["localhost", "nowhere"], "started": [1.0], "completed": [2.0],
    "results": [{"success": True}, {"success": "yes"}],
}
FIELDS = list(GOOD) + ["record_id"]


def random_task(rng: random.Random, i: int) -> dict:
    doc = {"_id": f"fuzz-{i:05d}", "type": "task", "record_id": "r1", "name": "examples.simple"}
    for field in rng.sample(FIELDS, rng.randint(1, 6)):
        pool = GOOD.get(field, ["r1", "r-missing"])
        if rng.random() < 0.5:
            doc[field] = rng.choice(pool)
        elif rng.random() < 0.2:
            doc.pop(field, None)
        else:
            doc[field] = rng.choice(JUNK)
    return doc


def rows_of(project, ids) -> list[dict]:
    rows = []
    for start in range(0, len(ids), 200):    # keys go in the URL: keep it short
        rows += project.db.all_docs(keys=ids[start:start + 200], include_docs=True)["rows"]
    return rows


NODE_FIELDS = {
    "name": ["fuzznode", "", "localhost"], "spec": ["popen//python=/nonexistent/python", "x", "ssh=", 5],
    "enabled": [True, False, "no"], "slots": [0, -3, 2.5, "8", 10 ** 30],
    "sys_info": [{"cpu_count": "lots", "platform": 3, "environ": ["PATH"]}, {"architecture": None}, [], "linux"],
    "status": ["up", "down", 7], "down_reason": [None, {}, "x"], "last_seen": ["yesterday", -1],
}


def random_node(rng: random.Random, i: int) -> dict:
    doc = {"_id": f"node:fuzz-{i}", "type": "node", "name": f"fuzz-{i}", "spec": "popen//python=/nonexistent/python"}
    for field in rng.sample(list(NODE_FIELDS), rng.randint(1, 4)):
        doc[field] = rng.choice(NODE_FIELDS[field] + JUNK[:8])
    if doc.get("name") == "localhost":
        doc["name"] = f"fuzz-{i}"      # the real node stays the only one that can run anything
    return doc


def settled(project, ids) -> list[str] | None:
    """Documents not yet settled (running, or waiting without a reason); None once all are."""
    rows = rows_of(project, ids)
    open_ones = []
    for row in rows:
        task = parse_task(row["doc"])
        if task.running or (task.waiting and not task.reason):
            open_ones.append(row["id"])
    return open_ones or None


@pytest.fixture(params=["seed"])
def seeds(request):
    return [int(s) for s in request.config.getoption("--fuzz-seeds").split(",") if s]


def test_no_document_stops_dirt_serve(project, tmp_path, request, seeds):
    project.set(lease_seconds=2, task_timeout=20)
    add_nodes(project, "localhost")
    count = request.config.getoption("--fuzz-docs")
    for seed in seeds:
        rng = random.Random(seed)
        docs = [random_task(rng, seed * 100_000 + i) for i in range(count)]
        project.db.bulk_docs([random_node(rng, seed * 100 + i) for i in range(12)])
        for start in range(0, len(docs), 500):
            project.db.bulk_docs(docs[start:start + 500])
        ids = [d["_id"] for d in docs]
        with DirtServe(project.root, log_path=tmp_path / f"serve-{seed}.log") as serve:
            wait_for(lambda: settled(project, ids) is None or not serve.alive(), timeout=240, interval=0.5,
                     what=f"seed {seed}: every fuzz document to end or wait with a reason "
                          f"(still open: {(settled(project, ids) or [])[:5]})")
            assert serve.alive(), serve.output()[-3000:]
            good = project.add_task("examples.simple")
            wait_for(lambda: project.task(good).get("state") == "passed", timeout=60,
                     what="a good task written after the fuzz documents to pass")
            serve.send(signal.SIGTERM)
            assert serve.wait(30) == 0, serve.output()[-3000:]
        output = serve.output()
        assert "Traceback" not in output, output[output.index("Traceback") - 500:][:3000]
        assert "could not handle" not in output, output
        given = {d["_id"]: parse_task(d) for d in docs}
        for row in rows_of(project, ids):
            task, before = parse_task(row["doc"]), given[row["id"]]
            if before.final:
                assert task.rev_number == 1, f"a finished document was changed: {row['doc']}"
            elif task.state == "error":
                assert task.reason, row["doc"]              # dirt said why
                if before.problem:   # the same rule (the value may read back as another JSON spelling)
                    assert task.reason.split(", not ")[0] == before.problem.split(", not ")[0], row["doc"]
            else:
                assert task.final or task.reason, row["doc"]
