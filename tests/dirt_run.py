"""Driving a real Scheduler in-process from tests."""
from __future__ import annotations

import threading
import time

from dirt.nodes import update_nodes
from dirt.scheduler import Scheduler


def add_nodes(project, *hosts: str) -> None:
    results = update_nodes(project.db, list(hosts), project.load().settings)
    failed = [r.message for r in results if not r.ok]
    assert not failed, failed


def serve_until_idle(project, timeout: float = 60.0, **kwargs) -> Scheduler:
    """Run a Scheduler on the project until nothing is left to do."""
    scheduler = Scheduler(project.db, project.load(), **kwargs)
    try:
        scheduler.run(until_idle=True, idle_timeout=timeout)
    finally:
        scheduler.close()
    return scheduler


class BackgroundServer:
    """A Scheduler looping in a thread until stopped (for live/fault tests)."""

    def __init__(self, project, **kwargs):
        self.scheduler = Scheduler(project.db, project.load(), **kwargs)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.scheduler.run, kwargs={"stop": self.stop_event}, daemon=True)

    def __enter__(self) -> Scheduler:
        self.thread.start()
        return self.scheduler

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(10)
        self.scheduler.close()


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
from pathlib import Path  # noqa: E402


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
