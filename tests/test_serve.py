"""dirt serve, driven in-process against real servers (pouchdb-server and Apache CouchDB 3.5) and real
execnet gateways."""
from __future__ import annotations

import sys

import pytest

from dirt_run import BackgroundServer, add_nodes, serve_until_idle, wait_for

pytestmark = pytest.mark.both_servers


def test_example_tasks_pass_with_results_and_attachments(project):
    add_nodes(project, "localhost")
    simple = project.add_task("examples.simple")
    kwargs = project.add_task("examples.kwargs", kwargs={"foo": 42, "bar": "baz"})
    files = project.add_task("examples.attachments")
    serve_until_idle(project)

    doc = project.task(simple)
    assert doc["state"] == "passed"
    assert doc["results"]["success"] is True and doc["results"]["sum"] == 4
    assert doc["node"] == "localhost" and doc["completed"] >= doc["started"]
    assert doc["attempts"][-1]["outcome"] == "passed"

    doc = project.task(kwargs)
    assert doc["results"]["foo"] == 42 and doc["results"]["bar"] == "baz"

    doc = project.task(files)
    assert doc["state"] == "passed"
    assert "attachments" not in doc["results"]
    assert doc["attach_links"] == [{"id": "report.txt", "name": "Report"}]
    assert doc["results"]["attach_links"] == doc["attach_links"]
    assert set(doc["_attachments"]) == {"report.txt", "data.csv"}
    assert doc["_attachments"]["data.csv"]["content_type"].startswith("text/csv")
    assert project.db.get_attachment(files, "data.csv") == b"x,y\n1,2\n3,4\n"
    assert b"ran on" in project.db.get_attachment(files, "report.txt")


def test_failed_task_and_raising_task(project):
    add_nodes(project, "localhost")
    project.write_task("fails", """
        if __name__ == '__channelexec__':
            channel.send({'success': False, 'reason': 'tests failed: 3 of 10'})
    """)
    project.write_task("raises", """
        def execute():
            return 1 / 0
        if __name__ == '__channelexec__':
            channel.send(execute())
    """)
    failed = project.add_task("fails")
    raised = project.add_task("raises")
    serve_until_idle(project)
    doc = project.task(failed)
    assert doc["state"] == "failed" and doc["results"]["reason"] == "tests failed: 3 of 10"
    doc = project.task(raised)
    assert doc["state"] == "error"
    assert "ZeroDivisionError" in doc["reason"]
    assert "line 3, in execute" in doc["traceback"] and "return 1 / 0" in doc["traceback"]


def test_bad_documents_end_in_error_with_reasons_and_server_keeps_going(project):
    add_nodes(project, "localhost")
    project.write_task("nodict", "channel.send([1, 2, 3])")
    project.write_task("nosuccess", "channel.send({'value': 1})")
    project.write_task("huge", "channel.send({'success': True, 'blob': 'x' * 5000000})")
    project.write_task("badjson", "channel.send({'success': True, 'ratio': float('nan')})")
    project.write_task("broken", """
        def execute(:
            return {'success': True}
    """)
    project.write_task("takes", """
        def execute(a):
            return {'success': True, 'a': a}
        if __name__ == '__channelexec__':
            kwargs = channel.receive()
            channel.send(execute(**kwargs))
    """)
    cases = {
        project.add_task("../settings"): "not a module path",
        project.add_task("os"): "no task module 'os'",
        project.add_task("__init__"): "not a module path",
        project.add_task("examples"): "no task module 'examples'",
        project.add_task(None): "name is missing",
        project.add_task(""): "non-empty string",
        project.add_task("examples.simple", requires=["architecture equals x86_64"]): "not understood",
        project.add_task("examples.simple", requires="G4INSTALL"): 'not one string: write ["G4INSTALL"]',
        project.add_task("examples.simple", max_attempts={}): "max_attempts must be a whole number, at least 1",
        project.add_task("examples.kwargs", kwargs=[1, 2]): "kwargs must be an object",
        project.add_task("takes", kwargs={"b": 1}): "unexpected keyword argument 'b'",
        project.add_task("takes"): "missing 1 required positional argument: 'a'",
        project.add_task("nodict"): "sent back a list",
        project.add_task("nosuccess"): "no boolean 'success'",
        project.add_task("huge"): "over the limit",
        project.add_task("badjson"): "JSON cannot hold",
        project.add_task("examples.simpel"): "tasks/examples/simpel.py does not exist (did you mean examples.simple?)",
        project.add_task("broken"): "'broken' does not compile: tasks/broken.py, line 2: invalid syntax: def execute(:",
    }
    good = project.add_task("examples.simple")
    serve_until_idle(project)
    for task_id, expected in cases.items():
        doc = project.task(task_id)
        assert doc["state"] == "error", (doc["name"], doc)
        assert expected in doc["reason"], (doc["name"], doc["reason"])
        if doc["name"] in ("broken", "examples.simpel"):   # found before shipping: never sent to a node
            assert not doc.get("attempts") and "node" not in doc, doc
    assert project.task(good)["state"] == "passed"


