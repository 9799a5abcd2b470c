"""Two `dirt serve` on a real 3-node Apache CouchDB 3.5 cluster, each talking to its own node.

The database has q=2 shards, n=3 copies. On a cluster a revision-checked
write can be accepted by two coordinators at once (HTTP 202, or a
``_conflicts`` leaf found later; ../shared/couchdb/README.md has the numbers
for raw PUTs), so two servers may both believe they claimed one task. The
tests assert what design.md §7 promises there: no task runs twice, every
result is recorded once, and a kill -9 of one server loses nothing.

Every task appends a line ``<task id> <pid>`` to a file when it runs, so a
task that ran twice shows up twice whatever the documents say.
"""
from __future__ import annotations

import signal
import uuid
from collections import Counter

import httpx
import pytest

from dirt.create import create_project
from dirt_run import DirtServe, ProjectHelper, add_nodes, dirt_env, wait_for
from servers import with_credentials

pytestmark = pytest.mark.couchdb3

# Appends "<task id> <pid>" to kwargs['ran'] (one line per run), after a short sleep.
APPEND_TASK = """
import os, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    time.sleep(kwargs.get('sleep', 0))
    with open(kwargs['ran'], 'a') as f:
        f.write('%s %d\\n' % (os.environ['DIRT_TASK_ID'], os.getpid()))
    channel.send({'success': True, 'task': os.environ['DIRT_TASK_ID'], 'pid': os.getpid()})
"""

@pytest.fixture
def cluster_project(couch_cluster, tmp_path):
    """A project on a fresh q=2, n=3 database of the cluster, reached through node 1."""
    name = "cluster-" + uuid.uuid4().hex[:10]
    couch_cluster.create_database(name, q="2", n="3")
    project = ProjectHelper(create_project(tmp_path / "proj", name), couch_cluster.url, name, couch_cluster.user)
    project.set(couchdb_host=project.auth_url, couchdb_dbname=name, log_file=None, lease_seconds=3,
                node_retry_interval=1, ssh_keepalive=1)
    project.write_task("append", APPEND_TASK)
    project.db.save({"_id": "r1", "type": "record", "description": "cluster record", "created": 1})
    add_nodes(project, "localhost")
    node = project.db.get("node:localhost")
    node["slots"] = 4                       # more at once, so the two servers race harder
    project.db.save(node)
    yield project
    couch_cluster.delete_database(name)


def serve_on_node(project, cluster, node: int, tmp_path) -> DirtServe:
    """`dirt serve` in the project, talking to cluster node ``node`` only."""
    host = with_credentials(cluster.node_url(node), cluster.user)
    return DirtServe(project.root, log_path=tmp_path / f"serve-node{node}.log", env=dirt_env(DIRT_COUCHDB_HOST=host))


def add_tasks(project, ran, count: int, sleep: float = 0.0) -> list[str]:
    docs = [{"type": "task", "record_id": "r1", "name": "append", "created": 1,
             "kwargs": {"ran": str(ran), "sleep": sleep}} for _ in range(count)]
    return [row["id"] for row in project.db.bulk_docs(docs)]


def runs(ran) -> Counter:
    """How many times each task ran (from the lines the tasks wrote)."""
    if not ran.exists():
        return Counter()
    return Counter(line.split()[0] for line in ran.read_text().splitlines())


def all_passed(project, ids) -> bool:
    return all(project.task(t).get("state") == "passed" for t in ids)


def conflicted(cluster, project, ids) -> dict[str, list[str]]:
    """Task documents with conflicting revisions, asked of every node (once the cluster has settled)."""
    found = {}
    for node in range(1, cluster.nodes + 1):
        base = f"{cluster.node_url(node)}/{project.dbname}"
        rows = httpx.post(f"{base}/_all_docs", params={"include_docs": "true", "conflicts": "true"},
                          json={"keys": ids}, auth=cluster.user, timeout=30).json()["rows"]
        for row in rows:
            if row.get("doc") and row["doc"].get("_conflicts"):
                found[row["id"]] = row["doc"]["_conflicts"]
    return found


