"""The exceptions egret raises: one root, a few leaves that carry what went wrong.

Every message is meant to be shown to a person as it is, on one line, and
never contains a password (URLs in messages are redacted by the CouchDB layer).
"""
from __future__ import annotations

from pathlib import Path


class EgretError(Exception):
    """Root of every error egret raises on purpose."""


class SourceError(EgretError):
    """A file egret reads (app directory, template, data file) is wrong.

    ``path`` is the file (or folder) at fault, ``line`` its 1-based line
    number when known, ``problem`` what is wrong with it.
    """

    def __init__(self, path: Path | str, problem: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {problem}")


class InvalidTarget(EgretError):
    """A database URL or database name egret cannot use; ``target`` is redacted."""

    def __init__(self, target: str, problem: str):
        self.target = target
        self.problem = problem
        super().__init__(f"{target}: {problem}")


class ServerUnreachable(EgretError):
    """No HTTP answer from the server (refused, DNS, TLS, timeout)."""

    def __init__(self, url: str, reason: str):
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class CouchError(EgretError):
    """The server answered an HTTP error status.

    ``status`` is the HTTP status, ``error`` and ``reason`` the fields of
    CouchDB's JSON error body, ``url`` the redacted request URL.
    """

    def __init__(self, method: str, url: str, status: int, error: str, reason: str, hint: str = ""):
        self.method = method
        self.url = url
        self.status = status
        self.error = error
        self.reason = reason
        message = f"{method} {url}: {status} {error}"
        if reason and reason != error:
            message += f" ({reason})"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class NotAuthorized(CouchError):
    """401 or 403: missing or wrong credentials, or a user without the right."""


class Conflict(CouchError):
    """409: the document changed on the server since egret read it."""


class DatabaseExists(CouchError):
    """412 on creating a database: it is there already (``url``, redacted)."""

    def __init__(self, url: str):
        self.method, self.url, self.status, self.error, self.reason = "PUT", url, 412, "file_exists", ""
        EgretError.__init__(self, f"the database {url} already exists")
