"""Driving a real Scheduler in-process from tests."""
from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

from dirt.couch import Database
from dirt.nodes import update_nodes
from dirt.scheduler import Scheduler
from dirt.server import DirtServer, build_server
from dirt.settings import load_project
from servers import with_credentials


class ProjectHelper:
    """A real project directory (from `dirt create`) pointed at a test database.

    ``couch_url`` is the server's URL as dirt shows it (no credentials);
    ``auth_url`` has ``credentials`` in it, as the project's settings do.
    """

    def __init__(self, root: Path, couch_url: str, dbname: str, credentials: tuple[str, str] | None = None):
        self.root = root
        self.couch_url = couch_url
        self.dbname = dbname
        self.credentials = credentials
        self.auth_url = with_credentials(couch_url, credentials)
        self.db = Database.from_url(self.auth_url, dbname)

    @property
    def db_url(self) -> str:
        """The database's URL, with the credentials in it."""
        return f"{self.auth_url}/{self.dbname}"

    def set(self, **settings) -> None:
        """Append settings to settings.py (later assignments win)."""
        with open(self.root / "settings.py", "a") as f:
            for key, value in settings.items():
                f.write(f"{key} = {value!r}\n")

    def load(self):
        return load_project(self.root)

    def write_task(self, name: str, source: str) -> None:
        """Write tasks/<dotted/name>.py with ``source`` (dedented)."""
        parts = name.split(".")
        path = self.root / "tasks" / Path(*parts[:-1]) / (parts[-1] + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.parents:
            if parent == self.root / "tasks":
                break
            (parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))

    def add_task(self, name: str, doc_id: str | None = None, **fields) -> str:
        doc = {"type": "task", "record_id": fields.pop("record_id", "r1"), "name": name, "created": 1, **fields}
        if doc_id:
            doc["_id"] = doc_id
        return self.db.save(doc)["_id"]

    def task(self, doc_id: str) -> dict:
        return self.db.get(doc_id)


def add_nodes(project, *hosts: str) -> None:
    results = update_nodes(project.db, list(hosts), project.load().settings)
    failed = [r.message for r in results if not r.ok]
    assert not failed, failed


def serve_until_idle(project, timeout: float = 60.0, **kwargs) -> Scheduler:
    """Run a dirt server (built as `dirt serve` builds it) until nothing is left to do."""
    server = build_server(project.load(), project.db, **kwargs)
    try:
        server.run(until_idle=True, idle_timeout=timeout)
    finally:
        server.close()
    return server.scheduler


class BackgroundServer:
    """A dirt server looping in a thread until stopped (for live/fault tests)."""

    def __init__(self, project, **kwargs):
        self.server: DirtServer = build_server(project.load(), project.db, **kwargs)
        self.scheduler = self.server.scheduler
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.server.run, kwargs={"stop": self.stop_event}, daemon=True)

    def __enter__(self) -> Scheduler:
        self.thread.start()
        return self.scheduler

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(10)
        self.server.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# -- dirt as a real process ------------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402


def dirt_env(**overrides: str | None) -> dict[str, str]:
    """os.environ with ``overrides`` applied (None removes a variable)."""
    env = dict(os.environ)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_dirt(*args: str, cwd, env: dict[str, str] | None = None, timeout: float = 120.0):
    """Run ``python -m dirt ARGS`` to the end; the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", "dirt", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class DirtServe:
    """``python -m dirt serve`` running as a subprocess in a project directory.

    Output goes to ``log_path`` (read it with :meth:`output`). The process
    leads its own process group, so :meth:`interrupt` can deliver SIGINT the
    way a terminal's Ctrl-C does (to the whole group).
    """

    def __init__(self, root: Path, *args: str, log_path: Path, env: dict[str, str] | None = None):
        self.log_path = Path(log_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "dirt", "serve", *args], cwd=root, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGKILL if still running (cleanup)."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "DirtServe":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