def stop(*servers: DirtServe) -> None:
    for server in servers:
        if server.alive():
            server.send(signal.SIGTERM)
    for server in servers:
        server.wait(60)


def claim_report(ran, ids, conflicts) -> str:
    twice = {t: n for t, n in runs(ran).items() if n > 1}
    return (f"{len(twice)} of {len(ids)} tasks ran more than once ({sorted(twice.items())[:5]}...); "
            f"{len(conflicts)} task documents have conflicting revisions")


def test_two_servers_on_two_cluster_nodes_run_each_task_once(cluster_project, couch_cluster, tmp_path):
    project, ran = cluster_project, tmp_path / "ran.txt"
    a, b = (serve_on_node(project, couch_cluster, node, tmp_path) for node in (1, 2))
    with a, b:
        wait_for(lambda: all("node localhost connected" in s.output() for s in (a, b)), timeout=60,
                 what="both servers to be ready")
        # All at once: both servers see each task waiting and race for it. Each takes 0.1 s, so
        # that a server whose feed lags on a loaded machine still finds tasks left to race for.
        ids = add_tasks(project, ran, 80, sleep=0.1)
        wait_for(lambda: all_passed(project, ids), timeout=180, interval=0.5, what="every task to pass")
        for server in (a, b):
            assert server.alive(), server.output()
        stop(a, b)
        for server in (a, b):
            assert "Traceback" not in server.output(), server.output()

    conflicts = conflicted(couch_cluster, project, ids)
    counts = runs(ran)
    print("cluster claims:", claim_report(ran, ids, conflicts))   # shown with -rP: what was measured
    assert set(counts) == set(ids), "a task never ran"
    assert all(n == 1 for n in counts.values()) and not conflicts, claim_report(ran, ids, conflicts)
    servers = set()
    for task_id in ids:
        doc = project.task(task_id)
        (attempt,) = doc["attempts"]
        assert doc["state"] == "passed" and attempt["outcome"] == "passed" and doc["attempt"] == 1
        assert doc["results"]["pid"] == int(ran.read_text().split(task_id + " ", 1)[1].split()[0])
        servers.add(attempt["server"])
    assert len(servers) == 2, "one server ran everything: the two never raced"


def test_kill_9_of_one_server_on_a_cluster_loses_nothing(cluster_project, couch_cluster, tmp_path):
    project, ran = cluster_project, tmp_path / "ran.txt"
    a, b = (serve_on_node(project, couch_cluster, node, tmp_path) for node in (1, 2))
    with a, b:
        wait_for(lambda: all("node localhost connected" in s.output() for s in (a, b)), timeout=60,
                 what="both servers to be ready")
        ids = add_tasks(project, ran, 40, sleep=0.3)
        wait_for(lambda: sum(runs(ran).values()) >= 8, timeout=60, what="the first tasks to run")
        a.send(signal.SIGKILL)
        assert a.wait(10) == -signal.SIGKILL
        wait_for(lambda: all_passed(project, ids), timeout=180, interval=0.5,
                 what="the surviving server to finish every task, the killed one's too")
        assert b.alive(), b.output()
        stop(b)
        assert "Traceback" not in b.output(), b.output()

    conflicts = conflicted(couch_cluster, project, ids)
    counts = runs(ran)
    print("cluster claims after kill -9:", claim_report(ran, ids, conflicts))
    assert not conflicts, claim_report(ran, ids, conflicts)
    for task_id in ids:
        doc = project.task(task_id)
        *lost, last = doc["attempts"]
        assert last["outcome"] == "passed" and doc["state"] == "passed" and doc["results"]["task"] == task_id
        # Only a run the kill interrupted may have run again, and then on the other server.
        assert all(a["outcome"] in ("server_lost", "not_started") for a in lost), doc["attempts"]
        assert 1 <= counts[task_id] <= len(doc["attempts"]), (task_id, counts[task_id], doc["attempts"])
        if counts[task_id] > 1:
            assert lost and lost[-1]["server"] != last["server"]
