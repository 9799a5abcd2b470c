"""The 2012 Quick Start, typed exactly as printed, works on a fresh HOME.

The block below is the 2012 docs' (after their install line), run as it is by
bash, with the real pouchdb-server's URL in place of http://localhost:5984 and
DIRT_COUCHDB_HOST pointing dirt at it (settings.py says localhost:5984). Its
last line, `dirt serve`, runs until stopped: the test waits until the sample
tasks have finished, then presses Ctrl-C twice, as a user would.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from dirt.create import SAMPLE_DATA
from dirt_run import wait_for

REPO = Path(__file__).resolve().parent.parent
SEED = REPO.parent / "shared" / "seed" / "dirt-docs.txt"
QUICK_START_2012 = """\
cd && dirt create myproject
cd myproject/web && ./egret push http://localhost:5984/myproject && ./egret pushdata http://localhost:5984/myproject test_data.json && cd ..
dirt updatenodes localhost
dirt serve
"""


def test_the_block_is_the_one_the_docs_print():
    page = (REPO / "docs" / "quickstart.rst").read_text()
    assert "".join(f"    $ {line}\n" for line in QUICK_START_2012.splitlines()) in page
    readme = (REPO / "README.md").read_text()
    assert "".join(f"    {line}\n" for line in QUICK_START_2012.splitlines()) in readme
    if SEED.exists():  # the 2012 docs, where this checkout has them
        assert "".join(f"$ {line}\n" for line in QUICK_START_2012.splitlines()) in SEED.read_text()


def test_the_2012_quick_start_typed_as_printed(tmp_path, couch):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRT_", "COUCHDB_", "VIRTUAL_ENV"))}
    # The README's venv on PATH, as after `export PATH=$PWD/.venv/bin:$PATH`.
    env.update(HOME=str(home), DIRT_COUCHDB_HOST=couch.url,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    script = QUICK_START_2012.replace("http://localhost:5984", couch.url)
    log = tmp_path / "session.log"
    db = f"{couch.url}/myproject"
    httpx.delete(db, timeout=10)
    with open(log, "wb") as out:
        shell = subprocess.Popen(["bash", "-c", script], env=env, cwd=tmp_path, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        data = home / "myproject" / SAMPLE_DATA
        wait_for(data.exists, timeout=60, what="dirt create")
        tasks = [doc["_id"] for doc in json.loads(data.read_text()) if doc["type"] == "task"]

        def finished():
            if shell.poll() is not None:
                raise AssertionError(f"the block stopped early ({shell.returncode}):\n{log.read_text()}")
            states = [httpx.get(f"{db}/{task}", timeout=10).json().get("state") for task in tasks]
            return states if all(state in ("passed", "failed", "error") for state in states) else None

        states = wait_for(finished, timeout=120, interval=0.5, what="the sample tasks to finish")
        assert states == ["passed"] * len(tasks), log.read_text()
        ddoc = httpx.get(f"{db}/_design/myproject", timeout=10).json()
        assert "test_data" not in ddoc and "egret" not in ddoc["_attachments"]  # web/'s extras stay out
    finally:
        for _ in range(2):  # Ctrl-C twice
            if shell.poll() is None:
                os.killpg(shell.pid, signal.SIGINT)
                try:
                    shell.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait(10)
        httpx.delete(db, timeout=10)
    session = log.read_text()
    assert "Created new dirt project in myproject" in session
    assert "pushed _design/myproject" in session and f"{db}/_design/myproject/index.html" in session
    assert f"stored {len(tasks) + 1} documents in {db}" in session
    assert "updated localhost: " in session
