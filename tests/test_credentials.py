"""One set of credential rules: dirt and egret log in alike (one contract, run against both clients).

Each test of :class:`TestCredentialRules` runs once with dirt's CouchDB layer
and once with egret's, and, where it talks to a server, on pouchdb-server with
an admin and on Apache CouchDB 3.5 (a members-only database used by an
ordinary account). The rule: the URL's user-info, then
DIRT_COUCHDB_USER/DIRT_COUCHDB_PASSWORD, then COUCHDB_USER/COUCHDB_PASSWORD,
then the netrc file; the same database-name check; the same masking; no
password in any output.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from servers import REPO, with_credentials

pytestmark = pytest.mark.both_servers

CREDENTIAL_VARIABLES = ("DIRT_COUCHDB_USER", "DIRT_COUCHDB_PASSWORD", "COUCHDB_USER", "COUCHDB_PASSWORD", "NETRC")


class DirtClient:
    """dirt's side of the contract: dirt.couch and the `dirt status` command."""

    name = "dirt"

    def credentials(self, url: str):
        from dirt.couch import split_credentials
        return split_credentials(url)[1]

    def info(self, server_url: str, db: str) -> dict:
        from dirt.couch import Database
        return Database.from_url(server_url, db).info()

    def name_refusal(self, name: str) -> str | None:
        from dirt.couch import Database
        from dirt.errors import CouchError
        try:
            Database.from_url("http://127.0.0.1:9", name)
        except CouchError as exc:
            return str(exc)
        return None

    def redact(self, text: str) -> str:
        from dirt.couch import redact
        return redact(text)

    @property
    def refused(self):
        from dirt.errors import Unauthorized
        return Unauthorized

    def run(self, server_url: str, db: str, cwd: Path) -> subprocess.CompletedProcess:
        """`dirt status` in a project whose settings point at ``server_url``/``db``."""
        project = cwd / "proj"
        project.mkdir(exist_ok=True)
        (project / "settings.py").write_text(f"couchdb_host = {server_url!r}\ncouchdb_dbname = {db!r}\n"
                                             "log_file = None\n")
        return subprocess.run([sys.executable, "-m", "dirt", "status"], cwd=project, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)


