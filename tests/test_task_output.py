"""A task's output: captured at the file-descriptor level, streamed while it runs,
capped, attached when the attempt ends, kept through faults; and provenance.
Real pouchdb-server and Apache CouchDB 3.5, real execnet, real `dirt serve`."""
from __future__ import annotations

import hashlib
import json
import platform
import signal
import subprocess
import sys

import pytest

from dirt.output import chunk_prefix, read
from dirt_run import BackgroundServer, DirtServe, add_nodes, run_dirt, serve_until_idle, wait_for

pytestmark = pytest.mark.both_servers

# Prints a numbered line every 0.2 s (stdout and stderr, and from a child process), `n` times.
TALKER = """
import os, subprocess, sys, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    for i in range(kwargs['n']):
        print('line %d' % i, flush=True)
        if i % 5 == 0:
            sys.stderr.write('err %d\\n' % i)
            subprocess.run(['echo', 'child %d' % i])
        time.sleep(kwargs.get('pause', 0.2))
    if kwargs.get('hold'):
        open(kwargs['started'], 'w').write('x')
        time.sleep(60)
    channel.send({'success': True})
"""


def chunks(project, task_id: str, attempt: int = 1) -> list[dict]:
    prefix = chunk_prefix(task_id, attempt)
    rows = project.db.all_docs(startkey=prefix, endkey=prefix + "\ufff0", include_docs=True)["rows"]
    return [row["doc"] for row in rows]


def attached_log(project, task_id: str, attempt: int = 1) -> str:
    return project.db.get_attachment(task_id, f"log-{attempt}.txt").decode("utf-8")


def test_output_streams_while_the_task_runs_and_is_attached_when_it_ends(project):
    add_nodes(project, "localhost")
    project.write_task("talker", TALKER)
    task = project.add_task("talker", kwargs={"n": 20})
    with BackgroundServer(project):
        # seen before the task ends, by `dirt logs` (library) and in the database's chunks
        early = wait_for(lambda: (lambda r: r if len(r.lines) >= 3 else None)(read(project.db, task)), timeout=30,
                         what="the first lines while the task runs")
        assert not early.ended and project.task(task)["state"] == "running"
        assert [text for _, text in early.lines[:2]] == ["line 0", "err 0"]
        wait_for(lambda: project.task(task).get("state") == "passed", timeout=60, what="the task to pass")
    doc = project.task(task)
    text = attached_log(project, task)
    lines = text.splitlines()
    assert lines[:4] == ["line 0", "err 0", "child 0", "line 1"]            # in order, stderr and child too
    assert len(lines) == 20 + 2 * 4 and lines[-1] == "line 19"
    entry = doc["attempts"][-1]
    assert entry["log"] == {"name": "log-1.txt", "lines": 28, "bytes": len(text.encode()), "cut_lines": 0}
    assert doc["_attachments"]["log-1.txt"]["content_type"].startswith("text/plain")
    times = json.loads(project.db.get_attachment(task, "log-1.times.json"))
    assert times[0][0] == 1 and all(a[1] <= b[1] for a, b in zip(times, times[1:]))
    assert chunks(project, task) == []                                      # the chunks are gone


