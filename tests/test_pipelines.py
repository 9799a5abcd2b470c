"""Pipelines on real servers: tasks that run after others (``after``).

Chains and diamonds across SSH nodes, a failed build skipping what runs after
it (and the record then finishing), cycles and dangling references refused
with reasons, a build handing its file to a test, a node lost and a `dirt
serve` killed in the middle of a chain. Each task leaves a line in a log file
when it starts and when it ends (every node is this machine), so the tests
can check the order things ran in, and that nothing ran twice.
"""
from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from dirt.status import summarize
from dirt_run import BackgroundServer, DirtServe, add_nodes, run_dirt, serve_until_idle, wait_for
from listeners import HttpSink
from test_faults import fragile_node

pytestmark = pytest.mark.both_servers

# Logs "start ID TIME PID" and "end ID TIME PID"; holds while marks/hold-ID exists (at most a minute);
# succeeds unless kwargs say otherwise; returns the ids of the tasks it was told it runs after.
STEP_TASK = """
import json, os, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    marks, me = kwargs['marks'], os.environ['DIRT_TASK_ID']
    def mark(what):
        with open(os.path.join(marks, 'log'), 'a') as f:
            f.write('%s %s %.6f %d\\n' % (what, me, time.time(), os.getpid()))
    mark('start')
    deadline = time.time() + 60
    while os.path.exists(os.path.join(marks, 'hold-' + me)) and time.time() < deadline:
        time.sleep(0.05)
    mark('end')
    after = json.loads(os.environ.get('DIRT_AFTER', '[]'))
    channel.send({'success': kwargs.get('succeed', True), 'version': kwargs.get('version'),
                  'after': [t['id'] for t in after],
                  'versions': [t['results'].get('version') for t in after]})
"""


class Log:
    """The marks/ directory STEP_TASK writes to."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()

    def hold(self, task_id: str) -> None:
        (self.root / f"hold-{task_id}").touch()

    def release(self, task_id: str) -> None:
        (self.root / f"hold-{task_id}").unlink(missing_ok=True)

    def events(self) -> list[tuple[str, str, float]]:
        path = self.root / "log"
        if not path.exists():
            return []
        return [(what, task, float(t)) for what, task, t, _ in (line.split() for line in path.read_text().splitlines())]

    def times(self, what: str, task_id: str) -> list[float]:
        return [t for w, task, t in self.events() if w == what and task == task_id]

    def started(self, task_id: str) -> bool:
        return bool(self.times("start", task_id))


@pytest.fixture
def log(tmp_path) -> Log:
    return Log(tmp_path / "marks")


def add_step(project, log: Log, doc_id: str, name: str, after: list[str] | None = None, record_id: str = "r1",
             **kwargs) -> str:
    fields = {"after": after} if after is not None else {}
    return project.add_task(name, doc_id=doc_id, record_id=record_id, kwargs={"marks": str(log.root), **kwargs},
                            **fields)


def reason_is(project, task_id: str, reason: str):
    doc = project.task(task_id)
    return doc if doc.get("reason") == reason else None


def states(project, *ids: str) -> dict[str, str]:
    return {i: project.task(i).get("state") for i in ids}


def test_build_then_unit_and_lint_then_package_run_in_that_order_across_nodes(project, log, ssh_env):
    """The issue's pipeline: a diamond, each step waiting with its reason shown."""
    add_nodes(project, "node1", "node2")
    for name in ("build", "unit", "lint", "package"):
        project.write_task(name, STEP_TASK)
    log.hold("r1-build")
    add_step(project, log, "r1-build", "build", version="2.1")
    add_step(project, log, "r1-unit", "unit", ["build"])
    add_step(project, log, "r1-lint", "lint", ["r1-build"])               # by id, the same thing here
    add_step(project, log, "r1-package", "package", ["unit", "lint"])

    with BackgroundServer(project) as scheduler:
        wait_for(lambda: log.started("r1-build"), timeout=60, what="the build to start")
        node = project.task("r1-build")["node"]
        for follower in ("r1-unit", "r1-lint"):
            wait_for(lambda: reason_is(project, follower, f"waiting for build (running on {node})"),
                     what=f"{follower} to say what it waits for")
        wait_for(lambda: reason_is(project, "r1-package", "waiting for unit (waiting), lint (waiting)"),
                 what="package to say what it waits for")
        assert not log.started("r1-unit") and not log.started("r1-lint")
        wait_for(lambda: all(n in scheduler.pool.nodes and scheduler.pool.nodes[n].ready for n in ("node1", "node2")),
                 timeout=60, what="the server to be connected to both nodes")
        log.release("r1-build")
        wait_for(lambda: set(states(project, "r1-unit", "r1-lint", "r1-package", "r1-build").values()) == {"passed"},
                 timeout=60, what="the pipeline to pass")

    (build_end,) = log.times("end", "r1-build")
    for follower in ("r1-unit", "r1-lint"):
        (start,) = log.times("start", follower)
        assert start >= build_end
    (package_start,) = log.times("start", "r1-package")
    assert package_start >= max(log.times("end", "r1-unit") + log.times("end", "r1-lint"))
    docs = {i: project.task(i) for i in ("r1-build", "r1-unit", "r1-lint", "r1-package")}
    assert len({d["node"] for d in docs.values()}) >= 2
    # Each follower was handed the results of what it ran after, in its after's order.
    assert docs["r1-unit"]["results"]["after"] == ["r1-build"]
    assert docs["r1-unit"]["results"]["versions"] == ["2.1"]
    assert docs["r1-package"]["results"]["after"] == ["r1-unit", "r1-lint"]
    assert all(len(d["attempts"]) == 1 and "reason" not in d for d in docs.values())


