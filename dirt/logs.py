"""Log output in the 2012 format: ``Sep 07 12:57:20 host project : message``.

dirt's modules log through ``logging.getLogger(__name__)``; :func:`configure`
(called once, by the CLI) sends those records to the console and to the
project's log file in that format. :class:`SeedFormatter` is the one
implementation of the format: the seed's ``dirt.core.yelling`` API is built on
it too. Nothing here ever sees a password: URLs are redacted where they are
logged (:func:`dirt.couch.redact`), and notification tokens are never logged.
"""
from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

DATE_FORMAT = "%b %d %H:%M:%S"


class SeedFormatter(logging.Formatter):
    """``<time> <host> <service> : <message>``, like the original's yelling log."""

    def __init__(self, service: str, hoststamp: bool = True, timestamp: bool = True):
        parts = []
        if timestamp:
            parts.append("%(asctime)s")
        if hoststamp:
            parts.append(socket.gethostname().split(".")[0].replace("%", "%%"))
        parts.append(service.replace("%", "%%") + " : %(message)s")
        super().__init__(" ".join(parts), DATE_FORMAT)


def seed_handlers(formatter: logging.Formatter, log_file: str | Path | None, console: bool) -> list[logging.Handler]:
    """A handler for the console (stderr) and one for ``log_file`` (appended to), both using ``formatter``."""
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    return handlers


def configure(service: str, log_file: Path | None = None, verbose: bool = False, console: bool = True) -> None:
    """Route dirt's log records to the console and ``log_file``; idempotent. egret's
    go the same way (dirt uses egret's credential rule, whose warnings a user must see)."""
    handlers = seed_handlers(SeedFormatter(service), log_file, console)
    for name in ("dirt", "egret"):
        root = logging.getLogger(name)
        for handler in list(root.handlers):
            root.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
        root.propagate = False
        for handler in handlers:
            root.addHandler(handler)
