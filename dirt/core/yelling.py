"""The yelling logging API of the 2012 dirt: ``Log`` objects and ``log()``.

Lines look like ``Sep 07 12:57:20 host service : message``.
"""
from __future__ import annotations

import logging
import sys

from dirt.logs import SeedFormatter


class Log:
    """Stores all the options for :func:`log`, for frequent logging without them."""

    def __init__(self, filename: str | None, service_name: str | None = None, hoststamp: bool = True,
                 timestamp: bool = True, console: bool = True):
        self.filename = filename
        self.service_name = service_name
        self.hoststamp = hoststamp
        self.timestamp = timestamp
        self.console = console

    def write(self, message: str) -> None:
        """Write ``message`` to the log file (and the console)."""
        log(self.filename, message, self.service_name, self.hoststamp, self.timestamp, self.console)


def log(filename: str | None, message: str, service_name: str | None = None, hoststamp: bool = True,
        timestamp: bool = True, console: bool = True) -> None:
    """Write a message to a log file, optionally with a time and host stamp like syslog."""
    formatter = SeedFormatter(service_name or "dirt", hoststamp=hoststamp, timestamp=timestamp)
    line = formatter.format(logging.LogRecord("yelling", logging.INFO, "", 0, message, None, None))
    if filename:
        with open(filename, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    if console:
        print(line, file=sys.stderr)