def test_a_failed_build_skips_everything_after_it_and_the_record_finishes(project, log):
    add_nodes(project, "localhost")
    for name in ("build", "unit", "lint", "package", "docs"):
        project.write_task(name, STEP_TASK)
    add_step(project, log, "r1-build", "build", succeed=False)
    add_step(project, log, "r1-unit", "unit", ["build"])
    add_step(project, log, "r1-lint", "lint", ["build"])
    add_step(project, log, "r1-package", "package", ["unit", "lint"])
    add_step(project, log, "r1-docs", "docs")                           # runs after nothing: runs
    with HttpSink() as http:
        project.set(webhook_url=http.url + "/hook")
        serve_until_idle(project)
        hooks = wait_for(lambda: [r for r in http.requests if r.path == "/hook"], what="the record's webhook")

    assert states(project, "r1-build", "r1-unit", "r1-lint", "r1-package", "r1-docs") == {
        "r1-build": "failed", "r1-unit": "skipped", "r1-lint": "skipped", "r1-package": "skipped",
        "r1-docs": "passed"}
    assert project.task("r1-unit")["reason"] == "build failed"
    # skipped as soon as one of the two it runs after was (they are decided in the same round, in any order)
    assert project.task("r1-package")["reason"] in ("unit was skipped; lint was skipped", "unit was skipped",
                                                    "lint was skipped")
    skipped = project.task("r1-package")
    assert isinstance(skipped["completed"], (int, float)) and "attempts" not in skipped and "node" not in skipped
    assert {task for _, task, _ in log.events()} == {"r1-build", "r1-docs"}      # nothing skipped ran
    body = hooks[0].json()
    assert len(hooks) == 1 and body["outcome"] == "failed"
    assert body["counts"] == {"failed": 1, "skipped": 3, "passed": 1}
    assert "tasks: 1 passed, 1 failed, 3 skipped" in summarize(project.db)


