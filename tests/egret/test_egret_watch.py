"""watch: the real loop, with watchdog, against a real pouchdb-server."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from egret.couch import Couch, Target
from egret.errors import ServerUnreachable, SourceError
from egret.push import push_directory
from egret.watch import Watcher
from servers import PouchServer, free_port

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


class RunningWatcher:
    """The real Watcher.run loop in a thread, recording what it reports."""

    def __init__(self, app_dir: Path, url: str, **options):
        self.couch = Couch(Target.parse(url), timeout=5)
        self.pushed, self.errors = [], []
        self.watcher = Watcher(app_dir, lambda: push_directory(app_dir, self.couch),
                               on_push=self.pushed.append, on_error=self.errors.append, **options)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watcher.run, args=(self.stop,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        self.couch.close()
        assert not self.thread.is_alive()


def test_bursts_of_changes_make_one_push():
    """The loop's timing, driven by an injected clock (no server: ``push`` counts)."""
    now = [100.0]
    pushes = []
    watcher = Watcher(".", lambda: pushes.append(now[0]), quiet=0.2, max_delay=0.8, clock=lambda: now[0])
    assert watcher.step() is None and pushes == []
    for _ in range(3):  # an editor writing a backup, the file, a swap file
        watcher.notice(Path(".").resolve() / "_attachments" / "style.css")
        now[0] += 0.05
        watcher.step()
    assert pushes == []  # not quiet yet
    now[0] += 0.2
    watcher.step()
    assert pushes == [pytest.approx(100.35)]
    now[0] += 5
    watcher.step()
    assert len(pushes) == 1  # nothing new, no push

    # saves that never pause are still pushed within max_delay of the first
    start = now[0]
    while len(pushes) == 1 and now[0] - start < 5:
        watcher.notice(Path(".").resolve() / "views" / "map.js")
        now[0] += 0.1
        watcher.step()
    assert pushes[1] - start == pytest.approx(0.8, abs=0.11)


def test_ignored_files_are_not_changes(sample_app):
    now = [0.0]
    watcher = Watcher(sample_app, lambda: None, clock=lambda: now[0])
    for name in (".index.html.swp", "notes.bak", "style.css~", "drafts/x.txt", ".git/index"):
        watcher.notice(sample_app / name)
    now[0] += 10
    assert not watcher.due()
    watcher.notice(sample_app / "_attachments" / "css" / "style.css")
    now[0] += 10
    assert watcher.due()


def test_edit_is_served_and_a_broken_file_does_not_stop_watching(sample_app, db_url, http):
    css = sample_app / "_attachments" / "css" / "style.css"
    css_url = f"{db_url}/_design/sample/css/style.css"
    with RunningWatcher(sample_app, db_url) as running:
        wait_for(lambda: running.pushed, what="first push")
        assert http.get(css_url).text == "body { color: #333; }\n"

        css.write_text("body { color: green; }\n")
        started = time.monotonic()
        wait_for(lambda: http.get(css_url).text == "body { color: green; }\n", what="new CSS served")
        assert time.monotonic() - started < 2.0
        assert running.pushed[-1].uploaded == [("css/style.css", 23)]

        (sample_app / "rewrites.json").write_text('[{"from": "", "to": "index.html"},]')
        error = wait_for(lambda: running.errors, what="compile error reported")[0]
        assert isinstance(error, SourceError) and error.path.name == "rewrites.json"
        assert running.thread.is_alive()

        (sample_app / "rewrites.json").write_text('[{"from": "", "to": "index.html"}]')
        css.write_text("body { color: blue; }\n")
        wait_for(lambda: http.get(css_url).text == "body { color: blue; }\n", what="push after the fix")
        assert http.get(f"{db_url}/_design/sample").json()["rewrites"] == [{"from": "", "to": "index.html"}]
        pushes = len(running.pushed)
        time.sleep(1.0)
        assert len(running.pushed) == pushes  # egret's own reads are not changes


def test_unreachable_server_is_reported_and_pushed_once_it_is_up(sample_app, tmp_path, http):
    port = free_port()
    url = f"http://127.0.0.1:{port}/late"
    with RunningWatcher(sample_app, url, retry=0.5) as running:
        error = wait_for(lambda: running.errors, what="unreachable server reported")[0]
        assert isinstance(error, ServerUnreachable)
        server = PouchServer(tmp_path / "late-server", port=port).start()
        try:
            result = wait_for(lambda: running.pushed, timeout=10, what="push once the server is up")[0]
            assert result.created_database
            assert http.get(f"{url}/_design/sample/index.html").status_code == 200
        finally:
            server.stop()


def test_watch_command(sample_app, db_url, http):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "egret", "watch", db_url, str(sample_app)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        css_url = f"{db_url}/_design/sample/css/style.css"
        wait_for(lambda: http.get(css_url).status_code == 200, timeout=10, what="first push")
        (sample_app / "_attachments" / "css" / "style.css").write_text("a { color: purple; }\n")
        wait_for(lambda: http.get(css_url).text == "a { color: purple; }\n", what="edit served")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "watching" in err and "stopped" in err and "Traceback" not in err
    assert "uploaded css/style.css (21 B)" in out
    assert out.count(f"{db_url}/_design/sample/index.html") >= 2
