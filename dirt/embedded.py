"""The embedded database: a local pouchdb-server that dirt installs, starts and stops.

pouchdb-server (from npm) speaks the CouchDB HTTP API, so a project whose
``couchdb_host`` is ``http://localhost:5984`` works on it unchanged; production
points ``couchdb_host`` at Apache CouchDB 3 instead and never needs this module.

Everything lives in one per-user directory, ``dirt_home()``
(``$XDG_DATA_HOME/dirt``, by default ``~/.local/share/dirt``):

* ``pouchdb/``: the databases (``--dir`` overrides it), with the server's log;
* ``npm/``: pouchdb-server, installed there by npm when dirt does not run from
  a checkout that has it in ``node_modules/`` already;
* ``server.json``: the pid, port and data directory of the server we started
  (the pid cleared once stopped), so ``stop`` and ``status`` find it from any
  shell.

The server runs detached (its own session): it outlives the command that
started it until ``stop_server``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import DirtError

DEFAULT_PORT = 5984
POUCHDB_SERVER_VERSION = "4.2.0"
NODE_MISSING = "install Node.js 20 and npm: apt-get install nodejs npm"
# Without the first flag a _changes filter naming a missing function kills the
# whole server; without the second V8 grows to gigabytes.
NODE_FLAGS = ("--unhandled-rejections=warn", "--max-old-space-size=384")
_CHECKOUT = Path(__file__).resolve().parent.parent


class EmbeddedError(DirtError):
    """The embedded database could not be installed, started or stopped."""


@dataclass
class ServerStatus:
    """Where the embedded database is and whether it runs.

    ``external`` means a CouchDB-API server that dirt did not start answers on
    the port (an Apache CouchDB, or a server started by hand); ``pid`` is then
    None and dirt will not stop it.
    """

    url: str
    data_dir: Path
    pid: int | None
    running: bool
    external: bool = False


def dirt_home() -> Path:
    """The per-user directory holding the embedded database and its state."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dirt"


