"""docs/quickstart.rst, "On Apache CouchDB 3": its lines as printed, on a real Apache CouchDB 3.5 with
an admin, from a fresh home directory; then the app, opened by someone not signed in, shows the results."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


@pytest.mark.parametrize("backend", ["couchdb3"], indirect=True)
def test_the_couchdb_3_quick_start_as_printed(couch, browser, tmp_path):
    text = (DOCS / "quickstart.rst").read_text()
    section = text[text.index("On Apache CouchDB 3\n---"):]
    block = re.search(r"::\n\n((?:    \$ .*\n)+)", section).group(1)
    lines = [line.strip()[2:] for line in block.splitlines()]
    script = "\n".join(["set -e"] + lines).replace("http://localhost:5984", couch.url) \
        .replace("DIRT_COUCHDB_PASSWORD=secret", f"DIRT_COUCHDB_PASSWORD='{couch.admin[1]}'")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRT_", "COUCHDB_"))}
    env.update(HOME=str(home), PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    old = couch.config("csp", "attachments_header_value", None)
    try:
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "set _security: anyone may read" in done.stdout
        assert "the server lets the app's scripts run" in done.stdout and "warning" not in done.stderr
        assert "task r1-examples.simple: stored" in done.stdout
        assert couch.admin[1] not in done.stdout + done.stderr
        app = f"{couch.url}/myproject/_design/myproject/"
        browser.open(app + "record.html?id=r1")
        browser.wait(lambda: "2 passed" in browser.text("#record-bar"), what="the record's tasks")
        assert browser.texts("#session > button") == ["Sign in"]
        assert httpx.get(f"{couch.url}/myproject/r1", timeout=30).status_code == 200     # anyone reads
    finally:
        couch.config("csp", "attachments_header_value", old)
        httpx.delete(f"{couch.url}/myproject", auth=couch.admin, timeout=30)
