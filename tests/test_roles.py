"""Who may do what, enforced by CouchDB itself: a database set up by `dirt setup`, used with
curl-like requests and with dirt's commands by a reader, a submitter, an operator and the
account dirt serve runs as, on pouchdb-server with an admin and on Apache CouchDB 3.5."""
from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from dirt.couch import Database
from dirt.create import create_project
from dirt.setup import ROLES, setup
from dirt_run import ProjectHelper, add_nodes, dirt_env, run_dirt, serve_until_idle
from jsrun import NODE, run_node

pytestmark = pytest.mark.both_servers


class Accounts:
    """Users made for one test, each with a password and the roles of one duty."""

    def __init__(self, couch):
        self.couch = couch
        self.tag = uuid.uuid4().hex[:6]
        self.logins: dict[str, tuple[str, str]] = {}

    def make(self, who: str, roles: list[str]) -> tuple[str, str]:
        name, password = f"{who}-{self.tag}", "pw-" + uuid.uuid4().hex[:8]
        httpx.put(f"{self.couch.url}/_users/org.couchdb.user:{name}", auth=self.couch.admin, timeout=30,
                  json={"name": name, "password": password, "roles": roles, "type": "user"}).raise_for_status()
        self.logins[who] = (name, password)
        return name, password


@pytest.fixture
def roles_db(secure_couch, tmp_path):
    """A members-only database set up by `dirt setup` as the server admin, and one account per duty."""
    name = "roles-" + uuid.uuid4().hex[:10]
    root = create_project(tmp_path / "proj", name)
    admin_db = Database.from_url(secure_couch.auth_url, name)
    lines = setup(admin_db, root / "web", secure_couch.admin, members_only=True)
    accounts = Accounts(secure_couch)
    for who, duty in (("rita", "reader"), ("sam", "submitter"), ("olga", "operator"), ("dirt", "server")):
        accounts.make(who, [ROLES[duty]])
    accounts.make("nobody", [])
    yield f"{secure_couch.url}/{name}", accounts, root, lines
    httpx.delete(f"{secure_couch.url}/{name}", auth=secure_couch.admin, timeout=30)


def as_user(accounts, who):
    return accounts.logins[who] if who else None


def test_setup_says_what_it_did_and_the_role_names_agree_with_the_app(roles_db):
    _, _, _, lines = roles_db
    assert lines[0].startswith("created database ")
    assert "members-only; members are the roles" in lines[1] and "operators, dirt-server" in lines[1]
    assert any(line.startswith("pushed the web app: ") for line in lines)
    if NODE is not None:
        js = Path(__file__).resolve().parent.parent / "web" / "lib" / "roles.js"
        assert run_node(js.read_text() + "\nout(DIRT_ROLES);", None) == ROLES


def test_every_role_s_allowed_and_refused_writes(roles_db, secure_couch):
    url, accounts, _, _ = roles_db
    task = {"_id": "t1", "type": "task", "record_id": "r1", "name": "examples.simple", "created": 1.0}

    def write(who, doc):
        return httpx.put(f"{url}/{doc['_id']}", json=doc, auth=as_user(accounts, who), timeout=30)

    def read(who, doc_id):
        return httpx.get(f"{url}/{doc_id}", auth=as_user(accounts, who), timeout=30)

    # nobody signed in: a members-only database is closed
    assert read(None, "t1").status_code == 401
    # a reader reads, and changes nothing
    refused = write("rita", {**task})
    assert refused.status_code == 403
    assert 'adding a task needs the role "submitters"' in refused.json()["reason"]
    # a submitter adds a record and a task, but no outcome
    assert write("sam", {"_id": "r1", "type": "record", "description": "rev 1", "created": 1.0}).status_code == 201
    forged_new = write("sam", {**task, "_id": "t0", "state": "passed", "results": {"success": True}})
    assert forged_new.status_code == 403 and 'needs the role "dirt-server"' in forged_new.json()["reason"]
    stored = write("sam", task)
    assert stored.status_code == 201, stored.text
    current = read("rita", "t1").json()
    # the reader forges a passed result: refused, saying which role it takes
    forged = write("rita", {**current, "state": "passed", "results": {"success": True}, "completed": 2.0})
    assert forged.status_code == 403
    assert forged.json()["reason"] == (
        f'task t1: writing state, completed, results (what dirt serve writes: a task\'s outcome) needs the role '
        f'"dirt-server" ({accounts.logins["rita"][0]} has the roles readers)')
    for who in ("sam", "olga"):
        assert write(who, {**current, "state": "passed", "results": {"success": True}}).status_code == 403
    # an account with no role is no member of a members-only database
    assert write("nobody", {**current, "state": "passed"}).status_code in (401, 403)
    assert read("rita", "t1").json()["_rev"] == current["_rev"]          # nothing changed
    # the operator cancels, as themselves only
    name = accounts.logins["olga"][0]
    cancel = {**current, "state": "cancelled", "cancelled_by": name, "cancelled_at": 3.0, "completed": 3.0,
              "reason": f"cancelled by {name}"}
    assert write("rita", cancel).status_code == 403
    assert 'cancelled_by must be your own user name' in write("olga", {**cancel, "cancelled_by": "boss"}).text
    assert write("olga", cancel).status_code == 201
    # dirt serve's account writes outcomes and its own documents
    for doc in ({"_id": "node:n1", "type": "node", "name": "n1"}, {"_id": "server:s1", "type": "server"}):
        assert write("dirt", doc).status_code == 201
        assert write("olga", {**doc, "_id": doc["_id"] + "x"}).status_code == 403
    # deleting needs the server or an admin
    latest = read("rita", "t1").json()
    deleted = httpx.delete(f"{url}/t1", params={"rev": latest["_rev"]}, auth=as_user(accounts, "olga"), timeout=30)
    assert deleted.status_code == 403 and 'deleting a task needs the role "dirt-server"' in deleted.json()["reason"]


