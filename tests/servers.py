"""Real servers for the test suite: pouchdb-server, Apache CouchDB 3.5 and sshd.

Each class starts a real process on a free loopback port and stops it again.
They are plain classes so that fixtures, benchmarks and fault tests (which kill
and restart servers mid-run) can all drive them.

The two CouchDB-API servers (:class:`PouchServer`, :class:`CouchDB3`) share
one interface, so a test written against one runs against the other:
``url`` (no credentials), ``admin`` and ``auth_url`` (the server admin, if
there is one), ``user`` and ``user_url`` (the account a test's database is
used with: on CouchDB 3 a database admin and member who is not a server
admin), ``create_database`` and ``delete_database``.
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parent.parent
# Apache CouchDB 3.5 for tests: ../shared/couchdb beside the checkout (see its README),
# or the folder named by DIRT_TEST_COUCHDB.
COUCHDB_DIR = Path(os.environ.get("DIRT_TEST_COUCHDB") or REPO.parent / "shared" / "couchdb")


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


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` and it can be bound."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def with_credentials(url: str, credentials: tuple[str, str] | None) -> str:
    """``url`` with ``user:password@`` in it (``url`` itself when ``credentials`` is None)."""
    if not credentials:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(credentials[0], safe='')}:{quote(credentials[1], safe='')}@{rest}"


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

    kind = "pouchdb"

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
        return with_credentials(self.url, self.admin)

    @property
    def user(self) -> tuple[str, str] | None:
        """Who a test's database is used as: the admin, if any (pouchdb-server has no other accounts)."""
        return self.admin

    @property
    def user_url(self) -> str:
        return with_credentials(self.url, self.user)

    def create_database(self, name: str) -> None:
        httpx.put(f"{self.url}/{name}", auth=self.admin, timeout=30).raise_for_status()

    def delete_database(self, name: str) -> None:
        httpx.delete(f"{self.url}/{name}", auth=self.admin, timeout=30)

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


class CouchDB3:
    """A private Apache CouchDB 3.5 (one node, or a local cluster of ``nodes``), data under ``workdir``.

    Started with ``couchdb-server`` from :data:`COUCHDB_DIR`, on a free block
    of ports (HTTP ``port``..``port+nodes-1``, its epmd at ``port+10000`` and
    Erlang distribution at ``port+20000``...), with a server admin whose
    password is made up per run. :meth:`start` also creates ``user``, an
    ordinary account (no server admin) that :meth:`create_database` makes
    admin and the only member of each database, as a real deployment would.
    ``ini`` text is passed to CouchDB as an extra ini file.
    """

    kind = "couchdb3"

    def __init__(self, workdir: Path, nodes: int = 1, ini: str = ""):
        self.workdir = Path(workdir)
        self.nodes = nodes
        self.ini = ini
        self.port = 0
        self.admin = ("admin", "adm-" + secrets.token_hex(8))
        self.user = ("tester", "usr-" + secrets.token_hex(8))

    @staticmethod
    def missing() -> str | None:
        """Why Apache CouchDB 3 cannot run here, or None when it can."""
        script = COUCHDB_DIR / "couchdb-server"
        if not script.is_file():
            return f"no Apache CouchDB 3 for tests: {script} does not exist (see ../shared/couchdb/README.md)"
        if not list(COUCHDB_DIR.glob("apache-couchdb-*.tar.gz")):
            return f"no Apache CouchDB 3 for tests: no release tarball in {COUCHDB_DIR}"
        return None

    @property
    def url(self) -> str:
        return self.node_url(1)

    def node_url(self, node: int) -> str:
        """Base URL of cluster node ``node`` (1-based), without credentials."""
        return f"http://127.0.0.1:{self.port + node - 1}"

    @property
    def auth_url(self) -> str:
        return with_credentials(self.url, self.admin)

    @property
    def user_url(self) -> str:
        return with_credentials(self.url, self.user)

    def _ports(self, port: int) -> list[int]:
        return [p for i in range(self.nodes) for p in (port + i, port + 20000 + i)] + [port + 10000]

    def _pick_port(self) -> int:
        for _ in range(200):
            port = random.randrange(21000, 45000 - self.nodes)
            if all(port_free(p) for p in self._ports(port)):
                return port
        raise RuntimeError("no free block of ports for Apache CouchDB")

    def _script(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(COUCHDB_DIR / "couchdb-server"), *args, "--dir", str(self.workdir / "couch")],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self) -> "CouchDB3":
        """Start (or restart, on the same ports and data) and wait until every node answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        extra = []
        if self.ini:
            (self.workdir / "extra.ini").write_text(self.ini)
            extra = ["--ini", str(self.workdir / "extra.ini")]
        for attempt in range(3):
            port = self.port or self._pick_port()
            done = self._script("start", "--port", str(port), "--admin", f"{self.admin[0]}:{self.admin[1]}",
                                "--nodes", str(self.nodes), *extra)
            if done.returncode == 0:
                self.port = port
                break
            if self.port or "in use" not in done.stderr:   # another session took the ports: try others
                raise RuntimeError(f"couchdb-server start failed:\n{done.stderr[-3000:]}")
        else:
            raise RuntimeError(f"couchdb-server start failed:\n{done.stderr[-3000:]}")
        user_doc = f"{self.url}/_users/org.couchdb.user:{self.user[0]}"
        if httpx.get(user_doc, auth=self.admin, timeout=30).status_code == 404:
            httpx.put(user_doc, auth=self.admin, timeout=30, json={
                "name": self.user[0], "password": self.user[1], "roles": [], "type": "user"}).raise_for_status()
        return self

    def stop(self) -> None:
        if self.port:
            self._script("stop", timeout=120)

    def restart(self, down_for: float = 0.0) -> None:
        """Kill every node (SIGKILL, as a crash would) and start them again on the same ports and data."""
        for node in range(1, self.nodes + 1):
            pid_file = self.workdir / "couch" / (f"n{node}" if self.nodes > 1 else "") / "couchdb.pid"
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(down_for)
        self.start()

    def create_database(self, name: str, **query: str) -> None:
        """Create ``name`` (``q``/``n`` for a cluster) with ``user`` as its only admin and member."""
        httpx.put(f"{self.url}/{name}", params=query, auth=self.admin, timeout=30).raise_for_status()
        security = {"admins": {"names": [self.user[0]], "roles": []},
                    "members": {"names": [self.user[0]], "roles": []}}
        httpx.put(f"{self.url}/{name}/_security", json=security, auth=self.admin, timeout=30).raise_for_status()

    def delete_database(self, name: str) -> None:
        httpx.delete(f"{self.url}/{name}", auth=self.admin, timeout=30)

    def config(self, section: str, key: str, value: str | None) -> str | None:
        """Set (or with None delete) a server setting on every node; the old value (None: it was unset)."""
        old = None
        for node in range(1, self.nodes + 1):
            url = f"{self.node_url(node)}/_node/_local/_config/{section}/{key}"
            if value is None:
                resp = httpx.delete(url, auth=self.admin, timeout=30)
            else:
                resp = httpx.put(url, json=value, auth=self.admin, timeout=30)
            if resp.status_code != 404:
                resp.raise_for_status()
                old = resp.json() if resp.content else None
        return old or None


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
