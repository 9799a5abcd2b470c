"""Every shell and Python block of the docs that is meant to be run, run against a real server.

tests/docblocks.py says what runs and how blocks are marked; this module runs
each page as one bash session (fresh $HOME, a pouchdb-server of the module's
own with every database dropped between pages) and checks each command's
exit status and, where the page shows it, its output.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import docblocks
from servers import PouchServer

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted((REPO / "docs").glob("*.rst"))


def runnable(page: Path) -> bool:
    return any(not b.mark("skip") and (b.kind in ("shell", "python") or b.mark("file"))
               for b in docblocks.blocks(page))


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory):
    server = PouchServer(tmp_path_factory.mktemp("docs-pouchdb")).start()
    yield server
    server.stop()


def test_every_page_parses_and_its_marks_are_known():
    for page in PAGES:
        docblocks.blocks(page)  # raises on an unknown mark or a mark without a block
    assert {"quickstart.rst", "example.rst", "egret.rst", "installation.rst"} <= \
        {page.name for page in PAGES if runnable(page)}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and _alive(int(entry)):
                    found.append(int(entry))
            except ProcessLookupError:
                continue
    return found


def _stop_group(pgid: int) -> None:
    """Ctrl-C, Ctrl-C again, then SIGTERM, then SIGKILL, to what the page left running (dirt serve)."""
    for sig, grace in ((signal.SIGINT, 1), (signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if not _members(pgid):
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while _members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", [page.name for page in PAGES if runnable(page)])
def test_page_blocks_work_when_pasted(page, docs_server, tmp_path):
    url = docs_server.url
    for db in httpx.get(f"{url}/_all_dbs", timeout=30).json():
        if not db.startswith("_"):
            httpx.delete(f"{url}/{db}", timeout=30)
    home = tmp_path / "home"
    out = tmp_path / "out"
    home.mkdir()
    out.mkdir()
    script, steps = docblocks.session(docblocks.blocks(REPO / "docs" / page), url)
    (out / "session.sh").write_text(script)
    system_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                  if not (Path(p) / "dirt").exists() and not (Path(p) / "egret").exists())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRT_", "COUCHDB_", "VIRTUAL_ENV", "XDG_"))}
    env.update(HOME=str(home), DIRT_COUCHDB_HOST=url, DOCS_SERVER_URL=url, DOCS_OUT=str(out),
               DOCS_REPO=str(REPO), DOCS_PYTHON=sys.executable, DOCS_HELPER=str(Path(docblocks.__file__)),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{system_path}", PYTHONPATH="")
    shell = subprocess.Popen(["bash", str(out / "session.sh")], cwd=home, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        stdout, _ = shell.communicate(timeout=800)
    finally:
        _stop_group(shell.pid)
    text = stdout.decode("utf-8", "replace")
    results = docblocks.outputs(text)
    for step in steps:
        where = f"{step.page}:{step.line}"
        output, status = results.get(step.id, ("", None))
        background = (out / f"bg-{step.id}.log")
        if background.exists():
            continue
        assert status is not None, f"{where}: never ran; the session ended before it:\n{text[-3000:]}"
        assert status == 0, f"{where}: `{step.text}` exited with status {status}:\n{output}"
        if step.expected:
            assert docblocks.matches(step.expected, output, url, str(home)), (
                f"{where}: `{step.text}` printed\n{output}\nbut the page shows\n" + "\n".join(step.expected))
