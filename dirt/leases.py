"""Leases: which running tasks have lost their server, and must run again.

A claim's ``lease`` names the server that holds the task; that server's
heartbeat (:mod:`dirt.heartbeat`) keeps all its leases alive. Any server
recovers a task that is ``running`` while

* no lease names a server (hand-written, or left by an old tool);
* its server stopped, or has not beaten for ``lease_seconds`` (as this server
  saw the beats), or, never having written a heartbeat, let the lease's own
  ``expires`` pass;
* its server is alive but no longer lists the task in its beats (it lost it).

:func:`lost_server` is the decision (no I/O); the scheduler writes the
recovery with :func:`dirt.transitions.recovered`, revision-checked, so two
servers noticing at once recover it once.
"""
from __future__ import annotations

from .heartbeat import ServerWatch
from .taskdoc import TaskDoc


def lost_server(task: TaskDoc, watch: ServerWatch, now: float) -> str | None:
    """Why ``task`` (running, not ours) has lost its server, or None if it has not."""
    lease = task.lease
    if lease is None:
        return "it was marked running without a lease (no dirt server holds it)"
    alive = watch.alive(lease.server, now)
    if alive is None:
        # A server that never wrote a heartbeat here: its lease's own expiry
        # counts. dirt writes claim time + lease_seconds, so one far in the
        # future was not written by a claim (hand-edited): it holds nothing.
        if lease.expires > now + 2 * watch.lease_seconds + 60:
            return f"its lease (held by {lease.server}) expires implausibly far ahead; no dirt server holds it"
        return f"dirt server {lease.server} stopped renewing its lease" if lease.expires <= now else None
    if not alive:
        return f"dirt server {lease.server} stopped renewing its lease"
    if not watch.runs(lease.server, task.id, task.started):
        return f"dirt server {lease.server} is alive but no longer runs it"
    return None
