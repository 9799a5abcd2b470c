"""What happens to a dirt server, as small values on one queue.

The scheduler's loop is the only reader: the ``_changes`` follower, node
connections, task runs and the outcome writer post these from their own
threads, and the loop applies them in order (:meth:`Scheduler.step`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DocChanged:
    """A document changed in the database (``_deleted`` for a deletion)."""

    doc: dict


@dataclass(frozen=True)
class CaughtUp:
    """The follower has read every change up to ``seq``."""

    seq: Any


@dataclass(frozen=True)
class DatabaseDown:
    reason: str


@dataclass(frozen=True)
class DatabaseUp:
    pass


@dataclass(frozen=True)
class NodeUp:
    """A node's connection opened, or answered a ping."""

    name: str
    conn: Any


@dataclass(frozen=True)
class NodeDown:
    """A node could not be reached (``conn`` is the connection that failed, if any)."""

    name: str
    reason: str
    conn: Any = None


@dataclass(frozen=True)
class LoadRead:
    """A node's 1-minute load average, read off the loop (None: could not be read)."""

    name: str
    load: float | None


@dataclass(frozen=True)
class RunFinished:
    """A run of ours left its slot (its outcome is being written, or needs none)."""

    run: Any


@dataclass(frozen=True)
class OutcomeWritten:
    """The outcome of a run reached the database (``doc``), or will not (``doc`` is None)."""

    run: Any
    doc: dict | None


@dataclass(frozen=True)
class PipelinesRead:
    """What was read for the book of pipelines (``records``: every task of each
    record, briefly; ``found``: tasks asked about by id), or why not (``error``)."""

    records: Any
    found: Any
    error: str | None = None
