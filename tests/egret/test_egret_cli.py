"""The egret command line: help, version, and errors as one line."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from egret import __version__
from egret.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"egret, version {__version__}\n"


@pytest.mark.parametrize("command, words", [
    ("compile", ["DIRECTORY", "-o, --output", "--stubs", "without a server"]),
    ("push", ["URL [DIRECTORY]", "writes only what changed", "COUCHDB_USER", "localhost:5984/NAME"]),
    ("pushdata", ["URL FILE", "--update", '{"docs": [...]}', "netrc"]),
    ("watch", ["URL [DIRECTORY]", "after every change", "Ctrl-C"]),
    ("create", ["[DIRECTORY]", "settings.json", "Never overwrites"]),
    ("createdb", ["URL", "exists already", "server admin", "DIRT_COUCHDB_HOST"]),
])
def test_each_command_explains_itself(command, words):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for word in words:
        assert word in text, word


def test_top_level_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("compile", "push", "pushdata", "watch", "create", "createdb"):
        assert command in result.stdout


def test_bad_url_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["push", "ftp://user:hunter2@host/db", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == "egret: ftp://user:***@host/db: only http:// and https:// URLs are supported\n"


def test_missing_data_file_is_one_line(couch, tmp_path):
    result = CliRunner().invoke(main, ["pushdata", f"{couch.url}/egret-nofile", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith("egret: ") and "nope.json: cannot read" in result.stderr
    assert result.stderr.count("\n") == 1


def test_verbose_logs_never_show_the_password(secure_couch):
    """-vv turns on egret's and httpx's debug logs; the password stays out of them."""
    db = "egret-verbose-" + uuid.uuid4().hex[:8]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    app = REPO / "tests" / "egret" / "fixtures" / "sampleapp"
    for args in (["-vv", "push", f"{secure_couch.auth_url}/{db}", str(app)],
                 ["-vv", "push", f"http://admin:wrong-{secure_couch.admin[1]}@127.0.0.1:{secure_couch.port}/{db}", str(app)]):
        proc = subprocess.run([sys.executable, "-m", "egret", *args], env=env, capture_output=True, text=True, timeout=60)
        output = proc.stdout + proc.stderr
        assert "HTTP Request" in output or "pushed" in output or "401" in output
        assert secure_couch.admin[1] not in output
        assert "Traceback" not in output
