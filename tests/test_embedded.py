"""The embedded database (dirt/embedded.py and `dirt db`), against a real pouchdb-server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest

from dirt.embedded import EmbeddedError, probe, start_server, status, stop_server
from servers import REPO, free_port


@pytest.fixture
def home(tmp_path):
    """A per-test dirt home; the server started in it is stopped afterwards."""
    home = tmp_path / "home"
    yield home
    stop_server(home)


def run_dirt(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dirt", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_start_status_restart_keeps_documents_stop(home, tmp_path):
    port = free_port()
    data = tmp_path / "data"
    assert status(home, port).running is False

    server = start_server(port, data, home=home)
    assert server.running and server.pid and not server.external
    assert server.url == f"http://127.0.0.1:{port}"
    assert status(home) == server
    assert start_server(port, data, home=home) == server  # already running: same server

    httpx.put(f"{server.url}/keep", timeout=10).raise_for_status()
    httpx.put(f"{server.url}/keep/doc1", json={"kept": True}, timeout=10).raise_for_status()

    stopped = stop_server(home)
    assert stopped is not None and stopped.pid == server.pid and not stopped.running
    assert probe(port) == "free"
    assert status(home, port).running is False
    assert stop_server(home) is None

    again = start_server(port, data, home=home)
    assert again.pid != server.pid
    assert httpx.get(f"{again.url}/keep/doc1", timeout=10).json()["kept"] is True
    assert (data / "server.log").exists() and (data / "config.json").exists()


def test_second_start_elsewhere_is_refused(home, tmp_path):
    port = free_port()
    start_server(port, tmp_path / "data", home=home)
    with pytest.raises(EmbeddedError, match="already runs at .*dirt db stop"):
        start_server(free_port(), tmp_path / "data", home=home)
    with pytest.raises(EmbeddedError, match="already runs"):
        start_server(port, tmp_path / "other", home=home)


def test_a_couchdb_already_there_is_used_not_started(couch, home):
    server = start_server(couch.port, home=home)
    assert server.external and server.running and server.pid is None
    assert stop_server(home) is None
    assert httpx.get(couch.url + "/", timeout=10).status_code == 200


def test_port_taken_by_something_else(home):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert probe(port, timeout=0.5) == "other"
        with pytest.raises(EmbeddedError, match=f"port {port} .* not a CouchDB"):
            start_server(port, home=home)
    assert not (home / "server.json").exists()


def test_missing_node_says_what_to_install(home, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EmbeddedError, match="install Node.js 20 and npm: apt-get install nodejs npm"):
        start_server(free_port(), home=home)


def test_cli_db_commands(tmp_path):
    port = str(free_port())
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    try:
        started = run_dirt("db", "start", "--port", port, "--dir", str(tmp_path / "data"), env=env)
        assert started.returncode == 0, started.stderr
        assert f"embedded database running at http://127.0.0.1:{port}" in started.stdout
        assert str(tmp_path / "data") in started.stdout
        shown = run_dirt("db", "status", env=env)
        assert shown.stdout == started.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        other = str(free_port())
        wrong = run_dirt("db", "stop", "--port", other, env=env)
        assert wrong.returncode == 1 and f"runs on port {port}, not {other}" in wrong.stderr
        assert f"dirt db stop --port {port}" in wrong.stderr
        assert run_dirt("db", "status", env=env).stdout == started.stdout     # still running
    finally:
        stopped = run_dirt("db", "stop", "--port", port, env=env)
    assert stopped.returncode == 0 and "stopped the embedded database" in stopped.stdout, stopped.stderr
    assert "not running" in run_dirt("db", "status", "--port", port, env=env).stdout
    assert "was not running on port" in run_dirt("db", "stop", "--port", port, env=env).stdout


def test_db_stop_never_stops_a_couchdb_it_did_not_start(couch, tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    done = run_dirt("db", "stop", "--port", str(couch.port), env=env)
    assert done.returncode == 1 and "was not started by `dirt db start`" in done.stderr
    assert httpx.get(couch.url + "/", timeout=10).status_code == 200


def test_cli_without_node_exits_with_the_install_hint(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "PATH": str(tmp_path / "empty-bin")}
    result = run_dirt("db", "start", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert "error: Node.js is not installed" in result.stderr
    assert "apt-get install nodejs npm" in result.stderr


def test_serve_embedded_starts_the_database(tmp_path):
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "DIRT_COUCHDB_HOST": f"http://localhost:{port}"}
    created = run_dirt("create", str(tmp_path / "proj"), env=env)
    assert created.returncode == 0, created.stderr
    try:
        served = run_dirt("serve", "--embedded", "--until-idle", "--project", str(tmp_path / "proj"), env=env)
        assert served.returncode == 0, served.stderr
        assert f"embedded database running at http://127.0.0.1:{port}" in served.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/proj", timeout=10).status_code == 200
    finally:
        run_dirt("db", "stop", env=env)


def test_serve_embedded_refuses_a_remote_host(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "DIRT_COUCHDB_HOST": "http://couch.example.com:5984"}
    run_dirt("create", str(tmp_path / "proj"), env=env)
    served = run_dirt("serve", "--embedded", "--project", str(tmp_path / "proj"), env=env)
    assert served.returncode == 2
    assert "--embedded needs couchdb_host on http://localhost" in served.stderr