def test_unmatched_task_waits_with_reason_then_runs_when_a_node_appears(project):
    task = project.add_task("examples.simple", requires=["DIRT_TEST_MARKER in environ"])
    plain = project.add_task("examples.simple", platform="linux")
    serve_until_idle(project)
    doc = project.task(task)
    assert doc["state"] == "waiting" and "no nodes yet" in doc["reason"]

    add_nodes(project, "localhost")
    scheduler = serve_until_idle(project)
    doc = project.task(task)
    assert doc["state"] == "waiting"
    assert "'DIRT_TEST_MARKER' is not in environ" in doc["reason"]
    assert scheduler.finished == {"passed": 1}          # that server ran the plain task, and only it
    rev = doc["_rev"]
    assert project.task(plain)["state"] == "passed"
    # Serving again does not rewrite an unchanged reason (no spinning revisions).
    serve_until_idle(project)
    assert project.task(task)["_rev"] == rev

    # The node gains the variable (updatenodes again): now it runs.
    import os
    os.environ["DIRT_TEST_MARKER"] = "1"
    try:
        add_nodes(project, "localhost")
    finally:
        del os.environ["DIRT_TEST_MARKER"]
    serve_until_idle(project)
    assert project.task(task)["state"] == "passed"


def test_requirement_operators_pick_the_right_node(project):
    add_nodes(project, "localhost")
    node = project.db.get("node:localhost")
    arch = node["sys_info"]["architecture"]
    ok = [
        project.add_task("examples.simple", requires=[f"architecture is {arch}"]),
        project.add_task("examples.simple", requires=["architecture not sparc64"]),
        project.add_task("examples.simple", requires=["PATH in environ"]),
        project.add_task("examples.simple", requires=["NO_SUCH_VAR_X not_in environ"]),
        project.add_task("examples.simple", platform="Linux"),
    ]
    blocked = [
        project.add_task("examples.simple", requires=["architecture is sparc64"]),
        project.add_task("examples.simple", platform="darwin"),
    ]
    serve_until_idle(project)
    for task_id in ok:
        assert project.task(task_id)["state"] == "passed"
    for task_id in blocked:
        doc = project.task(task_id)
        assert doc["state"] == "waiting" and "no enabled node can run it" in doc["reason"]
    assert f"architecture is {arch!r} (requires architecture is sparc64)" in project.task(blocked[0])["reason"]
    assert f"platform is {sys.platform}, not darwin" in project.task(blocked[1])["reason"]


def test_disabled_node_runs_nothing(project):
    add_nodes(project, "localhost")
    node = project.db.get("node:localhost")
    node["enabled"] = False
    project.db.save(node)
    task = project.add_task("examples.simple")
    serve_until_idle(project)
    doc = project.task(task)
    assert doc["state"] == "waiting" and "localhost is disabled" in doc["reason"]


def test_timeout_kills_a_hung_task_and_frees_its_slot(project):
    add_nodes(project, "localhost")
    project.write_task("hang", """
        import subprocess, time
        if __name__ == '__channelexec__':
            subprocess.Popen(['sleep', '300'])
            time.sleep(300)
    """)
    hung = project.add_task("hang", timeout=1)
    after = [project.add_task("examples.simple") for _ in range(4)]
    serve_until_idle(project)
    doc = project.task(hung)
    assert doc["state"] == "error" and "timeout of 1 s" in doc["reason"]
    assert all(project.task(t)["state"] == "passed" for t in after)