def test_dirt_commands_by_each_role_and_dirt_serve_as_its_own_account(roles_db, secure_couch):
    url, accounts, root, _ = roles_db

    def dirt(who, *args):
        name, password = accounts.logins[who]
        env = dirt_env(DIRT_COUCHDB_USER=name, DIRT_COUCHDB_PASSWORD=password, COUCHDB_USER=None,
                       COUCHDB_PASSWORD=None)
        return run_dirt(*args, "--db", url, cwd=root, env=env)

    reader = dirt("rita", "submit", "r5", "--task", "examples.simple")
    assert reader.returncode == 3 and 'adding a record needs the role "submitters"' in reader.stderr
    submitted = dirt("sam", "submit", "r5", "--task", "examples.simple", "--task", "examples.kwargs")
    assert submitted.returncode == 0, submitted.stderr
    cancel = dirt("sam", "cancel", "r5-examples.kwargs")
    assert cancel.returncode == 3 and 'cancelling a task needs the role "operators"' in cancel.stderr
    cancel = dirt("olga", "cancel", "r5-examples.kwargs")
    assert cancel.returncode == 0, cancel.stderr
    db = Database.from_url(secure_couch.auth_url, url.rsplit("/", 1)[1])
    assert db.get("r5-examples.kwargs")["cancelled_by"] == accounts.logins["olga"][0]

    # dirt serve, as the dirt-server account (no admin rights): nodes, claims, outcomes
    project = ProjectHelper(root, secure_couch.url, url.rsplit("/", 1)[1], accounts.logins["dirt"])
    project.set(couchdb_host=project.auth_url, log_file=None, lease_seconds=5)
    add_nodes(project, "localhost")
    serve_until_idle(project)
    done = db.get("r5-examples.simple")
    assert done["state"] == "passed" and done["results"]["success"] is True
    rerun = dirt("rita", "rerun", "r5-examples.simple")
    assert rerun.returncode == 3 and 'rerunning a task needs the role "operators"' in rerun.stderr
    rerun = dirt("olga", "rerun", "r5-examples.simple", "r5-examples.kwargs")
    assert rerun.returncode == 0, rerun.stderr
    serve_until_idle(project)
    again = db.get("r5-examples.simple")
    assert again["run"] == 2 and again["state"] == "passed" and again["runs"][0]["state"] == "passed"
    assert again["rerun_by"] == accounts.logins["olga"][0]


def test_a_database_anyone_may_read(secure_couch, tmp_path):
    name = "public-" + uuid.uuid4().hex[:10]
    root = create_project(tmp_path / "proj", name)
    lines = setup(Database.from_url(secure_couch.auth_url, name), root / "web", secure_couch.admin)
    assert "anyone may read; writes need a role" in lines[1]
    url = f"{secure_couch.url}/{name}"
    try:
        assert httpx.get(url, timeout=30).status_code == 200                    # anonymous reads
        refused = httpx.put(f"{url}/r1", json={"type": "record", "description": "x", "created": 1}, timeout=30)
        assert refused.status_code in (401, 403)
        if refused.status_code == 403:
            assert '(you are not signed in)' in refused.json()["reason"]
    finally:
        httpx.delete(url, auth=secure_couch.admin, timeout=30)
