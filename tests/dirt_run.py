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
