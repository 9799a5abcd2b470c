"""The Sphinx docs build without warnings, and their example scripts run."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from dirt.couch import Database
from dirt.create import create_project
from dirt.nodes import update_nodes
from dirt.settings import Settings
from servers import REPO

EXAMPLES = REPO / "docs" / "examples"


def run_example(name: str, *args: str, cwd=REPO, **env: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_docs_build_without_warnings(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(REPO / "docs"), str(tmp_path / "html")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for page in ("index", "introduction", "quickstart", "installation", "documents", "tasks",
                 "requirements", "nodes", "api", "troubleshooting", "egret", "notifications"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
    api = (tmp_path / "html" / "api.html").read_text()
    assert "DirtCouchDB" in api and "check_requirements" in api and "round_robin" in api


def test_check_requirements_example():
    out = run_example("check_requirements.py")
    assert "fits: runs here" in out
    assert "needs arm: waits: architecture is 'x86_64'" in out
    assert "macOS only: waits: platform is linux, not osx" in out
    assert "typo: error: requirement 'architecture == x86_64' is not understood" in out


def test_post_record_and_list_nodes_examples(couch, db_name):
    env = {"DIRT_COUCHDB_HOST": couch.url, "DIRT_COUCHDB_DBNAME": db_name}
    out = run_example("post_record.py", "123", **env)
    assert sorted(out.splitlines()) == sorted(f"{doc_id} stored" for doc_id in (
        "r123", "r123-examples.simple", "r123-examples.kwargs", "r123-examples.attachments"))
    task = httpx.get(f"{couch.url}/{db_name}/r123-examples.kwargs", timeout=10).json()
    assert task["kwargs"] == {"foo": 123, "bar": "from the hook"} and task["record_id"] == "r123"

    db = Database.from_url(couch.url, db_name)
    assert all(u.ok for u in update_nodes(db, ["localhost"], Settings()))
    out = run_example("list_nodes.py", "r123-examples.attachments", **env)
    assert "localhost:" in out and "enabled: True, can run r123-examples.attachments: True" in out


def test_run_task_example(tmp_path):
    project = create_project(tmp_path / "proj", "proj")
    out = run_example("run_task.py", cwd=project, PYTHONPATH=str(project))
    assert "simple: {'success': True, 'sum': 4}" in out
    assert "kwargs: {'success': True, 'foo': 42, 'bar': 'baz'}" in out


def _git_repo(tmp_path, message="first <b>commit</b>", origin=None):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    if origin:
        subprocess.run(git + ["remote", "add", "origin", origin], cwd=repo, check=True)
    (repo / "a.txt").write_text("a\n")
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", message], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    return repo, sha


def run_hook(repo, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DIRT_", "COUCHDB_", "NETRC"))}
    return subprocess.run([sys.executable, str(EXAMPLES / "post_commit_hook.py")], cwd=repo,
                          env={**clean, "HOME": str(repo), **env}, capture_output=True, text=True, timeout=60)


def test_post_commit_hook_example_in_a_real_git_repository(tmp_path, couch, db_name):
    repo, sha = _git_repo(tmp_path, origin="https://someone:ghp_s3cret@github.com/physics/builder.git")
    env = {"DIRT_COUCHDB_HOST": couch.url, "DIRT_COUCHDB_DBNAME": db_name}
    out = run_hook(repo, **env)
    assert out.returncode == 0, out.stderr
    assert f"dirt: {sha} stored" in out.stdout
    record = httpx.get(f"{couch.url}/{db_name}/{sha}", timeout=10).json()
    assert record["type"] == "record" and record["description"] == "first <b>commit</b>" and record["sha"] == sha
    # what commit statuses need, without the login the remote URL carried
    assert record["repository"] == "https://github.com/physics/builder.git"
    task = httpx.get(f"{couch.url}/{db_name}/{sha}-examples.simple", timeout=10).json()
    assert task["record_id"] == sha and task["name"] == "examples.simple"
    # Run again (the hook fired twice): nothing is duplicated, each conflict is reported.
    again = run_hook(repo, **env)
    assert "not stored" in again.stdout


@pytest.mark.parametrize("how", ["url", "DIRT_COUCHDB_USER", "COUCHDB_USER", "netrc"])
def test_post_commit_hook_logs_in_as_dirt_does(tmp_path, secure_couch, how):
    name, password = secure_couch.admin
    db = "hook-" + how.lower().replace("_", "-")
    httpx.put(f"{secure_couch.url}/{db}", auth=secure_couch.admin, timeout=10)
    repo, sha = _git_repo(tmp_path)
    env = {"DIRT_COUCHDB_HOST": secure_couch.url, "DIRT_COUCHDB_DBNAME": db}
    if how == "url":
        env["DIRT_COUCHDB_HOST"] = secure_couch.auth_url
    elif how == "netrc":
        (repo / ".netrc").write_text(f"machine 127.0.0.1 login {name} password {password}\n")
        (repo / ".netrc").chmod(0o600)
    else:
        prefix = how[:-len("USER")]
        env.update({prefix + "USER": name, prefix + "PASSWORD": password})
    out = run_hook(repo, **env)
    assert out.returncode == 0, out.stderr
    assert f"dirt: {sha} stored" in out.stdout and password not in out.stdout + out.stderr
    assert httpx.get(f"{secure_couch.url}/{db}/{sha}", auth=secure_couch.admin, timeout=10).status_code == 200


def test_post_commit_hook_without_a_login_says_so(tmp_path, secure_couch):
    repo, sha = _git_repo(tmp_path)
    out = run_hook(repo, DIRT_COUCHDB_HOST=f"http://admin:wrong-pw@127.0.0.1:{secure_couch.port}",
                   DIRT_COUCHDB_DBNAME="hook-nologin")
    assert out.returncode == 1
    assert out.stderr.strip() == f"dirt: could not store revision {sha}: HTTP 401 Unauthorized " \
        "(give a login: see the top of this hook)"
    assert "wrong-pw" not in out.stdout + out.stderr


def test_the_skeleton_readme_has_the_same_hook(tmp_path):
    root = create_project(tmp_path / "proj", "projdb")
    readme = (root / "README.md").read_text()
    hook = (EXAMPLES / "post_commit_hook.py").read_text().replace('"DIRT_COUCHDB_DBNAME", "builder"',
                                                                   '"DIRT_COUCHDB_DBNAME", "projdb"')
    indented = "".join("    " + line if line.strip() else "\n" for line in hook.splitlines(True))
    assert indented in readme
