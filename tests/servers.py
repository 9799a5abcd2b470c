"""Real servers for the test suite: pouchdb-server (CouchDB HTTP API) and sshd.

Each class starts a real process on a free loopback port and stops it again.
They are plain classes so that fixtures, benchmarks and fault tests (which kill
and restart servers mid-run) can all drive them.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class PouchServer:
    """A pouchdb-server process with its data in ``data_dir``.

    ``admin`` (a (name, password) pair) configures a server admin right after
    start, which ends pouchdb-server's "admin party" the way Apache CouchDB 3
    always is: every request must then authenticate.
    """

    def __init__(self, data_dir: Path, port: int | None = None, admin: tuple[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.admin = admin
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL without credentials."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        """Base URL with the admin's credentials in it (or the plain URL)."""
        if self.admin:
            return f"http://{self.admin[0]}:{self.admin[1]}@127.0.0.1:{self.port}"
        return self.url

    def start(self) -> "PouchServer":
        binary = REPO / "node_modules" / ".bin" / "pouchdb-server"
        if not binary.exists():
            raise RuntimeError("pouchdb-server is not installed: run `npm ci --ignore-scripts` in the repository")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            ["node", "--unhandled-rejections=warn", "--max-old-space-size=384", str(binary),
             "--port", str(self.port), "--host", "127.0.0.1", "--dir", str(self.data_dir)],
            cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_for_port(self.port)
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(self.url + "/", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if self.admin:
            name, password = self.admin
            resp = httpx.put(f"{self.url}/_config/admins/{name}", json=password, timeout=10)
            if resp.status_code == 401:  # admin already configured by an earlier start
                pass
            else:
                resp.raise_for_status()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        """Kill the server and start it again on the same port and data."""
        self.stop(signal.SIGKILL)
        time.sleep(down_for)
        self.start()


class SshHost:
    """A real OpenSSH server on a loopback port, reachable as the current user.

    ``ssh_config`` is a client config file holding one ``Host`` alias per
    entry of ``aliases``, all pointing at this sshd, with a generated key and
    keepalives (so a dead link raises instead of hanging).
    """

    def __init__(self, workdir: Path, aliases: list[str], port: int | None = None):
        self.workdir = Path(workdir)
        self.aliases = aliases
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_key = self.workdir / "host_ed25519"
        self.client_key = self.workdir / "client_ed25519"
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        shutil.copy(f"{self.client_key}.pub", self.workdir / "authorized_keys")
        os.chmod(self.workdir / "authorized_keys", 0o600)
        self.sshd_config = self.workdir / "sshd_config"
        self.sshd_config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.workdir}/authorized_keys\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "PermitRootLogin prohibit-password\nPidFile none\nLogLevel ERROR\n"
            "MaxStartups 100\nMaxSessions 100\n"
        )
        self.ssh_config = self.workdir / "ssh_config"
        self.ssh_config.write_text("".join(self.config_block(alias) for alias in aliases))

    def config_block(self, alias: str) -> str:
        return (
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {os.environ.get('USER') or 'root'}\n"
            f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n"
        )

    def start(self) -> "SshHost":
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(self.sshd_config)],
            stdout=open(self.workdir / "sshd.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """Kill sshd and every session it serves, as if the machine died."""
        if self.proc and self.proc.poll() is None:
            # sshd forks a process per connection, and that one the user's
            # command; kill the whole tree so the TCP connections drop.
            for pid in [*descendants(self.proc.pid), self.proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)
        self.proc = None

    stop = kill
