"""Fault cases, for real: a killed `dirt serve`, a node whose sshd dies, a
CouchDB restart, two servers on one database, signals, and a node that keeps
dying. Each test asserts the end state the design promises (§6, §7).

`dirt serve` runs as a real subprocess wherever the test is about the process.
Tasks leave marks in files on disk (which node, which process, which attempt
got how far), since every node here is this machine.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from dirt_run import ProjectHelper
from dirt.create import create_project
from dirt_run import BackgroundServer, DirtServe, add_nodes, wait_for
from servers import PouchServer, SshHost

pytestmark = pytest.mark.both_servers

# Appends "<task id> <pid>" to marks/started, waits while marks/hold exists
# (at most a minute), appends to marks/finished, then returns.
HOLD_TASK = """
import os, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    marks = kwargs['marks']
    line = '%s %d\\n' % (os.environ['DIRT_TASK_ID'], os.getpid())
    with open(os.path.join(marks, 'started'), 'a') as f:
        f.write(line)
    deadline = time.time() + 60
    while os.path.exists(os.path.join(marks, 'hold')) and time.time() < deadline:
        time.sleep(0.05)
    with open(os.path.join(marks, 'finished'), 'a') as f:
        f.write(line)
    channel.send({'success': True, 'pid': os.getpid()})
"""

# Appends its task id to the shared file kwargs['ran'] (one line per run).
APPEND_TASK = """
import os, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    time.sleep(kwargs.get('sleep', 0))
    with open(kwargs['ran'], 'a') as f:
        f.write(os.environ['DIRT_TASK_ID'] + '\\n')
    channel.send({'success': True, 'task': os.environ['DIRT_TASK_ID']})
"""


class Marks:
    """The marks/ directory a HOLD_TASK writes to."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        self.hold_path = root / "hold"

    def hold(self) -> None:
        self.hold_path.touch()

    def release(self) -> None:
        self.hold_path.unlink(missing_ok=True)

    def lines(self, name: str) -> list[tuple[str, int]]:
        path = self.root / name
        if not path.exists():
            return []
        return [(task, int(pid)) for task, pid in (line.split() for line in path.read_text().splitlines())]

    def started(self) -> list[tuple[str, int]]:
        return self.lines("started")

    def finished(self) -> list[tuple[str, int]]:
        return self.lines("finished")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; only its parent has not reaped it yet
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def state_is(project, task_id: str, state: str):
    doc = project.task(task_id)
    return doc if doc.get("state") == state else None


@pytest.fixture
def marks(tmp_path) -> Marks:
    return Marks(tmp_path / "marks")


def serve(project, tmp_path, *args: str, name: str = "serve") -> DirtServe:
    return DirtServe(project.root, *args, log_path=tmp_path / f"{name}.log")


# -- 1. kill -9 of the server ----------------------------------------------------------------

