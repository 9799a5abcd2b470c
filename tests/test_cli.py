"""The `dirt` command as a person meets it: `python -m dirt ...` in a real
process, against real pouchdb-servers (one open, one with an admin password).

Errors must be one clear line with the exit code the CLI documents, never a
traceback, and a password given in a URL must never be printed or logged.
"""
from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from dirt import __version__
from dirt_run import dirt_env, run_dirt
from servers import free_port

PASSWORD = "s3cret-pw"


def assert_clean_error(done, exit_code: int) -> str:
    """The run failed with ``exit_code`` and one 'error: ...' line; that line."""
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.fixture
def env(tmp_path):
    """An environment with no CouchDB credentials from anywhere but the URL."""
    home = tmp_path / "home"
    home.mkdir()
    return dirt_env(HOME=str(home), DIRT_COUCHDB_USER=None, DIRT_COUCHDB_PASSWORD=None, COUCHDB_USER=None,
                    COUCHDB_PASSWORD=None, DIRT_COUCHDB_HOST=None, DIRT_COUCHDB_DBNAME=None)


@pytest.fixture
def new_project(tmp_path, env):
    """A project made by `dirt create` (default settings: logs to dirt.log)."""
    done = run_dirt("create", "proj", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return tmp_path / "proj"


def test_help_lists_the_commands(tmp_path, env):
    for flag in ("--help", "-h"):
        done = run_dirt(flag, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        for command in ("create", "updatenodes", "serve", "status"):
            assert command in done.stdout
    done = run_dirt("serve", "--help", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "--until-idle" in done.stdout


def test_version(tmp_path, env):
    done = run_dirt("--version", cwd=tmp_path, env=env)
    assert done.returncode == 0
    assert done.stdout.strip() == f"dirt, version {__version__}"


def test_unknown_command_is_a_usage_error(tmp_path, env):
    done = run_dirt("frobnicate", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "No such command" in done.stderr and "Traceback" not in done.stderr


def test_create_makes_a_project_and_never_overwrites_one(tmp_path, env):
    done = run_dirt("create", "myproj", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert f"dirt v{__version__}" in done.stdout and "Created new dirt project" in done.stdout
    root = tmp_path / "myproj"
    assert (root / "settings.py").is_file() and (root / "tasks" / "examples").is_dir()
    assert (root / "web" / "egret").is_file() and (root / "web" / "test_data.json").is_file()
    assert 'couchdb_dbname = "myproj"' in (root / "settings.py").read_text()
    (root / "settings.py").write_text("# mine\n")

    again = run_dirt("create", "myproj", cwd=tmp_path, env=env)
    line = assert_clean_error(again, 2)
    assert "myproj already exists" in line
    assert (root / "settings.py").read_text() == "# mine\n"

    (tmp_path / "plain").mkdir()
    line = assert_clean_error(run_dirt("create", "plain", cwd=tmp_path, env=env), 2)
    assert "already exists" in line and not any((tmp_path / "plain").iterdir())


def test_create_refuses_a_bad_database_name(tmp_path, env):
    line = assert_clean_error(run_dirt("create", "Proj", "Bad Name", cwd=tmp_path, env=env), 1)
    assert "is not a valid CouchDB database name" in line
    assert not (tmp_path / "Proj").exists()


def test_serve_outside_a_project_says_where_to_run_it(tmp_path, env):
    for command in (["serve"], ["updatenodes", "localhost"], ["status"]):
        line = assert_clean_error(run_dirt(*command, cwd=tmp_path, env=env), 2)
        assert "no settings.py" in line and "dirt create" in line and "--project" in line


def test_serve_against_an_unreachable_couchdb_names_the_url_but_not_the_password(new_project, env):
    port = free_port()
    env = dict(env, DIRT_COUCHDB_HOST=f"http://admin:{PASSWORD}@127.0.0.1:{port}")
    done = run_dirt("serve", cwd=new_project, env=env, timeout=60)
    line = assert_clean_error(done, 3)
    assert f"127.0.0.1:{port}" in line and "cannot reach CouchDB" in line
    assert PASSWORD not in done.stdout + done.stderr
    log = new_project / "dirt.log"
    assert not log.exists() or PASSWORD not in log.read_text()


@pytest.mark.both_servers
def test_updatenodes_and_serve_against_a_secured_couchdb_never_show_the_password(new_project, env,
                                                                               secure_couch):
    dbname = "cli-" + uuid.uuid4().hex[:10]
    password = secure_couch.admin[1]
    env = dict(env, DIRT_COUCHDB_HOST=secure_couch.auth_url, DIRT_COUCHDB_DBNAME=dbname)
    done = run_dirt("updatenodes", "localhost", cwd=new_project, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "updated localhost" in done.stdout
    outputs = [done.stdout, done.stderr]

    auth = secure_couch.admin
    base = f"{secure_couch.url}/{dbname}"
    assert httpx.get(f"{base}/node:localhost", auth=auth, timeout=10).json()["status"] == "up"
    httpx.put(f"{base}/r1", json={"type": "record", "description": "r", "created": 1}, auth=auth,
              timeout=10).raise_for_status()
    httpx.put(f"{base}/t1", json={"type": "task", "record_id": "r1", "name": "examples.simple", "created": 1},
              auth=auth, timeout=10).raise_for_status()

    done = run_dirt("serve", "--until-idle", "--verbose", cwd=new_project, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert httpx.get(f"{base}/t1", auth=auth, timeout=10).json()["state"] == "passed"
    outputs += [done.stdout, done.stderr]
    done = run_dirt("status", cwd=new_project, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    outputs += [done.stdout, done.stderr]

    log = (new_project / "dirt.log").read_text()
    assert "Connected to db at" in log and f"127.0.0.1:{secure_couch.port}" in log
    for text in outputs + [log]:
        assert password not in text


def secured_database(server) -> str:
    """A database readable by admins only (CouchDB 3's default_security = admin_only)."""
    name = "cli-" + uuid.uuid4().hex[:10]
    httpx.put(f"{server.url}/{name}", auth=server.admin, timeout=10).raise_for_status()
    httpx.put(f"{server.url}/{name}/_security", auth=server.admin, timeout=10,
              json={"admins": {"names": [], "roles": []},
                    "members": {"names": [], "roles": ["_admin"]}}).raise_for_status()
    return name


@pytest.mark.both_servers
def test_a_secured_couchdb_without_credentials_says_it_needs_them(new_project, env, secure_couch):
    env = dict(env, DIRT_COUCHDB_HOST=secure_couch.url, DIRT_COUCHDB_DBNAME=secured_database(secure_couch))
    for command in (["updatenodes", "localhost"], ["serve"]):
        done = run_dirt(*command, cwd=new_project, env=env, timeout=60)
        line = assert_clean_error(done, 3)
        assert "needs credentials" in line and f"127.0.0.1:{secure_couch.port}" in line


@pytest.mark.both_servers
def test_creating_the_database_without_credentials_says_it_needs_them(new_project, env, secure_couch):
    env = dict(env, DIRT_COUCHDB_HOST=secure_couch.url, DIRT_COUCHDB_DBNAME="cli-" + uuid.uuid4().hex[:10])
    try:
        done = run_dirt("updatenodes", "localhost", cwd=new_project, env=env, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("dirt updatenodes was still waiting for CouchDB after 10 s")
    line = assert_clean_error(done, 3)
    assert "needs credentials" in line and f"127.0.0.1:{secure_couch.port}" in line


@pytest.mark.both_servers
def test_a_wrong_password_is_refused_without_showing_it(new_project, env, secure_couch):
    wrong = "wr0ng-pw-123"
    env = dict(env, DIRT_COUCHDB_HOST=f"http://admin:{wrong}@127.0.0.1:{secure_couch.port}",
               DIRT_COUCHDB_DBNAME="cli-" + uuid.uuid4().hex[:10])
    done = run_dirt("serve", cwd=new_project, env=env, timeout=60)
    line = assert_clean_error(done, 3)
    assert "not authorized" in line and "check the user name and password" in line
    assert wrong not in done.stdout + done.stderr + (new_project / "dirt.log").read_text()


def test_a_misspelt_setting_is_warned_about_with_did_you_mean(new_project, env, couch, db_name):
    with open(new_project / "settings.py", "a") as f:
        f.write("import os\n_private = 1\nbase = os.path.dirname(__file__)\nhelper_timeout_list = [1]\n"
                f"couchdb_host = {couch.url!r}\ncouchdb_dbname = {db_name!r}\n"
                "task_timout = 30\nMax_Attempts = 5\n")
    done = run_dirt("status", cwd=new_project, env=env)
    assert done.returncode == 0, done.stderr                     # a warning, never a failure
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    lines = (new_project / "settings.py").read_text().splitlines()
    timout_line = lines.index("task_timout = 30") + 1
    assert warnings == [
        f"warning: {new_project / 'settings.py'}, line {timout_line}: task_timout is not a dirt setting and is "
        "ignored; did you mean task_timeout?",
        f"warning: {new_project / 'settings.py'}, line {timout_line + 1}: Max_Attempts is not a dirt setting and "
        "is ignored; did you mean max_attempts?"], done.stderr
    assert f"database {couch.url}/{db_name}" in done.stdout


@pytest.mark.both_servers
def test_a_wrong_database_name_says_which_database_on_which_server_is_missing(new_project, env, couch, db_name):
    misspelt = db_name + "x"
    env = dict(env, DIRT_COUCHDB_HOST=couch.user_url, DIRT_COUCHDB_DBNAME=misspelt)
    line = assert_clean_error(run_dirt("status", cwd=new_project, env=env), 3)
    assert f"the database {misspelt!r} does not exist on {couch.url}" in line
    assert "check couchdb_dbname in settings.py" in line and f"curl -X PUT {couch.url}/{misspelt}" in line
    assert "_all_docs" not in line and "no_db_file" not in line
    if couch.user:
        assert couch.user[1] not in line


def test_counts_of_one_are_singular(new_project, env, couch, db_name):
    from dirt.plural import plural
    assert [plural(n, "node") for n in (0, 1, 2)] == ["0 nodes", "1 node", "2 nodes"]
    assert plural(1, "try", "tries") == "1 try" and plural(3, "try", "tries") == "3 tries"
    assert plural("?", "cpu") == "? cpus"
    env = dict(env, DIRT_COUCHDB_HOST=couch.user_url, DIRT_COUCHDB_DBNAME=db_name)
    done = run_dirt("updatenodes", "nosuchhost.invalid", cwd=new_project, env=env)
    assert done.returncode == 4
    assert "1 of 1 node could not be updated: nosuchhost.invalid" in done.stderr
