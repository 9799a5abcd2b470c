"""The exceptions dirt raises. Every one is a :class:`DirtError`.

The CLI turns them into one-line messages and the exit code they carry.
"""
from __future__ import annotations


class DirtError(Exception):
    """Root of dirt's exceptions; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class SettingsError(DirtError):
    """A project's settings.py is missing, broken, or has a bad value."""

    exit_code = 2


class ProjectExists(DirtError):
    """``dirt create`` was pointed at a directory that already exists."""

    exit_code = 2


class CouchError(DirtError):
    """CouchDB answered with an error, or could not be reached."""

    exit_code = 3

    def __init__(self, message: str, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error

    @property
    def permanent(self) -> bool:
        """A refusal that retrying will not change (as opposed to an unreachable or failing server)."""
        return (self.status is not None and 400 <= self.status < 500 and self.status not in (401, 408, 409, 429)) \
            or self.error in ("forbidden", "too_large", "bad_request", "doc_validation")


class Unreachable(CouchError):
    """No answer from the CouchDB server (refused, timed out, DNS)."""


class Unauthorized(CouchError):
    """The server refused our credentials (401) or our rights (403)."""


class NotFound(CouchError):
    """The document or database does not exist (404)."""


class DatabaseMissing(NotFound):
    """The database itself does not exist (a 404 that names no document)."""


class Conflict(CouchError):
    """A revision-checked write lost: the document changed meanwhile (409)."""


class TaskNameError(DirtError):
    """A task's ``name`` does not name a module in the project's tasks/ directory."""


class TaskSourceError(TaskNameError):
    """A task module that does not compile; ``path`` (relative to the project) and ``line`` say where."""

    def __init__(self, message: str, path: str, line: int | None):
        super().__init__(message)
        self.path = path
        self.line = line


class RequirementError(DirtError):
    """A task's ``requires`` entry is not one of the four documented forms."""


class NodeUnreachable(DirtError):
    """A node could not be connected to, or its connection dropped."""

    def __init__(self, node: str, reason: str):
        super().__init__(f"{node}: {reason}")
        self.node = node
        self.reason = reason