def test_killed_server_task_is_recovered_after_its_lease_and_recorded_once(project, tmp_path, marks):
    project.set(lease_seconds=2)
    add_nodes(project, "localhost")
    project.write_task("hold", HOLD_TASK)
    marks.hold()
    task = project.add_task("hold", kwargs={"marks": str(marks.root)})

    with serve(project, tmp_path, name="first") as first:
        wait_for(marks.started, what="the task to start under the first dirt serve")
        claimed = project.task(task)
        assert claimed["state"] == "running" and claimed["lease"]["server"]
        first.send(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    marks.release()

    with serve(project, tmp_path, name="second") as second:
        doc = wait_for(lambda: state_is(project, task, "passed"), timeout=60,
                       what="the restarted dirt serve to recover and run the task")
        assert second.alive(), second.output()
        second.send(signal.SIGTERM)
        second.wait(30)

    lost, rerun = doc["attempts"]           # exactly two attempts: the lost one, then the one that passed
    assert lost["outcome"] == "server_lost" and lost["server"] == claimed["lease"]["server"]
    assert "stopped renewing its lease" in lost["reason"]
    assert rerun["outcome"] == "passed" and rerun["server"] != lost["server"]
    assert doc["attempt"] == 2 and "lease" not in doc
    assert doc["results"]["success"] is True and doc["completed"] >= doc["started"]
    # The result is that of the second run: its worker process is the one that passed.
    assert doc["results"]["pid"] == marks.started()[-1][1]
    assert len(marks.started()) == 2


# -- 2. a node's sshd killed mid-task ------------------------------------------------------

class SlowLog(logging.Handler):
    """A log sink that takes a second over "back to waiting" lines (a slow disk, a
    remote syslog). It only widens a window that is already there: the outcome
    is saved before it is logged, so the ``_changes`` feed can report the task
    as waiting before its run thread says it is done."""

    def emit(self, record: logging.LogRecord) -> None:
        if "back to waiting" in record.getMessage():
            time.sleep(1.0)


@contextlib.contextmanager
def slow_log():
    logger = logging.getLogger("dirt")
    handler = SlowLog(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def fragile_node(tmp_path, ssh_hosts, monkeypatch):
    """A second sshd (node "fragile") next to the session's node1..node3."""
    fragile = SshHost(tmp_path / "sshd-fragile", ["fragile"]).start()
    try:
        config = tmp_path / "ssh_config"
        config.write_text(ssh_hosts.ssh_config.read_text() + fragile.ssh_config.read_text())
        monkeypatch.setenv("DIRT_SSH_CONFIG", str(config))
        yield fragile
    finally:
        fragile.kill()


def start_on_fragile_then_kill_it(project, marks, fragile) -> str:
    """Run a held task on node fragile, add node1, kill fragile's sshd; the task id."""
    wait_for(marks.started, timeout=60, what="the task to start on node fragile")
    (task, _), = marks.started()
    assert project.task(task)["node"] == "fragile"
    add_nodes(project, "node1")        # a second node, while the task runs on the first
    fragile.kill()
    marks.release()
    return task


def test_node_lost_mid_task_is_recorded_and_the_node_marked_down(project, tmp_path, marks, ssh_hosts,
                                                                 monkeypatch):
    with fragile_node(tmp_path, ssh_hosts, monkeypatch) as fragile:
        add_nodes(project, "fragile")
        project.write_task("hold", HOLD_TASK)
        marks.hold()
        project.add_task("hold", kwargs={"marks": str(marks.root)})
        with BackgroundServer(project):
            task = start_on_fragile_then_kill_it(project, marks, fragile)
            doc = wait_for(lambda: (d := project.task(task))["attempts"][0].get("outcome") and d, timeout=30,
                           what="the lost attempt to be recorded")
            node = wait_for(lambda: (n := project.db.get("node:fragile")).get("status") == "down" and n,
                            timeout=30, what="node fragile to be marked down")

    lost = doc["attempts"][0]
    assert lost["node"] == "fragile" and lost["outcome"] == "node_lost"
    assert "node fragile was lost" in lost["reason"] and isinstance(lost["ended"], (int, float))
    # Not on fragile any more: waiting for another node (or already run there).
    assert doc["state"] in ("waiting", "running", "passed") and doc.get("node") in (None, "node1")
    assert node["down_reason"] and isinstance(node["down_since"], (int, float))
    assert project.db.get("node:node1")["status"] == "up"


def test_node_lost_mid_task_runs_again_on_another_node(project, tmp_path, marks, ssh_hosts, monkeypatch):
    with fragile_node(tmp_path, ssh_hosts, monkeypatch) as fragile:
        add_nodes(project, "fragile")
        project.write_task("hold", HOLD_TASK)
        marks.hold()
        project.add_task("hold", kwargs={"marks": str(marks.root)})
        with slow_log(), BackgroundServer(project):
            task = start_on_fragile_then_kill_it(project, marks, fragile)
            doc = wait_for(lambda: state_is(project, task, "passed"), timeout=12,
                           what="the task to run again on node1")

    lost, rerun = doc["attempts"]
    assert lost["node"] == "fragile" and lost["outcome"] == "node_lost"
    assert rerun["node"] == "node1" and rerun["outcome"] == "passed"
    assert doc["node"] == "node1" and doc["results"]["success"] is True


# -- 3. CouchDB restarted mid-run ----------------------------------------------------------------

@pytest.fixture
def restartable_couch(backend, request, tmp_path):
    """A server this test may crash: its own pouchdb-server, or the run's Apache CouchDB 3 (which
    restarts on its data)."""
    if backend == "couchdb3":
        yield request.getfixturevalue("couchdb3")
        return
    couch = PouchServer(tmp_path / "pouchdb").start()
    yield couch
    couch.stop()


def test_serve_survives_a_couchdb_restart_and_loses_no_result(tmp_path, restartable_couch):
    couch = restartable_couch
    name = "restarted-" + os.urandom(4).hex()
    couch.create_database(name)
    try:
        project = ProjectHelper(create_project(tmp_path / "proj", name), couch.url, name, couch.user)
        project.set(couchdb_host=project.auth_url, couchdb_dbname=name, log_file=None, lease_seconds=10,
                    node_retry_interval=1, ssh_keepalive=1)
        project.write_task("append", APPEND_TASK)
        ran = tmp_path / "ran.txt"
        add_nodes(project, "localhost")
        before = [project.add_task("append", kwargs={"ran": str(ran), "sleep": 0.4}) for _ in range(12)]

        with serve(project, tmp_path) as server:
            wait_for(lambda: ran.exists() and len(ran.read_text().split()) >= 3, timeout=60,
                     what="the first tasks to run")
            couch.restart(down_for=2)
            assert server.alive(), server.output()
            after = [project.add_task("append", kwargs={"ran": str(ran)}) for _ in range(4)]
            ids = before + after
            wait_for(lambda: all(project.task(t).get("state") == "passed" for t in ids), timeout=90,
                     interval=0.5, what="every task to pass after the restart")
            assert server.alive(), server.output()
            output = server.output()
            server.send(signal.SIGTERM)
            server.wait(30)

        assert "lost the database" in output and "database is back" in output
        assert "Traceback" not in output
        assert sorted(ran.read_text().split()) == sorted(ids)   # every task ran, and ran once
        for task_id in ids:
            doc = project.task(task_id)
            # A claim whose answer the restart swallowed is released at once, never run.
            ran_attempts = [a["outcome"] for a in doc["attempts"] if a["outcome"] != "not_started"]
            assert ran_attempts == ["passed"], doc["attempts"]
            assert doc["results"]["task"] == task_id
    finally:
        couch.delete_database(name)


# -- 4. two servers on one database ------------------------------------------------------------

def test_two_servers_on_one_database_run_each_task_exactly_once(project, tmp_path):
    add_nodes(project, "localhost")
    node = project.db.get("node:localhost")
    node["slots"] = 4                      # more at once, so the two servers race harder
    project.db.save(node)
    project.write_task("append", APPEND_TASK)
    ran = tmp_path / "ran.txt"
    ids: list[str] = []

    def servers_that_ran(task_ids):
        return {project.task(t)["attempts"][-1]["server"] for t in task_ids}

    with serve(project, tmp_path, name="a") as a, serve(project, tmp_path, name="b") as b:
        wait_for(lambda: all("node localhost connected" in s.output() for s in (a, b)), timeout=60,
                 what="both servers to be ready")
        # All at once, so both servers see every task waiting and race for it. Tasks of
        # 50 ms: short ones are claimed many ahead, and the quicker server could take
        # them all (a server slow to start its workers on a loaded machine); then
        # another batch, up to three: the test needs the two to have raced.
        for _ in range(3):
            tasks = [{"type": "task", "record_id": "r1", "name": "append", "created": 1,
                      "kwargs": {"ran": str(ran), "sleep": 0.05}} for _ in range(60)]
            batch = [row["id"] for row in project.db.bulk_docs(tasks)]
            ids += batch
            wait_for(lambda: all(project.task(t).get("state") == "passed" for t in batch), timeout=90,
                     interval=0.5, what="every task to pass")
            if len(servers_that_ran(batch)) == 2:
                break
        for server in (a, b):
            assert server.alive(), server.output()
            server.send(signal.SIGTERM)
        for server in (a, b):
            server.wait(30)

    lines = ran.read_text().split()
    assert sorted(lines) == sorted(ids), "a task ran twice, or not at all"
    for task_id in ids:
        doc = project.task(task_id)
        assert doc["state"] == "passed" and doc["attempt"] == 1
        (attempt,) = doc["attempts"]
        assert attempt["outcome"] == "passed"
    assert len(servers_that_ran(ids)) == 2, "one server ran everything, three times: the two never raced"


# -- 5. SIGTERM and SIGINT --------------------------------------------------------------------

def test_sigterm_hands_the_running_task_back_and_a_new_server_runs_it(project, tmp_path, marks):
    add_nodes(project, "localhost")
    project.write_task("hold", HOLD_TASK)
    marks.hold()
    task = project.add_task("hold", kwargs={"marks": str(marks.root)})

    with serve(project, tmp_path, name="first") as first:
        wait_for(marks.started, what="the task to start")
        (_, worker), = marks.started()
        first.send(signal.SIGTERM)
        assert first.wait(30) == 0, first.output()
    assert "Traceback" not in first.output()

    doc = project.task(task)
    assert doc["state"] == "waiting" and "lease" not in doc and "node" not in doc
    (attempt,) = doc["attempts"]
    assert attempt["outcome"] == "handed_back" and "will run again" in doc["reason"]
    wait_for(lambda: not pid_alive(worker), timeout=10, what=f"the handed-back task (pid {worker}) to end")

    marks.release()
    with serve(project, tmp_path, "--until-idle", name="second") as second:
        assert second.wait(60) == 0, second.output()
    doc = project.task(task)
    assert doc["state"] == "passed"
    assert [a["outcome"] for a in doc["attempts"]] == ["handed_back", "passed"]
    # The handed-back attempt never got to the end: only the second run finished.
    assert [pid for _, pid in marks.finished()] == [doc["results"]["pid"]]


def test_sigterm_stops_promptly_and_a_handed_back_task_no_longer_runs(project, tmp_path, marks):
    add_nodes(project, "localhost")
    node = project.db.get("node:localhost")
    node["slots"] = 2
    project.db.save(node)
    project.write_task("hold", HOLD_TASK)
    marks.hold()
    tasks = [project.add_task("hold", kwargs={"marks": str(marks.root)}) for _ in range(2)]

    with serve(project, tmp_path) as server:
        wait_for(lambda: len(marks.started()) == 2, what="both tasks to start")
        workers = [pid for _, pid in marks.started()]
        server.send(signal.SIGTERM)
        began = time.monotonic()
        wait_for(lambda: all(project.task(t)["state"] == "waiting" for t in tasks), timeout=10,
                 interval=0.02, what="both tasks to be handed back")
        # Handed back means stopped: once a task is waiting, another server may start it.
        still_running = [pid for pid in workers if pid_alive(pid)]
        assert server.wait(30) == 0, server.output()
        took = time.monotonic() - began
    assert not still_running, f"handed-back tasks still running in pids {still_running}"
    assert took < 5, f"dirt serve took {took:.1f} s to stop after SIGTERM"


def run_until_interrupted(project, tmp_path, marks, interrupt) -> None:
    """Hold a task, interrupt dirt serve once, check it lets the task finish and then exits."""
    project.write_task("hold", HOLD_TASK)
    marks.hold()
    task = project.add_task("hold", kwargs={"marks": str(marks.root)})

    with serve(project, tmp_path) as server:
        wait_for(marks.started, timeout=60, what="the task to start")
        interrupt(server)
        wait_for(lambda: "letting 1 running task finish" in server.output(), timeout=10,
                 what="dirt serve to acknowledge the interrupt")
        later = project.add_task("examples.simple")
        time.sleep(1.5)                         # long enough for a live server to dispatch `later`
        assert server.alive(), server.output()
        assert project.task(task)["state"] == "running"
        marks.release()
        assert server.wait(30) == 0, server.output()
        assert "Traceback" not in server.output()

    doc = project.task(task)
    assert [a["outcome"] for a in doc["attempts"]] == ["passed"], doc["attempts"]
    assert doc["state"] == "passed" and len(marks.finished()) == 1
    assert project.task(later).get("state", "waiting") == "waiting" and not project.task(later).get("attempts")


def test_sigint_once_lets_the_running_task_finish_then_exits(project, tmp_path, marks):
    add_nodes(project, "localhost")
    run_until_interrupted(project, tmp_path, marks, lambda server: server.send(signal.SIGINT))


@pytest.mark.parametrize("host", ["localhost", "node1"])
def test_ctrl_c_in_a_terminal_lets_the_running_task_finish(project, tmp_path, marks, ssh_env, host):
    add_nodes(project, host)
    run_until_interrupted(project, tmp_path, marks, lambda server: server.interrupt())


# -- 6. max_attempts --------------------------------------------------------------------------

def test_task_whose_node_keeps_dying_ends_in_error_after_max_attempts(project, tmp_path):
    add_nodes(project, "localhost")
    # The task kills the process that connects its node to dirt (its worker's
    # parent, the node's execnet master): for dirt, the node is lost mid-task.
    project.write_task("killnode", """
        import os, signal, time
        if __name__ == '__channelexec__':
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(10)
    """)
    task = project.add_task("killnode", max_attempts=2)
    # `dirt serve --until-idle` (as from cron) exits while the only node is down;
    # each run takes the task one attempt further.
    for run in range(5):
        with serve(project, tmp_path, "--until-idle", name=f"serve{run}") as server:
            assert server.wait(60) == 0, server.output()
            assert "Traceback" not in server.output()
        if project.task(task).get("state") == "error":
            break
    doc = project.task(task)
    assert doc["state"] == "error", doc
    assert "gave up after 2 attempts" in doc["reason"] and "lost" in doc["reason"]
    assert [a["outcome"] for a in doc["attempts"]] == ["node_lost", "node_lost"]
    assert all(a["node"] == "localhost" for a in doc["attempts"])
    assert "lease" not in doc


# Every Python started with this on its path, while marks/slow exists, notes
# its pid in marks/bootstrapping and takes two seconds to start: it holds a new
# worker process half-started on the node.
SLOW_START = """
import os, time
marks = os.environ.get("DIRT_TEST_MARKS")
if marks and os.path.exists(os.path.join(marks, "slow")):
    with open(os.path.join(marks, "bootstrapping"), "a") as f:
        f.write("%d\\n" % os.getpid())
    time.sleep(2)
"""


def test_node_lost_while_a_worker_starts_puts_the_task_back(project, tmp_path, marks, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_START)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("DIRT_TEST_MARKS", str(marks.root))
    add_nodes(project, "localhost")
    # Once a new worker is half-started, kill the node's master (once).
    project.write_task("killnode", """
        import os, signal, time
        if __name__ == '__channelexec__':
            marks = os.environ['DIRT_TEST_MARKS']
            if not os.path.exists(os.path.join(marks, 'killed')):
                open(os.path.join(marks, 'started'), 'a').write('killnode %d\\n' % os.getpid())
                deadline = time.time() + 30
                while not os.path.exists(os.path.join(marks, 'bootstrapping')) and time.time() < deadline:
                    time.sleep(0.02)
                open(os.path.join(marks, 'killed'), 'w').close()
                os.kill(os.getppid(), signal.SIGKILL)
                time.sleep(10)
            channel.send({'success': True})
    """)
    with BackgroundServer(project):
        warm = project.add_task("examples.simple")
        wait_for(lambda: state_is(project, warm, "passed"), what="a first task to leave an idle worker")
        (marks.root / "slow").touch()
        project.add_task("killnode")                       # takes the idle worker
        wait_for(marks.started, what="the killing task to start")
        victim = project.add_task("examples.simple")       # needs a new worker: half-started when the node dies
        doc = wait_for(lambda: (d := project.task(victim)).get("attempts") and "outcome" in d["attempts"][0] and d,
                       timeout=30, what="the victim's first attempt to end")
        (marks.root / "slow").unlink()

    assert (marks.root / "bootstrapping").exists() and (marks.root / "killed").exists()
    assert doc["state"] != "error", doc["reason"]
    assert doc["attempts"][0]["outcome"] in ("not_started", "node_lost")
    assert "localhost" in doc["reason"]
