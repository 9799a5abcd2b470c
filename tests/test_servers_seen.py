"""Servers you can see (heartbeats, `dirt status`), stops that stop, and a start-up
that does not read the history. Real pouchdb-server, real `dirt serve` processes."""
from __future__ import annotations

import signal
import time

import httpx

from dirt import snapshot
from dirt.create import create_project
from dirt.server import build_server
from dirt_run import DirtServe, ProjectHelper, add_nodes, run_dirt, serve_until_idle, wait_for
from servers import PouchServer
from test_faults import HOLD_TASK, Marks


def status(project) -> str:
    done = run_dirt("status", cwd=project.root, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_tells_live_servers_from_dead_ones_and_nodes_held_from_not(project, tmp_path):
    project.set(lease_seconds=1.5)        # a beat every 0.5 s: dead after three missed
    add_nodes(project, "localhost")
    assert "servers: none has run here yet" in status(project)
    assert "localhost: " in status(project) and "no live server holds it" in status(project)

    with DirtServe(project.root, log_path=tmp_path / "serve.log") as serve:
        wait_for(lambda: "node localhost connected" in serve.output(), timeout=60, what="the node to connect")
        text = wait_for(lambda: (lambda s: s if "up (held by" in s else None)(status(project)), timeout=30,
                        what="status to show the node held")
        assert "servers: 1 alive" in text and f"(pid {serve.pid} " in text and "): alive, running 0" in text
        assert "localhost: " in text and "up (held by" in text
        beat = project.db.get(next(r["id"] for r in project.db.all_docs()["rows"] if r["id"].startswith("server:")))
        assert beat["type"] == "server" and beat["pid"] == serve.pid and beat["project"] == "proj"
        assert beat["nodes"] == {"localhost": {"status": "up"}} and beat["tasks"] == []
        serve.send(signal.SIGKILL)
        serve.wait(10)
    text = wait_for(lambda: (lambda s: s if "dead (last heartbeat" in s else None)(status(project)), timeout=30,
                    what="status to call the killed server dead")
    assert "servers: 0 alive" in text and "no live server holds it" in text


def test_sigterm_while_couchdb_is_unreachable_exits_promptly_and_the_lease_brings_the_task_back(tmp_path):
    couch = PouchServer(tmp_path / "pouchdb").start()
    try:
        httpx.put(f"{couch.url}/unreachable", timeout=30).raise_for_status()
        project = ProjectHelper(create_project(tmp_path / "proj", "unreachable"), couch.url, "unreachable")
        project.set(couchdb_host=couch.url, couchdb_dbname="unreachable", log_file=None, lease_seconds=3,
                    node_retry_interval=1)
        add_nodes(project, "localhost")
        project.write_task("hold", HOLD_TASK)
        marks = Marks(tmp_path / "marks")
        marks.hold()
        task = project.add_task("hold", kwargs={"marks": str(marks.root)})
        with DirtServe(project.root, log_path=tmp_path / "first.log") as first:
            wait_for(marks.started, timeout=60, what="the task to start")
            couch.stop()
            wait_for(lambda: "lost the database" in first.output(), timeout=30, what="serve to notice")
            stopped = time.monotonic()
            first.send(signal.SIGTERM)
            assert first.wait(20) == 0, first.output()
            took = time.monotonic() - stopped
        assert took <= 15, f"dirt serve took {took:.1f} s to stop:\n{first.output()}"
        assert "Traceback" not in first.output()
        assert "gave up recording its outcome" in first.output()

        couch.start()
        marks.release()
        assert project.task(task)["state"] == "running"        # nothing could be written: the lease holds it
        with DirtServe(project.root, "--until-idle", log_path=tmp_path / "second.log") as second:
            assert second.wait(90) == 0, second.output()
        doc = project.task(task)
        assert doc["state"] == "passed"
        assert [a["outcome"] for a in doc["attempts"]] == ["server_lost", "passed"]
    finally:
        couch.stop()


def test_a_restart_reads_the_unfinished_tasks_not_the_history(project):
    add_nodes(project, "localhost")
    finished = [{"_id": f"done-{i:05d}", "type": "task", "record_id": "r1", "name": "examples.simple",
                 "created": 1, "state": "passed", "completed": 2, "results": {"success": True}} for i in range(3000)]
    for start in range(0, len(finished), 1000):
        project.db.bulk_docs(finished[start:start + 1000])
    serve_until_idle(project)           # the first run on this database reads the history, and builds
    wait_for(lambda: snapshot.built(project.db), timeout=120, what="dirt's view to be built")  # its view

    read = {"changes": 0}

    def count(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/_changes"):
            response.read()
            read["changes"] += len(response.json().get("results", []))

    server = build_server(project.load(), project.db)
    project.db.server.client.event_hooks["response"].append(count)
    try:
        server.start()
        fresh = project.add_task("examples.simple")
        wait_for(lambda: server.step(timeout=0.1) or project.task(fresh).get("state") == "passed", timeout=30,
                 interval=0, what="a new task to pass")
    finally:
        server.close()
    # The new task's changes (written, claimed, done) and the heartbeats: never the 3,000 finished ones.
    assert read["changes"] < 50, read
