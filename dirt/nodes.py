"""Nodes: how to reach them, their documents, and the live connections to them.

A node is named by what the user gave ``dirt updatenodes``: ``localhost``
(a local process, no sshd needed), a host name or ssh config alias (SSH with
the user's own config and keys), or a full execnet spec (``ssh=...``,
``popen//python=...``), used as given. Its document id is derived from that
name, so updating a node twice never makes two documents.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Callable

from . import documents
from .couch import Database
from .errors import Conflict, CouchError, DirtError, NodeUnreachable
from .plural import plural
from .runner import NodeConnection
from .settings import Settings

log = logging.getLogger(__name__)

NODE_ID_PREFIX = "node:"


def node_id(name: str) -> str:
    """The document id of the node called ``name``."""
    return NODE_ID_PREFIX + name


def gateway_spec(name: str, settings: Settings) -> str:
    """The execnet spec that reaches node ``name``.

    SSH connections get keepalives (a dead link is noticed in about
    3 × ``ssh_keepalive`` seconds instead of hanging), ``BatchMode`` (never
    prompt for a password) and a connect timeout. ``DIRT_SSH_CONFIG`` names an
    ssh config file to use instead of ``~/.ssh/config``.
    """
    ssh_opts = (f"-o ServerAliveInterval={settings.ssh_keepalive} -o ServerAliveCountMax=3 "
                "-o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=QUIET")
    ssh_config = os.environ.get("DIRT_SSH_CONFIG")
    if "=" in name:  # an execnet spec, used as given (keepalives added to ssh)
        parts = name.split("//")
        out = []
        for part in parts:
            if part.startswith("ssh=") and "ServerAlive" not in part:
                part = f"ssh={ssh_opts} {part[4:]}"
            out.append(part)
        if ssh_config and parts[0].startswith("ssh=") and not any(p.startswith("ssh_config=") for p in parts):
            out.append(f"ssh_config={ssh_config}")
        return "//".join(out)
    if name in ("localhost", "localhost.localdomain", "127.0.0.1", "::1"):
        return f"popen//python={settings.node_python}"
    if not name or name.startswith("-") or any(ch.isspace() for ch in name):
        raise DirtError(f"{name!r} is not a host name, ssh alias or execnet spec")
    spec = f"ssh={ssh_opts} {name}//python={settings.node_python}"
    if ssh_config:
        spec += f"//ssh_config={ssh_config}"
    return spec


def core_task_source(name: str) -> str:
    """Source of one of dirt's own tasks (``system_info``, ``ping``, ``load``)."""
    return resources.files("dirt.tasks").joinpath(f"{name}.py").read_text(encoding="utf-8")


def probe(name: str, settings: Settings, timeout: float = 60.0) -> dict:
    """Connect to node ``name``, run system_info there, and return its answer."""
    conn = NodeConnection(name, gateway_spec(name, settings))
    try:
        info = conn.run_here(core_task_source("system_info"), timeout=timeout)
    finally:
        conn.close()
    if not isinstance(info, dict) or not info.get("success"):
        raise NodeUnreachable(name, f"system_info returned {info!r}")
    info.pop("success", None)
    return info


def upsert_node(db: Database, name: str, spec: str, sys_info: dict, enable_default: bool) -> dict:
    """Create or update node ``name``'s document; a user's ``enabled`` choice is kept."""
    for _ in range(5):
        try:
            doc = db.get(node_id(name))
        except CouchError as exc:
            if exc.status != 404:
                raise
            doc = {"_id": node_id(name), "type": "node", "enabled": enable_default, "created": documents.now()}
        doc.update({
            "type": "node", "name": name, "spec": spec, "fqdn": sys_info.get("fqdn") or name,
            "sys_info": sys_info, "status": "up", "last_seen": documents.now(), "updated": documents.now(),
        })
        doc.pop("down_reason", None)
        doc.pop("down_since", None)
        try:
            return db.save(doc)
        except Conflict:
            continue
    raise CouchError(f"node {name}: its document kept changing while being updated; try again")


@dataclass
class NodeUpdate:
    """What ``update_nodes`` did for one host."""

    host: str
    ok: bool
    message: str
    doc: dict | None = None


def update_nodes(db: Database, hosts: list[str], settings: Settings,
                 progress: Callable[[NodeUpdate], None] | None = None) -> list[NodeUpdate]:
    """Probe each host (in parallel) and upsert its node document.

    One host failing never stops the others; each result says what happened.
    """
    results: dict[str, NodeUpdate] = {}

    def one(host: str) -> None:
        try:
            spec = gateway_spec(host, settings)
            info = probe(host, settings)
            doc = upsert_node(db, host, spec, info, settings.node_enable_default)
            update = NodeUpdate(host, True, f"{info.get('fqdn', host)}: {plural(info.get('cpu_count'), 'cpu')}, "
                                f"{info.get('sys_platform')} {info.get('architecture')}, "
                                f"Python {info.get('version_info', '?').split('.final')[0]}", doc)
        except DirtError as exc:
            update = NodeUpdate(host, False, str(exc) if isinstance(exc, NodeUnreachable) else f"{host}: {exc}")
        results[host] = update
        if progress:
            progress(update)

    threads = [threading.Thread(target=one, args=(h,), daemon=True) for h in dict.fromkeys(hosts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[h] for h in dict.fromkeys(hosts)]