def test_dirt_logs_follows_a_running_task_and_exits_with_how_it_ended(project, tmp_path):
    add_nodes(project, "localhost")
    project.write_task("talker", TALKER)
    project.write_task("fails", "print('about to fail')\nchannel.send({'success': False, 'reason': 'no'})\n")
    task = project.add_task("talker", kwargs={"n": 10})
    with DirtServe(project.root, log_path=tmp_path / "serve.log") as serve:
        follow = subprocess.run([sys.executable, "-m", "dirt", "logs", "-f", task], cwd=project.root,
                                capture_output=True, text=True, timeout=120)
        assert follow.returncode == 0, follow.stderr
        assert follow.stdout.splitlines() == attached_log(project, task).splitlines()
        failed = project.add_task("fails")
        done = subprocess.run([sys.executable, "-m", "dirt", "logs", "-f", failed], cwd=project.root,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and done.stdout == "about to fail\n", (done.stdout, done.stderr)
        assert serve.alive()
    again = run_dirt("logs", "--attempt", "1", task, cwd=project.root)
    assert again.returncode == 0 and again.stdout.splitlines()[0] == "line 0"
    missing = run_dirt("logs", "--attempt", "3", task, cwd=project.root)
    assert missing.returncode == 1 and "has no attempt 3" in missing.stderr


def test_ten_megabytes_of_output_keep_the_head_and_the_tail_within_the_cap(project):
    project.set(log_max_bytes=200_000)
    add_nodes(project, "localhost")
    project.write_task("flood", """
import sys
if __name__ == '__channelexec__':
    for i in range(200000):
        sys.stdout.write('flood line %06d %s\\n' % (i, 'x' * 36))
    channel.send({'success': True})
""")
    task = project.add_task("flood")
    serve_until_idle(project)
    doc = project.task(task)
    text = attached_log(project, task)
    lines = text.splitlines()
    assert len(text.encode()) <= 200_000 + 100
    assert lines[0].startswith("flood line 000000") and lines[-1].startswith("flood line 199999")
    (mark,) = [line for line in lines if line.endswith(" lines cut ...")]
    cut = int(mark.split()[1])
    assert doc["attempts"][-1]["log"]["cut_lines"] == cut and doc["attempts"][-1]["log"]["lines"] == 200000
    assert len(lines) - 1 + cut == 200000                                   # every line kept or counted as cut


def test_a_kill_9_of_dirt_serve_leaves_a_readable_log_marked_cut_short(project, tmp_path):
    project.set(lease_seconds=2)
    add_nodes(project, "localhost")
    project.write_task("talker", TALKER)
    started = tmp_path / "started"
    task = project.add_task("talker", kwargs={"n": 6, "pause": 0.3, "hold": True, "started": str(started)})
    with DirtServe(project.root, log_path=tmp_path / "first.log") as first:
        wait_for(started.exists, timeout=60, what="the task to print and then hold")
        wait_for(lambda: len(read(project.db, task).lines) >= 6 + 2 * 2, timeout=30,
                 what=f"its lines to be streamed: {read(project.db, task).lines}")
        first.send(signal.SIGKILL)
        first.wait(10)
    assert [text for _, text in read(project.db, task).lines][:3] == ["line 0", "err 0", "child 0"]
    with DirtServe(project.root, log_path=tmp_path / "second.log"):
        doc = wait_for(lambda: (lambda d: d if d.get("attempt") == 2 else None)(project.task(task)), timeout=60,
                       what="the second server to recover and start the task again")
    lost = doc["attempts"][0]
    assert lost["outcome"] == "server_lost" and "stopped renewing its lease" in lost["log"]["cut_short"]
    lines = attached_log(project, task, 1).splitlines()
    assert lines[:3] == ["line 0", "err 0", "child 0"] and lines[-1].startswith("[dirt: the log ends here: dirt server")
    assert chunks(project, task, 1) == []


def test_invalid_utf8_and_binary_output_is_replaced_not_dropped(project):
    add_nodes(project, "localhost")
    project.write_task("binary", r"""
import os
if __name__ == '__channelexec__':
    os.write(1, b'before \xff\xfe bad \x00 zero\n')
    os.write(2, b'\xe2\x82')         # half a euro sign
    os.write(2, b'\xac after\n')      # ... and its other half
    channel.send({'success': True})
""")
    task = project.add_task("binary")
    serve_until_idle(project)
    assert attached_log(project, task).splitlines() == ["before \ufffd\ufffd bad \x00 zero", "\u20ac after"]


# Prints without flush=True, runs a program, writes to stderr, then waits to be let go.
UNFLUSHED = """
import os, subprocess, sys, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    print('step 1')
    subprocess.run(['echo', 'from a child'])
    sys.stderr.write('a warning\\n')
    print('step 2', end='')
    print(' done')
    print('waiting', end='')
    while not os.path.exists(kwargs['go']):
        time.sleep(0.05)
    channel.send({'success': True})
"""


def test_prints_without_flush_reach_the_log_line_by_line_in_order_with_the_programs_a_task_starts(
        project, tmp_path):
    add_nodes(project, "localhost")
    project.write_task("unflushed", UNFLUSHED)
    go = tmp_path / "go"
    task = project.add_task("unflushed", kwargs={"go": str(go)})
    with BackgroundServer(project):
        early = wait_for(lambda: (lambda r: r if len(r.lines) >= 4 else None)(read(project.db, task)), timeout=30,
                         what="the task's lines while it runs")
        assert [text for _, text in early.lines] == ["step 1", "from a child", "a warning", "step 2 done"]
        go.write_text("x")
        wait_for(lambda: project.task(task).get("state") == "passed", timeout=60, what="the task to pass")
    assert attached_log(project, task).splitlines() == ["step 1", "from a child", "a warning", "step 2 done",
                                                        "waiting"]


def test_each_attempt_records_what_exactly_ran(project):
    add_nodes(project, "localhost")
    task = project.add_task("examples.kwargs", kwargs={"foo": 42, "bar": "baz"})
    serve_until_idle(project)
    source = (project.root / "tasks" / "examples" / "kwargs.py").read_bytes()
    provenance = project.task(task)["attempts"][-1]["provenance"]
    assert provenance["sha256"] == hashlib.sha256(source).hexdigest()
    assert provenance["python"] == platform.python_version() and provenance["platform"] == platform.platform()
    assert provenance["kwargs"] == {"foo": 42, "bar": "baz"} and provenance["dirt"]


def test_an_idle_task_writes_nothing_and_a_chatty_one_at_most_once_a_second(project):
    add_nodes(project, "localhost")
    project.write_task("talker", TALKER)
    quiet = project.add_task("talker", kwargs={"n": 1, "pause": 4.0})
    chatty = project.add_task("talker", kwargs={"n": 60, "pause": 0.05})
    seen: dict[str, set[str]] = {quiet: set(), chatty: set()}
    with BackgroundServer(project):
        def done():
            for task in seen:
                seen[task].update(c["_id"] for c in chunks(project, task))
            return all(project.task(t).get("state") == "passed" for t in seen)
        wait_for(done, timeout=60, interval=0.1, what="both tasks to pass")
    assert len(seen[quiet]) <= 2                       # one line, then four quiet seconds: one chunk
    started, completed = (project.task(chatty)[k] for k in ("started", "completed"))
    assert len(seen[chatty]) <= (completed - started) + 2, seen[chatty]