def find_pouchdb_server(home: Path | None = None, install: bool = True) -> Path:
    """The pouchdb-server script: the checkout's, the one in ``home``, or a fresh npm install.

    Raises EmbeddedError naming what to install when node or npm is missing.
    """
    home = home or dirt_home()
    if not shutil.which("node"):
        raise EmbeddedError(f"Node.js is not installed (no `node` on PATH): {NODE_MISSING}")
    for candidate in (_CHECKOUT / "node_modules" / ".bin" / "pouchdb-server",
                      home / "npm" / "node_modules" / ".bin" / "pouchdb-server"):
        if candidate.exists():
            return candidate
    if not install:
        raise EmbeddedError(f"pouchdb-server is not installed in {home / 'npm'}")
    npm = shutil.which("npm")
    if not npm:
        raise EmbeddedError(f"npm is not installed (no `npm` on PATH): {NODE_MISSING}")
    prefix = home / "npm"
    prefix.mkdir(parents=True, exist_ok=True)
    # --ignore-scripts: the sqlite3 build its scripts would run is not needed (LevelDB is).
    done = subprocess.run(
        [npm, "install", "--prefix", str(prefix), f"pouchdb-server@{POUCHDB_SERVER_VERSION}",
         "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        capture_output=True, text=True, timeout=600)
    binary = prefix / "node_modules" / ".bin" / "pouchdb-server"
    if done.returncode != 0 or not binary.exists():
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise EmbeddedError(f"npm could not install pouchdb-server into {prefix}: {' / '.join(detail)}")
    return binary


def probe(port: int, timeout: float = 3.0) -> str:
    """What listens on 127.0.0.1:``port``: ``"free"``, ``"couchdb"`` or ``"other"``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            pass
    except OSError:
        return "free"
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/", timeout=timeout)
        body = resp.json()
    except (httpx.HTTPError, ValueError):
        return "other"
    if isinstance(body, dict) and ("couchdb" in body or "express-pouchdb" in body
                                   or (resp.status_code == 401 and "error" in body)):
        return "couchdb"
    return "other"


def status(home: Path | None = None, port: int = DEFAULT_PORT) -> ServerStatus:
    """The embedded database as the state file and the process table see it.

    With no server of ours running, this describes the default one on ``port``
    (``external`` if some other CouchDB answers there).
    """
    home = home or dirt_home()
    state = _read_state(home)
    if state and state["pid"] is not None and _is_pouchdb_server(state["pid"]):
        return ServerStatus(_url(state["port"]), Path(state["data_dir"]), state["pid"], True)
    if state:
        port = state["port"]
    data_dir = Path(state["data_dir"]) if state else home / "pouchdb"
    external = probe(port) == "couchdb"
    return ServerStatus(_url(port), data_dir, None, external, external=external)


def start_server(port: int = DEFAULT_PORT, data_dir: Path | None = None, home: Path | None = None,
                 timeout: float = 30.0) -> ServerStatus:
    """Start pouchdb-server on 127.0.0.1:``port`` (data in ``data_dir``), unless it runs.

    Idempotent: our server already running on that port, or any CouchDB
    answering there, is returned as it is. Raises EmbeddedError when node or
    npm is missing, when the port is taken by something that is not a
    CouchDB, or when the server does not answer within ``timeout`` seconds.
    """
    home = home or dirt_home()
    wanted_dir = Path(data_dir).resolve() if data_dir else None
    data_dir = wanted_dir or home / "pouchdb"
    current = status(home, port)
    if current.pid is not None:
        if current.url != _url(port) or (wanted_dir and wanted_dir != current.data_dir):
            raise EmbeddedError(f"the embedded database already runs at {current.url} (pid {current.pid}, "
                                f"data in {current.data_dir}); "
                                "stop it first with `dirt db stop`")
        return current
    found = probe(port)
    if found == "couchdb":
        return ServerStatus(_url(port), data_dir, None, True, external=True)
    if found == "other":
        raise EmbeddedError(f"port {port} on 127.0.0.1 is taken by something that is not a CouchDB server; "
                            "stop it or choose another port (dirt db start --port N)")
    binary = find_pouchdb_server(home)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    with open(log_path, "ab") as log:
        # cwd = data_dir: pouchdb-server writes config.json and log.txt into its cwd.
        proc = subprocess.Popen(
            [shutil.which("node") or "node", *NODE_FLAGS, str(binary),
             "--host", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)],
            cwd=data_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    _write_state(home, {"pid": proc.pid, "port": port, "data_dir": str(data_dir)})
    deadline = time.monotonic() + timeout
    while probe(port, timeout=1.0) != "couchdb":
        if proc.poll() is not None or time.monotonic() > deadline:
            _terminate(proc.pid)
            _write_state(home, {"pid": None, "port": port, "data_dir": str(data_dir)})
            tail = " / ".join(log_path.read_text(errors="replace").strip().splitlines()[-3:])
            raise EmbeddedError(f"pouchdb-server did not start on port {port} (see {log_path}): {tail}")
        time.sleep(0.1)
    return ServerStatus(_url(port), data_dir, proc.pid, True)


def stop_server(home: Path | None = None, timeout: float = 10.0, port: int | None = None) -> ServerStatus | None:
    """Stop the server ``start_server`` started; None if none of ours was running.

    With ``port``, only a server of ours on that port is stopped: one running
    on another port is an EmbeddedError saying where it runs, and a CouchDB
    that dirt did not start is never stopped.
    """
    home = home or dirt_home()
    state = _read_state(home)
    running = bool(state and state["pid"] is not None and _is_pouchdb_server(state["pid"]))
    if port is not None and running and state["port"] != port:
        raise EmbeddedError(f"the embedded database runs on port {state['port']}, not {port} "
                            f"(pid {state['pid']}): stop it with `dirt db stop --port {state['port']}`")
    if port is not None and not running and probe(port) == "couchdb":
        raise EmbeddedError(f"the CouchDB at {_url(port)} was not started by `dirt db start`: "
                            "dirt stops only the embedded database it started")
    if not state or state["pid"] is None:
        return None
    # Keep port and data directory, so status still says where it was.
    _write_state(home, {**state, "pid": None})
    if not _is_pouchdb_server(state["pid"]):
        return None
    _terminate(state["pid"], timeout)
    return ServerStatus(_url(state["port"]), Path(state["data_dir"]), state["pid"], False)


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _state_path(home: Path) -> Path:
    return home / "server.json"


def _read_state(home: Path) -> dict | None:
    try:
        state = json.loads(_state_path(home).read_text())
        pid = None if state["pid"] is None else int(state["pid"])
        return {"pid": pid, "port": int(state["port"]), "data_dir": str(state["data_dir"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(home: Path, state: dict) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = _state_path(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(_state_path(home))


def _is_pouchdb_server(pid: int | None) -> bool:
    """Is ``pid`` alive and a pouchdb-server (not a process that reused the pid)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return b"pouchdb-server" in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z"


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:  # reap it if it is our child; otherwise watch /proc
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not _is_pouchdb_server(pid):
                    return
            time.sleep(0.05)
