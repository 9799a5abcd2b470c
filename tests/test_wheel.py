"""`pip install .` (a wheel, not editable) gives a working dirt: create a project and run its examples."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def test_wheel_in_a_fresh_virtualenv_runs_the_example(tmp_path, couch, db_name):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("dirt-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr
    bin_dir = venv / "bin"
    # Run from outside the checkout, so nothing can come from the repository.
    env = dict(os.environ, DIRT_COUCHDB_HOST=couch.url, DIRT_COUCHDB_DBNAME=db_name,
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH="")
    work = tmp_path / "work"
    work.mkdir()

    def run(*args, cwd):
        done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    run(str(bin_dir / "dirt"), "create", "wheelproj", cwd=work)
    project = work / "wheelproj"
    assert (project / "web" / "templates" / "index.html").is_file()
    run(str(bin_dir / "egret"), "push", f"{couch.url}/{db_name}", cwd=project / "web")
    run(str(bin_dir / "egret"), "pushdata", f"{couch.url}/{db_name}", "test_data.json", cwd=project)
    run(str(bin_dir / "dirt"), "updatenodes", "localhost", cwd=project)
    run(str(bin_dir / "dirt"), "serve", "--until-idle", cwd=project)
    tasks = [d for d in json.loads((project / "test_data.json").read_text()) if d["type"] == "task"]
    for task in tasks:
        doc = httpx.get(f"{couch.url}/{db_name}/{task['_id']}").json()
        assert doc["state"] == "passed", doc
    page = httpx.get(f"{couch.url}/{db_name}/_design/wheelproj/index.html")
    assert page.status_code == 200 and "wheelproj" in page.text
