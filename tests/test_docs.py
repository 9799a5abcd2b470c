"""The Sphinx docs build without warnings, and their example scripts run."""
from __future__ import annotations

import dataclasses
import html
import os
import re
import subprocess
import sys

import click
import httpx
import pytest

from dirt.cli import cli as dirt_cli
from dirt.couch import Database
from egret.cli import main as egret_cli
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


def build(source, out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(source), str(out)], capture_output=True, text=True, timeout=300)


def text_of(page) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_docs_build_without_warnings(tmp_path):
    done = build(REPO / "docs", tmp_path / "html")
    assert done.returncode == 0, done.stderr
    for page in ("index", "introduction", "quickstart", "installation", "documents", "tasks",
                 "requirements", "nodes", "api", "troubleshooting", "egret", "notifications", "cli", "settings"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
    api = (tmp_path / "html" / "api.html").read_text()
    assert "DirtCouchDB" in api and "check_requirements" in api and "round_robin" in api

    # The references hold every command, option and setting the code has.
    cli = text_of(tmp_path / "html" / "cli.html")
    for group, prog in ((dirt_cli, "dirt"), (egret_cli, "egret")):
        for context, command in _commands(click.Context(group, info_name=prog)):
            assert f"{context.command_path} " in cli, context.command_path
            for param in command.params:
                for opt in getattr(param, "opts", []):
                    if opt.startswith("-"):
                        assert opt in cli, (context.command_path, opt)
    assert "Exit codes: 0 success" in cli and "DIRT_COUCHDB_DBNAME" in cli
    settings = text_of(tmp_path / "html" / "settings.html")
    for f in dataclasses.fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert f"{f.name} = {default!r}" in settings, f.name
    assert "DIRT_COUCHDB_HOST in the environment overrides it" in settings


def _commands(context):
    for name in context.command.list_commands(context):
        command = context.command.get_command(context, name)
        sub = click.Context(command, info_name=name, parent=context)
        yield sub, command
        if isinstance(command, click.Group):
            yield from _commands(sub)


def test_a_setting_without_a_description_fails_the_build(tmp_path):
    """The settings reference cannot silently leave a new setting out."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mysettings.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass S:\n"
        "    described: int = 1   # a setting with a description\n"
        "    #: one described above\n    above: str = 'x'\n"
        "    forgotten: float = 2.0\n")
    (tmp_path / "src" / "conf.py").write_text(
        f"import sys\nsys.path[:0] = [{str(tmp_path / 'src')!r}, {str(REPO / 'docs' / '_ext')!r}]\n"
        "extensions = ['reference']\n")
    (tmp_path / "src" / "index.rst").write_text("Settings\n========\n\n.. settings-reference:: mysettings:S\n")
    done = build(tmp_path / "src", tmp_path / "out")
    assert done.returncode != 0
    assert "setting forgotten of mysettings:S has no description" in done.stderr
    (tmp_path / "src" / "mysettings.py").write_text(
        (tmp_path / "src" / "mysettings.py").read_text().replace("2.0\n", "2.0  # now described\n"))
    assert build(tmp_path / "src", tmp_path / "out2").returncode == 0
    page = text_of(tmp_path / "out2" / "index.html")
    assert "described = 1" in page and "One described above." in page and "Now described." in page


def test_check_requirements_example():
    out = run_example("check_requirements.py")
    assert "fits: runs here" in out
    assert "needs arm: waits: architecture is 'x86_64'" in out
    assert "macOS only: waits: platform is linux, not osx" in out
    assert 'typo: error: requirement "architecture == x86_64" is not understood' in out


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


def run_hook(repo, db_url, **env):
    """The example hook, as git runs it: `sh .git/hooks/post-commit` in the repository."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DIRT_", "COUCHDB_", "NETRC"))}
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text((EXAMPLES / "post-commit").read_text().replace("http://localhost:5984/builder", db_url))
    path = os.path.dirname(sys.executable) + os.pathsep + clean.get("PATH", "")
    return subprocess.run(["sh", str(hook)], cwd=repo, env={**clean, "HOME": str(repo), "PATH": path, **env},
                          capture_output=True, text=True, timeout=60)


def test_post_commit_hook_example_in_a_real_git_repository(tmp_path, couch, db_name):
    repo, sha = _git_repo(tmp_path, origin="https://someone:ghp_s3cret@github.com/physics/builder.git")
    out = run_hook(repo, f"{couch.user_url}/{db_name}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"record {sha}: stored", f"task {sha}-examples.simple: stored",
                                       f"task {sha}-examples.compile_hello: stored"]
    record = httpx.get(f"{couch.url}/{db_name}/{sha}", auth=couch.user, timeout=10).json()
    assert record["type"] == "record" and record["description"] == "first <b>commit</b>" and record["sha"] == sha
    assert record["author"] == "t" and record["branch"] in ("master", "main")   # what the web app filters by
    # what commit statuses need, without the login the remote URL carried
    assert record["repository"] == "https://github.com/physics/builder.git"
    task = httpx.get(f"{couch.url}/{db_name}/{sha}-examples.simple", auth=couch.user, timeout=10).json()
    assert task["record_id"] == sha and task["name"] == "examples.simple"
    # Run again (the hook fired twice): nothing is duplicated, and it says so.
    again = run_hook(repo, f"{couch.user_url}/{db_name}")
    assert again.returncode == 0 and again.stdout.splitlines()[0] == f"record {sha}: unchanged"
    assert again.stdout.count(": exists") == 2


@pytest.mark.parametrize("how", ["url", "DIRT_COUCHDB_USER", "COUCHDB_USER", "netrc"])
def test_post_commit_hook_logs_in_as_dirt_does(tmp_path, secure_couch, how):
    name, password = secure_couch.admin
    db = "hook-" + how.lower().replace("_", "-")
    httpx.put(f"{secure_couch.url}/{db}", auth=secure_couch.admin, timeout=10)
    repo, sha = _git_repo(tmp_path)
    url, env = f"{secure_couch.url}/{db}", {}
    if how == "url":
        url = f"{secure_couch.auth_url}/{db}"
    elif how == "netrc":
        (repo / ".netrc").write_text(f"machine 127.0.0.1 login {name} password {password}\n")
        (repo / ".netrc").chmod(0o600)
    else:
        prefix = how[:-len("USER")]
        env.update({prefix + "USER": name, prefix + "PASSWORD": password})
    out = run_hook(repo, url, **env)
    assert out.returncode == 0, out.stderr
    assert f"record {sha}: stored" in out.stdout and password not in out.stdout + out.stderr
    assert httpx.get(f"{secure_couch.url}/{db}/{sha}", auth=secure_couch.admin, timeout=10).status_code == 200


def test_post_commit_hook_without_a_login_says_so(tmp_path, secure_couch):
    repo, sha = _git_repo(tmp_path)
    out = run_hook(repo, f"http://admin:wrong-pw@127.0.0.1:{secure_couch.port}/hook-nologin")
    assert out.returncode == 3
    assert "not authorized" in out.stderr and "check the user name and password" in out.stderr
    assert "wrong-pw" not in out.stdout + out.stderr


def test_the_skeleton_readme_has_the_same_hook(tmp_path):
    root = create_project(tmp_path / "proj", "projdb")
    readme = (root / "README.md").read_text()
    hook = (EXAMPLES / "post-commit").read_text().replace("http://localhost:5984/builder",
                                                         "http://localhost:5984/projdb")
    indented = "".join("    " + line if line.strip() else "\n" for line in hook.splitlines(True))
    assert indented in readme