def test_concurrent_tasks_on_one_node_use_separate_processes(project):
    add_nodes(project, "localhost")
    project.set(max_attempts=3)
    slots = project.db.get("node:localhost")["sys_info"]["cpu_count"]
    project.write_task("who", """
        import os, time
        if __name__ == '__channelexec__':
            start = time.time()
            os.environ['LEAK'] = 'yes'
            time.sleep(1.0)
            channel.send({'success': True, 'pid': os.getpid(), 'cwd': os.getcwd(), 'start': start,
                          'end': time.time(), 'leak_seen': os.environ.get('SEEN')})
    """)
    ids = [project.add_task("who") for _ in range(slots * 2)]
    serve_until_idle(project)
    docs = [project.task(i) for i in ids]
    assert all(d["state"] == "passed" for d in docs)
    results = [d["results"] for d in docs]
    # Tasks that overlapped in time ran in different processes and directories.
    for a in results:
        for b in results:
            if a is not b and a["start"] < b["end"] and b["start"] < a["end"]:
                assert a["pid"] != b["pid"] and a["cwd"] != b["cwd"]
    # At most cpu_count at once.
    events = sorted([(r["start"], 1) for r in results] + [(r["end"], -1) for r in results])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 2 <= peak <= slots if slots > 1 else peak == 1


def test_live_server_picks_up_new_tasks(project):
    add_nodes(project, "localhost")
    with BackgroundServer(project):
        task = project.add_task("examples.simple")
        doc = wait_for(lambda: (d := project.task(task)).get("state") == "passed" and d, what="task to pass")
    assert doc["results"]["sum"] == 4


def test_cancelling_a_running_task_kills_it_and_keeps_it_cancelled(project, tmp_path):

    add_nodes(project, "localhost")
    pidfile = tmp_path / "pid"
    project.write_task("slow", f"""
        import os, time
        if __name__ == '__channelexec__':
            open({str(pidfile)!r}, 'w').write(str(os.getpid()))
            time.sleep(60)
            channel.send({{'success': True}})
    """)
    task = project.add_task("slow")

    def gone(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    with BackgroundServer(project):
        doc = wait_for(lambda: (d := project.task(task)).get("state") == "running" and pidfile.exists() and d,
                       what="task to start")
        pid = int(wait_for(lambda: pidfile.read_text()))
        doc["state"] = "cancelled"
        project.db.save(doc)
        wait_for(lambda: gone(pid), timeout=20, what="the cancelled task's process to be killed")
    doc = project.task(task)
    assert doc["state"] == "cancelled" and "results" not in doc


def test_load_balancer_runs_tasks(project):
    project.set(load_balancer="load", load_margin=50.0)   # the test machine may be busy
    add_nodes(project, "localhost", "popen//python=python3")
    ids = [project.add_task("examples.simple") for _ in range(6)]
    serve_until_idle(project)
    docs = [project.task(i) for i in ids]
    assert all(d["state"] == "passed" for d in docs)


def test_round_robin_spreads_tasks_over_nodes(project):
    add_nodes(project, "localhost", "popen//python=python3")
    ids = [project.add_task("examples.simple") for _ in range(8)]
    serve_until_idle(project)
    nodes = {project.task(i)["node"] for i in ids}
    assert nodes == {"localhost", "popen//python=python3"}


def test_priority_runs_first(project):
    add_nodes(project, "localhost")
    node = project.db.get("node:localhost")
    node["slots"] = 1
    project.db.save(node)
    low = [project.add_task("examples.simple", created=i) for i in range(3)]
    high = project.add_task("examples.simple", created=99, priority=10)
    serve_until_idle(project)
    started = {t: project.task(t)["started"] for t in low + [high]}
    assert started[high] == min(started.values())


def test_a_result_couchdb_refuses_ends_the_task_in_error(project):
    add_nodes(project, "localhost")
    project.db.save({"_id": "_design/guard", "validate_doc_update": (
        "function (newDoc) { if (newDoc.results && newDoc.results.secret) "
        "{ throw({forbidden: 'results may not hold secrets'}); } }")})
    project.write_task("leaky", "channel.send({'success': True, 'secret': 'hunter2'})")
    leaky = project.add_task("leaky")
    fine = project.add_task("examples.simple")
    serve_until_idle(project)
    doc = project.task(leaky)
    assert doc["state"] == "error"
    assert "CouchDB refused to store the task's result" in doc["reason"]
    assert "results may not hold secrets" in doc["reason"]
    assert "results" not in doc or "secret" not in doc["results"]
    assert project.task(fine)["state"] == "passed"
