"""dirt submit, dirt cancel and dirt rerun, run as a user runs them, against real servers
(pouchdb-server and Apache CouchDB 3.5), with a real dirt serve running the tasks."""
from __future__ import annotations

import json
import time

import pytest

from dirt import actions
from dirt_run import BackgroundServer, add_nodes, run_dirt, serve_until_idle, wait_for

pytestmark = pytest.mark.both_servers

# Fails on its first run, passes on the next: the marker file remembers.
FLAKY = """
    import os
    if __name__ == '__channelexec__':
        kwargs = channel.receive()
        first = not os.path.exists(kwargs['marker'])
        open(kwargs['marker'], 'a').close()
        channel.send({'success': not first, 'reason': 'first run fails' if first else None,
                      'attachments': [{'filename': 'out.txt', 'contents': 'first' if first else 'again'}]})
"""
SLOW = """
    import time
    if __name__ == '__channelexec__':
        time.sleep(60)
        channel.send({'success': True})
"""


def dirt(project, *args):
    return run_dirt(*args, cwd=project.root)


def test_submit_stores_a_record_and_its_tasks_once(project):
    args = ["submit", "r124", "--task", "examples.simple", "--task", "examples.kwargs", "--kwarg", "foo=3",
            "--kwarg", "bar=from the hook", "-d", "revision 124", "--field", "branch=main"]
    first = dirt(project, *args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "record r124: stored" and len(lines) == 3
    task_ids = [line.split()[1].rstrip(":") for line in lines[1:]]
    assert all(line.endswith(": stored") for line in lines[1:])
    record = project.db.get("r124")
    assert (record["description"], record["branch"], record["type"]) == ("revision 124", "main", "record")
    task = project.db.get(task_ids[1])
    assert task["name"] == "examples.kwargs" and task["kwargs"] == {"foo": 3, "bar": "from the hook"}
    assert task["record_id"] == "r124" and isinstance(task["created"], float) and "state" not in task

    again = dirt(project, *args)
    assert again.returncode == 0 and again.stdout.splitlines()[0] == "record r124: unchanged"
    assert [line.split(": ")[1].split(" ")[0] for line in again.stdout.splitlines()[1:]] == ["exists", "exists"]
    copies = dirt(project, *args, "--again")
    assert copies.returncode == 0 and copies.stdout.count(": stored") == 2
    rows = project.db.server.request("POST", f"{project.db.path}/_find",
                                     json={"selector": {"type": "task", "record_id": "r124"}})["docs"]
    assert len(rows) == 4


def test_submit_refuses_a_bad_submission_and_stores_nothing(project):
    bad = dirt(project, "submit", "r9", "--task", "examples.simple", "--task", "examples.nope")
    assert bad.returncode == 2
    assert "nothing was stored" in bad.stderr and "no task module 'examples.nope'" in bad.stderr
    assert "did you mean examples.simple" in bad.stderr
    no_task = dirt(project, "submit", "r9")
    assert no_task.returncode == 2 and "--task NAME" in no_task.stderr
    bad_kwargs = dirt(project, "submit", "r9", "--task", "examples.simple", "--kwargs", "[1, 2]")
    assert bad_kwargs.returncode == 2 and "--kwargs must be a JSON object" in bad_kwargs.stderr
    assert project.db.all_docs(key="r9")["rows"] == []


def test_submit_from_a_yaml_file_and_from_git(project, tmp_path):
    path = tmp_path / "r7.yaml"
    path.write_text("record:\n  _id: r7\n  description: nightly\ntasks:\n  - examples.simple\n"
                    "  - name: examples.kwargs\n    kwargs: {foo: 1}\n    priority: 5\n")
    done = dirt(project, "submit", "--file", str(path))
    assert done.returncode == 0, done.stderr
    assert "task r7-examples.simple: stored" in done.stdout
    stored = [line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("task")]
    assert project.db.get(stored[1])["priority"] == 5

    import subprocess
    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["init", "-q", "-b", "main"], ["config", "user.name", "Ann Coder"], ["config", "user.email", "a@b"],
                ["remote", "add", "origin", "https://user:secret@example.org/ann/hello.git"],
                ["commit", "-q", "--allow-empty", "-m", "Faster parser"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    hook = run_dirt("submit", "--git", "--task", "examples.simple", "--project", str(project.root), cwd=repo)
    assert hook.returncode == 0, hook.stderr
    record = project.db.get(sha)
    assert (record["sha"], record["description"], record["author"], record["branch"]) == \
        (sha, "Faster parser", "Ann Coder", "main")
    assert record["repository"] == "https://example.org/ann/hello.git"       # no login stored
    assert project.db.get(f"{sha}-examples.simple")["record_id"] == sha


def test_cancel_a_waiting_task_and_a_running_one(project):
    add_nodes(project, "localhost")
    project.write_task("slow", SLOW)
    waiting = project.add_task("examples.simple", platform="sparc-nowhere")     # no node can run it
    running = project.add_task("slow")
    with BackgroundServer(project):
        wait_for(lambda: project.task(running).get("state") == "running", what="the slow task to start")
        wait_for(lambda: project.task(waiting).get("reason"), what="the waiting reason")
        started = time.monotonic()
        done = dirt(project, "cancel", waiting, running)
        assert done.returncode == 0, done.stderr
        assert f"cancelled {waiting} (it was waiting: it will not start)" in done.stdout
        assert f"cancelled {running} (it was running on localhost: dirt serve stops it)" in done.stdout
        doc = wait_for(lambda: (d := project.task(running))["attempts"][-1].get("outcome") and d,
                       timeout=30, what="the running attempt's end")
        assert time.monotonic() - started < 30          # killed, not left to sleep its 60 s
    user = actions.who_asks(project.db)
    assert doc["state"] == "cancelled" and doc["cancelled_by"] == user and "lease" not in doc
    assert doc["attempts"][-1]["outcome"] == "cancelled"
    assert doc["reason"] == f"cancelled by {user}"
    assert doc["attempts"][-1]["reason"] == f"cancelled by {user} while it ran"
    never = project.task(waiting)
    assert never["state"] == "cancelled" and "attempts" not in never and never["reason"] == f"cancelled by {user}"
    again = dirt(project, "cancel", running, "no-such-task")
    assert again.returncode == 1
    assert f"{running}: not cancelled: it already ended cancelled (by {user})" in again.stderr
    assert "no-such-task: not cancelled: no such document" in again.stderr


def test_rerun_keeps_every_run_single_record_and_failed(project, tmp_path):
    add_nodes(project, "localhost")
    project.write_task("flaky", FLAKY)
    first = project.add_task("flaky", kwargs={"marker": str(tmp_path / "one")})
    second = project.add_task("flaky", kwargs={"marker": str(tmp_path / "two")})
    passes = project.add_task("examples.simple")
    serve_until_idle(project)
    assert [project.task(t)["state"] for t in (first, second, passes)] == ["failed", "failed", "passed"]

    single = dirt(project, "rerun", first)
    assert single.returncode == 0, single.stderr
    assert single.stdout.startswith(f"rerun {first}: run 2 waits to run (run 1 failed on localhost")
    twice = dirt(project, "rerun", first)
    assert twice.returncode == 1 and "it is already being rerun (run 2, asked by" in twice.stderr
    serve_until_idle(project)
    doc = project.task(first)
    assert doc["state"] == "passed" and doc["results"]["success"] is True and doc["run"] == 2
    assert doc["runs"][0]["state"] == "failed" and doc["runs"][0]["results"]["reason"] == "first run fails"
    assert doc["runs"][0]["files"] == ["out.txt"] and doc["rerun_by"] == actions.who_asks(project.db)
    assert [a.get("run", 1) for a in doc["attempts"]] == [1, 2]
    assert project.db.get_attachment(first, "out.txt") == b"first"           # the first run's file is kept
    newest = doc["results"]["attach_links"] or [name for name in doc["_attachments"] if name != "out.txt"]
    assert newest and project.db.get_attachment(first, sorted(doc["_attachments"])[-1]) == b"again"

    failed_only = dirt(project, "rerun", "--record", "r1", "--failed")
    assert failed_only.returncode == 0 and failed_only.stdout.count("rerun ") == 1 and second in failed_only.stdout
    serve_until_idle(project)
    whole = dirt(project, "rerun", "--record", "r1")
    assert whole.returncode == 0 and whole.stdout.count("rerun ") == 3
    serve_until_idle(project)
    doc = project.task(first)
    assert doc["run"] == 3 and [r["state"] for r in doc["runs"]] == ["failed", "passed"]
    assert project.task(passes)["runs"][0]["state"] == "passed"

    history = dirt(project, "status", first)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0].startswith(f"task {first} (flaky of record r1): passed")
    assert [line.split()[0:3] for line in lines[1:4]] == [["run", "1:", "failed"], ["run", "2:", "passed"],
                                                           ["run", "3:", "passed"]]
    assert "rerun by" in lines[2] and "rerun by" in lines[3]


def test_rerun_refuses_what_has_not_ended(project):
    waiting = project.add_task("examples.simple")
    done = dirt(project, "rerun", waiting)
    assert done.returncode == 1
    assert f"{waiting}: not rerun: it is waiting to run: it has not ended" in done.stderr
    assert project.task(waiting).get("run") is None
    nothing = dirt(project, "rerun", "--record", "r1", "--failed")
    assert nothing.returncode == 0 and "nothing to rerun: no task of r1 ended failed or error" in nothing.stdout
    unknown = dirt(project, "rerun", "--record", "no-such-record")
    assert unknown.returncode == 1 and "no record 'no-such-record'" in unknown.stderr
    both = dirt(project, "cancel", waiting, "--record", "r1")
    assert both.returncode == 1 and "not both" in both.stderr
    assert json.loads(json.dumps(project.task(waiting))).get("state") is None