def test_a_cycle_a_dangling_name_and_another_record_s_task_are_errors_with_reasons(project, log):
    add_nodes(project, "localhost")
    for name in ("build", "a", "b", "c", "after_cycle", "typo", "foreign", "fine"):
        project.write_task(name, STEP_TASK)
    project.db.save({"_id": "r2", "type": "record", "description": "another", "created": 2})
    add_step(project, log, "r2-build", "build", record_id="r2")
    add_step(project, log, "r1-a", "a", ["c"])
    add_step(project, log, "r1-b", "b", ["a"])
    add_step(project, log, "r1-c", "c", ["b"])
    add_step(project, log, "r1-after-cycle", "after_cycle", ["a"])
    add_step(project, log, "r1-typo", "typo", ["biuld"])
    add_step(project, log, "r1-foreign", "foreign", ["r2-build"])
    add_step(project, log, "r1-fine", "fine")
    serve_until_idle(project)

    docs = {i: project.task(i) for i in ("r1-a", "r1-b", "r1-c", "r1-after-cycle", "r1-typo", "r1-foreign", "r1-fine")}
    for member in ("r1-a", "r1-b", "r1-c"):
        assert docs[member]["state"] == "error"
        assert docs[member]["reason"].startswith("after forms a cycle, so none of these can ever start: ")
    assert docs["r1-a"]["reason"].endswith(": a -> c -> b -> a")
    assert (docs["r1-after-cycle"]["state"], docs["r1-after-cycle"]["reason"]) == ("skipped", "a ended in error")
    assert docs["r1-typo"]["state"] == "error"
    assert docs["r1-typo"]["reason"].startswith("after names 'biuld', but record r1 has no task with that name or id")
    assert docs["r1-foreign"]["state"] == "error"
    assert "after names 'r2-build', a task of another record (r2)" in docs["r1-foreign"]["reason"]
    assert docs["r1-fine"]["state"] == "passed" and project.task("r2-build")["state"] == "passed"
    assert {task for _, task, _ in log.events()} == {"r1-fine", "r2-build"}


def test_a_test_uses_the_file_its_build_attached_and_no_password_is_handed_on(project, couch, tmp_path, monkeypatch):
    """The skeleton's pair: examples.build attaches hello.py, examples.use_build fetches and runs it.

    On a database that needs a login, the task logs in with the node's own
    ~/.netrc (here this machine's, in a temporary HOME); dirt hands it URLs
    without credentials."""
    if couch.user:
        home = tmp_path / "home"
        home.mkdir()
        (home / ".netrc").write_text(f"machine 127.0.0.1 login {couch.user[0]} password {couch.user[1]}\n")
        (home / ".netrc").chmod(0o600)
        monkeypatch.setenv("HOME", str(home))
    project.write_task("env", "import os\nif __name__ == '__channelexec__':\n"
                              "    channel.send({'success': True, 'after': os.environ['DIRT_AFTER'],\n"
                              "                  'db': os.environ['DIRT_COUCHDB_URL']})\n")
    add_nodes(project, "localhost")
    docs = json.loads((project.root / "web" / "pipeline_data.json").read_text())
    docs.append({"_id": "r2-env", "type": "task", "record_id": "r2", "name": "env", "created": 1,
                 "after": ["examples.build"]})
    for doc in docs:
        project.db.save(doc)
    serve_until_idle(project)

    test = project.task("r2-test")
    assert test["state"] == "passed", test.get("reason") or test.get("traceback")
    assert test["results"]["output"] == "hello, world (version 1.0)" and test["results"]["tested"] == "r2-build"
    handed = project.task("r2-env")["results"]
    (build,) = json.loads(handed["after"])
    db_url = f"{project.couch_url}/{project.dbname}"
    assert handed["db"] == db_url
    assert build["files"] == {"hello.py": f"{db_url}/r2-build/hello.py"}
    assert build["results"]["version"] == "1.0" and build["state"] == "passed"
    if couch.user:
        assert couch.user[1] not in handed["after"] + handed["db"]


def test_a_node_lost_in_the_middle_of_a_chain_runs_its_task_again_and_the_chain_goes_on(
        project, log, tmp_path, ssh_hosts, monkeypatch):
    with fragile_node(tmp_path, ssh_hosts, monkeypatch) as fragile:
        add_nodes(project, "fragile")
        for name in ("build", "test", "package"):
            project.write_task(name, STEP_TASK)
        log.hold("r1-build")
        add_step(project, log, "r1-build", "build")
        add_step(project, log, "r1-test", "test", ["build"])
        add_step(project, log, "r1-package", "package", ["test"])
        with BackgroundServer(project):
            wait_for(lambda: log.started("r1-build"), timeout=60, what="the build to start on fragile")
            wait_for(lambda: reason_is(project, "r1-test", "waiting for build (running on fragile)"),
                     what="the test to wait for the build")
            add_nodes(project, "node1")
            fragile.kill()
            log.release("r1-build")
            wait_for(lambda: states(project, "r1-package")["r1-package"] == "passed", timeout=60,
                     what="the chain to finish on node1")

    build, test, package = (project.task(i) for i in ("r1-build", "r1-test", "r1-package"))
    assert [a["outcome"] for a in build["attempts"]] == ["node_lost", "passed"]
    assert build["attempts"][0]["node"] == "fragile" and build["node"] == "node1"
    assert len(test["attempts"]) == len(package["attempts"]) == 1
    assert len(log.times("start", "r1-test")) == len(log.times("start", "r1-package")) == 1
    assert log.times("start", "r1-test")[0] >= max(log.times("end", "r1-build"))