class EgretClient:
    """egret's side of the contract: egret.couch and the `egret pushdata` command."""

    name = "egret"

    def credentials(self, url: str):
        from egret.couch import Target
        return Target.parse(url.rstrip("/") + "/somedb").auth

    def info(self, server_url: str, db: str) -> dict:
        from egret.couch import Couch, Target
        with Couch(Target.parse(f"{server_url}/{db}")) as couch:
            return couch.request("GET", couch.db_url).json()

    def name_refusal(self, name: str) -> str | None:
        from egret.couch import Target
        from egret.errors import InvalidTarget
        try:
            Target.parse(f"http://127.0.0.1:9/{name}")
        except InvalidTarget as exc:
            return str(exc)
        return None

    def redact(self, text: str) -> str:
        from egret.couch import redact
        return redact(text)

    @property
    def refused(self):
        from egret.errors import NotAuthorized
        return NotAuthorized

    def run(self, server_url: str, db: str, cwd: Path) -> subprocess.CompletedProcess:
        """`egret pushdata URL/DB one-record.json`."""
        data = cwd / f"record-{uuid.uuid4().hex[:6]}.json"
        data.write_text('[{"type": "record", "description": "from egret", "created": 1}]')
        return subprocess.run([sys.executable, "-m", "egret", "pushdata", f"{server_url}/{db}", str(data)],
                              cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(params=[DirtClient(), EgretClient()], ids=lambda c: c.name)
def client(request):
    return request.param


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME without a netrc, and none of the credential variables set."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return home


def write_netrc(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def members_only(secure_couch):
    """A database only ``secure_couch.user`` may use (created by the server admin); its name."""
    name = "creds-" + uuid.uuid4().hex[:10]
    secure_couch.create_database(name)
    user = secure_couch.user[0]
    httpx.put(f"{secure_couch.url}/{name}/_security", auth=secure_couch.admin, timeout=30,
              json={"admins": {"names": [user], "roles": []}, "members": {"names": [user], "roles": []}}
              ).raise_for_status()
    yield name
    secure_couch.delete_database(name)


class TestCredentialRules:
    """The rule both clients follow; every test runs against dirt and against egret."""

    def test_sources_in_order(self, client, home, monkeypatch):
        url = "http://couch.example.org:5984"
        assert client.credentials(url) is None
        write_netrc(home / ".netrc", "machine other.example.org login x password y\n"
                                     "machine couch.example.org login netrc-user password netrc-pw\n")
        assert client.credentials(url) == ("netrc-user", "netrc-pw")
        monkeypatch.setenv("COUCHDB_USER", "plain-user")
        monkeypatch.setenv("COUCHDB_PASSWORD", "plain-pw")
        assert client.credentials(url) == ("plain-user", "plain-pw")
        monkeypatch.setenv("DIRT_COUCHDB_USER", "dirt-user")
        monkeypatch.setenv("DIRT_COUCHDB_PASSWORD", "dirt-pw")
        assert client.credentials(url) == ("dirt-user", "dirt-pw")
        assert client.credentials("http://url-user:p%40ss%3Aw@couch.example.org:5984") == ("url-user", "p@ss:w")
        # A user without a password variable: an empty password, not the next source.
        monkeypatch.delenv("DIRT_COUCHDB_PASSWORD")
        assert client.credentials(url) == ("dirt-user", "")
        # The netrc entry is per host; NETRC names another file.
        for name in CREDENTIAL_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        assert client.credentials("http://elsewhere.example.org:5984") is None
        monkeypatch.setenv("NETRC", str(write_netrc(home / "other-netrc",
                                                    "machine couch.example.org login n2 password p2\n")))
        assert client.credentials(url) == ("n2", "p2")

    def test_a_broken_netrc_is_ignored_without_quoting_it(self, client, home, caplog):
        write_netrc(home / ".netrc", "machine couch.example.org login me password hunter2 bogus\n")
        with caplog.at_level(logging.WARNING):
            assert client.credentials("http://couch.example.org:5984") is None
        assert "cannot be parsed" in caplog.text and "hunter2" not in caplog.text

    @pytest.mark.parametrize("name, valid", [
        ("builder", True), ("a1_$()+-/b", True), ("_users", True), ("_replicator", True), ("x" * 238, True),
        ("Builder", False), ("1abc", False), ("my db", False), ("_mine", False), ("x" * 239, False),
        ("dé", False)])
    def test_the_same_database_name_check(self, client, name, valid):
        refusal = client.name_refusal(name)
        if valid:
            assert refusal is None
        else:
            assert refusal and "not a valid CouchDB database name" in refusal
            assert "lowercase letter" in refusal

    @pytest.mark.parametrize("text, shown", [
        ("http://admin:s3cret@h:5984/db", "http://admin:***@h:5984/db"),
        ("https://u:p@ss@h/db/_all_docs", "https://u:***@h/db/_all_docs"),
        ("GET http://a:b@h:1/x: refused; see http://c:d@k:2", "GET http://a:***@h:1/x: refused; see http://c:***@k:2"),
        ("http://user@h:5984/db", "http://user@h:5984/db"),
        ("http://h:5984/db?x=a@b", "http://h:5984/db?x=a@b"),
    ])
    def test_the_same_masking(self, client, text, shown):
        assert client.redact(text) == shown

    def test_every_source_logs_in_to_a_server_with_an_admin(self, client, home, monkeypatch, secure_couch,
                                                           members_only):
        user, password = secure_couch.user
        plain = secure_couch.url
        with pytest.raises(client.refused) as refused:
            client.info(plain, members_only)
        assert "needs credentials" in str(refused.value) and "DIRT_COUCHDB_USER" in str(refused.value)

        assert client.info(with_credentials(plain, (user, password)), members_only)["db_name"] == members_only
        monkeypatch.setenv("COUCHDB_USER", user)
        monkeypatch.setenv("COUCHDB_PASSWORD", password)
        assert client.info(plain, members_only)["db_name"] == members_only
        monkeypatch.setenv("DIRT_COUCHDB_USER", user)
        monkeypatch.setenv("DIRT_COUCHDB_PASSWORD", "wrong-" + password)   # the first pair wins, even when wrong
        with pytest.raises(client.refused) as refused:
            client.info(plain, members_only)
        assert "check the user name and password" in str(refused.value) and password not in str(refused.value)
        for name in CREDENTIAL_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        write_netrc(home / ".netrc", f"machine 127.0.0.1 login {user} password {password}\n")
        assert client.info(plain, members_only)["db_name"] == members_only

    def test_no_password_in_any_output(self, client, home, tmp_path, secure_couch, members_only):
        user, password = secure_couch.user
        outputs = []
        for url in (with_credentials(secure_couch.url, (user, password)),
                    with_credentials(secure_couch.url, (user, "wrong-" + password))):
            done = client.run(url, members_only, tmp_path)
            outputs.append(done.stdout + done.stderr)
            if "wrong-" in url:
                assert done.returncode != 0 and "check the user name and password" in done.stderr
                assert f"127.0.0.1:{secure_couch.port}" in done.stderr
            else:
                assert done.returncode == 0, done.stderr
        write_netrc(home / ".netrc", f"machine 127.0.0.1 login {user} password {password}\n")
        done = client.run(secure_couch.url, members_only, tmp_path)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
        for output in outputs:
            assert password not in output, output


def test_egret_does_not_import_dirt():
    code = "import sys, egret.cli, egret.couch, egret.credentials; sys.exit('dirt' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": ""}).returncode == 0
