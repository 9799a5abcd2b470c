"""The README's first command, run from a clean clone as a newcomer would.

`scripts/quickstart` installs what it needs into the clone, starts the
embedded database, runs the example project and prints the web URL; run a
second time, it reuses what exists. HOME is a temporary directory, so the
project and the database's data land there, and the port is a free one.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from servers import free_port

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)
def test_quickstart_from_a_clean_clone(tmp_path):
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the git checkout to clone")
    clone = tmp_path / "dirt"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRT_", "VIRTUAL_ENV", "XDG_"))}
    env.update(HOME=str(home), DIRT_QUICKSTART_PORT=str(port))
    try:
        first = subprocess.run(["scripts/quickstart"], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=800)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        url = f"http://127.0.0.1:{port}/myproject/_design/myproject/index.html"
        assert f"Web app: {url}" in first.stdout
        assert re.search(r"tasks: 3 passed", first.stdout), first.stdout
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "myproject" in page.text
        # The project's own settings point at the port used, so the project works on its own later.
        settings = (home / "myproject" / "settings.py").read_text()
        assert f'couchdb_host = "http://127.0.0.1:{port}"' in settings
        dirt = str(clone / ".venv" / "bin" / "dirt")
        status = subprocess.run([dirt, "status"], cwd=home / "myproject", env=env, capture_output=True, text=True,
                                timeout=60)
        assert status.returncode == 0 and "tasks: 3 passed" in status.stdout, status.stdout + status.stderr
        assert f"`dirt db stop --port {port}` stops it" in first.stdout

        again = subprocess.run(["scripts/quickstart"], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "reusing" in again.stdout and "tasks: 3 passed" in again.stdout
    finally:
        stopped = subprocess.run([str(clone / ".venv" / "bin" / "dirt"), "db", "stop", "--port", str(port)],
                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0 and f"stopped the embedded database at http://127.0.0.1:{port}" in stopped.stdout
