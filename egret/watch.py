"""watch: push once, then again after every change under the app directory.

watchdog reports file events from its own thread; :meth:`Watcher.notice`
records them and the loop in :meth:`Watcher.run` pushes when the directory
has been quiet for :attr:`Watcher.quiet` seconds, or at the latest
:attr:`Watcher.max_delay` seconds after the first unpushed change, so a burst
of saves (an editor writing a backup, then the file) makes one push. A push
that fails (a compile error, an unreachable server, a refused write) is
reported through ``on_error`` and the loop goes on; an unreachable server is
tried again every :attr:`Watcher.retry` seconds without waiting for an edit.

The clock and sleep are injectable and :meth:`Watcher.step` does one round,
so tests drive the real loop.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from egret.errors import EgretError, ServerUnreachable
from egret.ignore import IgnoreRules
from egret.push import PushResult

log = logging.getLogger(__name__)

# "opened" and "closed_no_write" are reads (egret's own compile makes them).
_WRITE_EVENTS = {"created", "deleted", "modified", "moved", "closed"}


def _ignore(_value: object) -> None:
    return None


class Watcher:
    """Push ``directory`` with ``push`` now and after each burst of changes.

    ``push`` compiles and pushes (e.g. ``lambda: push_directory(dir, couch)``);
    ``on_push`` receives each :class:`PushResult`, ``on_error`` each
    :class:`EgretError`.
    """

    def __init__(
        self,
        directory: Path | str,
        push: Callable[[], PushResult],
        *,
        on_push: Callable[[PushResult], None] = _ignore,
        on_error: Callable[[EgretError], None] = _ignore,
        quiet: float = 0.2,
        max_delay: float = 0.8,
        retry: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.directory = Path(directory).resolve()
        self.push = push
        self.on_push = on_push
        self.on_error = on_error
        self.quiet = quiet
        self.max_delay = max_delay
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        self._rules = IgnoreRules.load(self.directory)
        self._lock = threading.Lock()
        self._first_change: float | None = None
        self._last_change: float | None = None
        self._retry_at: float | None = None

    def notice(self, path: str | Path) -> None:
        """Record a change of ``path`` (thread-safe); skipped files are not changes."""
        if self._rules.ignored_path(self.directory, Path(path)):
            return
        now = self.clock()
        with self._lock:
            if self._first_change is None:
                self._first_change = now
            self._last_change = now

    def due(self) -> bool:
        """Whether a push should happen now."""
        now = self.clock()
        with self._lock:
            if self._first_change is not None:
                return (
                    now - (self._last_change or now) >= self.quiet
                    or now - self._first_change >= self.max_delay
                )
        return self._retry_at is not None and now >= self._retry_at

    def push_now(self) -> PushResult | None:
        """Push once, reporting the result or the error; ``None`` if it failed."""
        with self._lock:
            self._first_change = self._last_change = None
        self._retry_at = None
        try:
            result = self.push()
        except ServerUnreachable as exc:
            self._retry_at = self.clock() + self.retry
            self.on_error(exc)
            return None
        except EgretError as exc:
            self.on_error(exc)
            return None
        except OSError as exc:  # e.g. a file deleted while it was being compiled
            self.on_error(EgretError(f"{getattr(exc, 'filename', '') or self.directory}: {exc.strerror or exc}"))
            return None
        self.on_push(result)
        return result

    def step(self) -> PushResult | None:
        """One round of the loop: push if due."""
        if self.due():
            return self.push_now()
        return None

    def run(self, stop: threading.Event | None = None, poll: float = 0.05) -> None:
        """Push now, then watch until ``stop`` is set (or forever)."""
        stop = stop or threading.Event()
        observer = Observer()
        observer.schedule(_Handler(self), str(self.directory), recursive=True)
        observer.start()
        try:
            self.push_now()
            while not stop.is_set():
                self.step()
                self.sleep(poll)
        finally:
            observer.stop()
            observer.join()


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _WRITE_EVENTS:
            return
        if event.is_directory and event.event_type == "modified":
            return
        self.watcher.notice(os.fsdecode(event.src_path))
        dest = getattr(event, "dest_path", "")
        if dest:
            self.watcher.notice(os.fsdecode(dest))
