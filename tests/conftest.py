"""Session-wide real servers and per-test databases.

The CouchDB-facing tests (the modules and tests marked ``both_servers``) run
twice, as huey runs one contract test class per storage backend: once on
pouchdb-server and once on Apache CouchDB 3.5 (``backend`` is ``pouchdb`` or
``couchdb3``). Every other test runs on pouchdb-server only. Each server
starts once per test run; each test gets a fresh database.

* ``couch``: the backend's server. pouchdb-server has no admin (anyone is
  admin); CouchDB 3 has a server admin, and each test database is
  members-only, used as ``couch.user`` (its admin and only member).
* ``secure_couch``: a server with a server admin, so anonymous requests are
  refused: a second pouchdb-server with an admin configured, or CouchDB 3.
* ``db_name`` / ``db_url``: a fresh, empty database on ``couch`` for each
  test; ``db_url`` carries ``couch.user``'s credentials (none on pouchdb),
  ``shown_db_url`` is the same URL without them (as the tools print it).
* ``couch_cluster``: a 3-node Apache CouchDB 3.5 cluster (tests marked
  ``couchdb3``).
* ``ssh_hosts``: one real sshd on loopback with aliases node1..node3 in a
  temporary ssh config; ``HOME`` is not touched.

Where Apache CouchDB 3 is not there (no ``../shared/couchdb``), its half is
deselected and one line at the end of the run says why. ``--backend
pouchdb`` (or ``couchdb3``) runs one half only.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from servers import CouchDB3, PouchServer, SshHost

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
BACKENDS = ("pouchdb", "couchdb3")


def pytest_addoption(parser):
    parser.addoption("--backend", action="append", choices=BACKENDS, default=None,
                     help="run the CouchDB-facing tests on this server only (repeatable; default: both)")
    parser.addoption("--fuzz-docs", type=int, default=300,
                     help="random task documents in each fuzz run of dirt serve (tests/test_fuzz_serve.py)")
    parser.addoption("--fuzz-seeds", default="1,2",
                     help="comma-separated seeds for the fuzz runs (fixed, so CI is deterministic)")


def pytest_configure(config):
    config.addinivalue_line("markers", "both_servers: run against pouchdb-server and against Apache CouchDB 3.5")
    config.addinivalue_line("markers", "pouchdb_only: pouchdb-server only, even in a both_servers module")
    config.addinivalue_line("markers", "couchdb3: needs Apache CouchDB 3.5 (../shared/couchdb)")


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    node = metafunc.definition
    if node.get_closest_marker("both_servers") and not node.get_closest_marker("pouchdb_only"):
        # Session scope: the tests are grouped by server, so each starts once.
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="session")


def _needs_couchdb3(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (callspec is not None and callspec.params.get("backend") == "couchdb3") or \
        item.get_closest_marker("couchdb3") is not None


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("backend") or BACKENDS
    missing = CouchDB3.missing()
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        server = callspec.params.get("backend") if callspec else None
        if (server and server not in wanted) or ("couchdb3" not in wanted and item.get_closest_marker("couchdb3")):
            dropped.append(item)
        elif missing and _needs_couchdb3(item):
            dropped.append(item)
            config._dirt_couchdb3_skipped = getattr(config, "_dirt_couchdb3_skipped", 0) + 1
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    config._dirt_couchdb3_missing = missing


def pytest_terminal_summary(terminalreporter, config):
    skipped = getattr(config, "_dirt_couchdb3_skipped", 0)
    if skipped:
        terminalreporter.write_line(f"Apache CouchDB 3 half not run ({skipped} tests deselected): "
                                    f"{config._dirt_couchdb3_missing}")


@pytest.fixture(scope="session")
def backend(request) -> str:
    """Which server the CouchDB-facing fixtures use: ``pouchdb`` (default) or ``couchdb3``."""
    return getattr(request, "param", "pouchdb")


@pytest.fixture(scope="session")
def pouchdb(tmp_path_factory):
    server = PouchServer(tmp_path_factory.mktemp("pouchdb")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pouchdb_secure(tmp_path_factory):
    server = PouchServer(tmp_path_factory.mktemp("pouchdb-secure"), admin=("admin", "s3cret-pw")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def couchdb3(tmp_path_factory):
    """One Apache CouchDB 3.5 for the whole run."""
    server = CouchDB3(tmp_path_factory.mktemp("couchdb3")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def couch_cluster(tmp_path_factory):
    """A 3-node Apache CouchDB 3.5 cluster (n=3 by default), for the whole run."""
    server = CouchDB3(tmp_path_factory.mktemp("couchdb3-cluster"), nodes=3).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def couch(backend, request):
    """The backend's server (see the module docstring)."""
    return request.getfixturevalue("couchdb3" if backend == "couchdb3" else "pouchdb")


@pytest.fixture(scope="session")
def secure_couch(backend, request):
    """A server that refuses anonymous requests: pouchdb-server with an admin, or CouchDB 3."""
    return request.getfixturevalue("couchdb3" if backend == "couchdb3" else "pouchdb_secure")


@pytest.fixture
def db_name(couch):
    name = "test-" + uuid.uuid4().hex[:12]
    couch.create_database(name)
    yield name
    couch.delete_database(name)


@pytest.fixture
def db_url(couch, db_name):
    """URL of a fresh empty database on ``couch``, with ``couch.user``'s credentials in it (if any)."""
    return f"{couch.user_url}/{db_name}"


@pytest.fixture
def shown_db_url(couch, db_name):
    """The same database's URL as dirt and egret show it: without credentials."""
    return f"{couch.url}/{db_name}"


@pytest.fixture(scope="session")
def ssh_hosts(tmp_path_factory):
    host = SshHost(tmp_path_factory.mktemp("sshd"), ["node1", "node2", "node3"]).start()
    yield host
    host.kill()


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- dirt projects -------------------------------------------------------------------------

from dirt.create import create_project  # noqa: E402
from dirt_run import ProjectHelper  # noqa: E402


@pytest.fixture
def project(tmp_path, couch, db_name):
    root = create_project(tmp_path / "proj", db_name)
    helper = ProjectHelper(root, couch.url, db_name, couch.user)
    helper.set(couchdb_host=helper.auth_url, couchdb_dbname=db_name, log_file=None,
               lease_seconds=5, node_retry_interval=1, ssh_keepalive=1)
    helper.db.save({"_id": "r1", "type": "record", "description": "test record", "created": 1})
    return helper


@pytest.fixture
def ssh_env(ssh_hosts, monkeypatch):
    """Make ssh node names (node1..node3) resolve through the test sshd."""
    monkeypatch.setenv("DIRT_SSH_CONFIG", str(ssh_hosts.ssh_config))
    return ssh_hosts
