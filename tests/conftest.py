"""Session-wide real servers and per-test databases.

* ``couch``: one pouchdb-server for the whole session (anyone is admin).
* ``secure_couch``: a second pouchdb-server with a server admin configured, so
  anonymous requests are refused, as on Apache CouchDB 3.
* ``db_url``: a fresh, empty database on ``couch`` for each test.
* ``ssh_hosts``: one real sshd on loopback with aliases node1..node3 in a
  temporary ssh config; ``HOME`` is not touched.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from servers import PouchServer, SshHost

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def couch(tmp_path_factory):
    server = PouchServer(tmp_path_factory.mktemp("pouchdb")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def secure_couch(tmp_path_factory):
    server = PouchServer(tmp_path_factory.mktemp("pouchdb-secure"), admin=("admin", "s3cret-pw")).start()
    yield server
    server.stop()


def _fresh_db(server: PouchServer) -> str:
    name = "test-" + uuid.uuid4().hex[:12]
    auth = server.admin
    httpx.put(f"{server.url}/{name}", auth=auth, timeout=30).raise_for_status()
    return name


@pytest.fixture
def db_name(couch):
    name = _fresh_db(couch)
    yield name
    httpx.delete(f"{couch.url}/{name}", timeout=30)


@pytest.fixture
def db_url(couch, db_name):
    """URL of a fresh empty database on the shared pouchdb-server."""
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
    helper = ProjectHelper(root, couch.url, db_name)
    helper.set(couchdb_host=couch.url, couchdb_dbname=db_name, log_file=None,
               lease_seconds=5, node_retry_interval=1, ssh_keepalive=1)
    helper.db.save({"_id": "r1", "type": "record", "description": "test record", "created": 1})
    return helper


@pytest.fixture
def ssh_env(ssh_hosts, monkeypatch):
    """Make ssh node names (node1..node3) resolve through the test sshd."""
    monkeypatch.setenv("DIRT_SSH_CONFIG", str(ssh_hosts.ssh_config))
    return ssh_hosts