def test_dirt_serve_killed_in_the_middle_of_a_chain_runs_nothing_twice_and_skips_nothing(project, log, tmp_path):
    project.set(lease_seconds=2)
    add_nodes(project, "localhost")
    for name in ("build", "test", "package"):
        project.write_task(name, STEP_TASK)
    log.hold("r1-test")
    add_step(project, log, "r1-build", "build")
    add_step(project, log, "r1-test", "test", ["build"])
    add_step(project, log, "r1-package", "package", ["test"])

    with DirtServe(project.root, log_path=tmp_path / "first.log") as first:
        wait_for(lambda: log.started("r1-test"), timeout=60, what="the test to start, after the build")
        first.send(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    assert project.task("r1-build")["state"] == "passed" and project.task("r1-test")["state"] == "running"
    log.release("r1-test")
    with DirtServe(project.root, log_path=tmp_path / "second.log") as second:
        wait_for(lambda: states(project, "r1-package")["r1-package"] == "passed", timeout=60,
                 what="the second dirt serve to finish the chain")
        second.send(signal.SIGTERM)
        second.wait(30)

    build, test, package = (project.task(i) for i in ("r1-build", "r1-test", "r1-package"))
    assert len(build["attempts"]) == 1 and len(log.times("start", "r1-build")) == 1      # not run again
    assert [a["outcome"] for a in test["attempts"]] == ["server_lost", "passed"]
    assert len(package["attempts"]) == 1 and len(log.times("start", "r1-package")) == 1
    assert log.times("start", "r1-package")[0] >= max(log.times("end", "r1-test"))
    assert "skipped" not in (first.output() + second.output())


# Fails while marks/broken exists (the build is broken), else passes.
BUILD_TASK = """
import os
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    broken = os.path.exists(os.path.join(kwargs['marks'], 'broken'))
    channel.send({'success': not broken, 'version': '3.0'})
"""


def test_submit_a_matrix_after_a_build_then_rerun_a_skipped_test_with_the_build_it_waited_for(project, log):
    """`dirt submit --after --matrix`, a broken build skipping the matrix, and `dirt rerun` of one
    skipped test, which reruns the build first and the other test it had skipped."""
    add_nodes(project, "localhost")
    project.write_task("build", BUILD_TASK)
    project.write_task("test", STEP_TASK)
    (log.root / "broken").touch()
    marks = f"marks={log.root}"
    built = run_dirt("submit", "r5", "--task", "build", "--kwarg", marks, cwd=project.root)
    tested = run_dirt("submit", "r5", "--task", "test", "--kwarg", marks, "--after", "build",
                      "--matrix", "python=3.11,3.12", cwd=project.root)
    assert built.returncode == 0 and tested.returncode == 0, built.stderr + tested.stderr
    ids = re.findall(r"^task (\S+): stored", built.stdout + tested.stdout, re.M)
    assert len(ids) == 3, built.stdout + tested.stdout
    build_id, *test_ids = ids
    tests = {project.task(i)["kwargs"]["python"]: project.task(i) for i in test_ids}
    assert sorted(tests) == ["3.11", "3.12"] and all(t["after"] == ["build"] for t in tests.values())

    serve_until_idle(project)
    assert project.task(build_id)["state"] == "failed"
    assert {(project.task(i)["state"], project.task(i)["reason"]) for i in test_ids} == {("skipped", "build failed")}

    (log.root / "broken").unlink()
    again = run_dirt("rerun", test_ids[0], cwd=project.root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(re.findall(r"^rerun (\S+):", again.stdout, re.M)) == sorted(ids), again.stdout
    serve_until_idle(project)
    for task_id in ids:
        doc = project.task(task_id)
        assert doc["state"] == "passed" and doc["run"] == 2, doc
    assert {project.task(i)["results"]["after"] == [build_id] for i in test_ids} == {True}
    assert {project.task(i)["results"]["versions"] == ["3.0"] for i in test_ids} == {True}
    assert all(len(log.times("start", i)) == 1 for i in test_ids)      # skipped the first time: ran once
