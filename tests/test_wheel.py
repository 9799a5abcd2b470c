"""`pip install .` (a wheel, not editable) gives a working dirt: create a project and run its examples.

The project's `web/egret` launcher is checked here too, as the 2012 docs use
it: with the wheel's bin/ on PATH, without it (it then finds the Python that
ran `dirt create`), and after dirt is uninstalled (it says what to install).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from dirt.create import LAUNCHER, SAMPLE_DATA

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
    system_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                  if not (Path(p) / "egret").exists() and not (Path(p) / "dirt").exists())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "COUCHDB_", "DIRT_"))}
    env = dict(base, DIRT_COUCHDB_HOST=couch.url, DIRT_COUCHDB_DBNAME=db_name,
               PATH=f"{bin_dir}{os.pathsep}{system_path}", PYTHONPATH="")
    no_venv = dict(env, PATH=system_path)
    work = tmp_path / "work"
    work.mkdir()

    def run(*args, cwd, environ=env, status=0):
        done = subprocess.run(list(args), cwd=cwd, env=environ, capture_output=True, text=True, timeout=120)
        assert done.returncode == status, (args, done.stdout, done.stderr)
        return done

    run(str(bin_dir / "dirt"), "create", "wheelproj", cwd=work)
    project = work / "wheelproj"
    web = project / "web"
    assert (web / "templates" / "index.html").is_file()
    assert os.access(project / LAUNCHER, os.X_OK)

    # ./egret with the venv's bin/ off PATH: the launcher runs the Python that created the project.
    pushed = run("./egret", "push", f"{couch.url}/{db_name}", cwd=web, environ=no_venv)
    assert pushed.stdout.strip().splitlines()[-1] == f"{couch.url}/{db_name}/_design/wheelproj/index.html"
    ddoc = httpx.get(f"{couch.url}/{db_name}/_design/wheelproj").json()
    assert "egret" not in ddoc["_attachments"] and "test_data" not in ddoc
    # With it on PATH, as after `export PATH=.venv/bin:$PATH`; a bare name says which server it used.
    again = run("./egret", "push", db_name, cwd=web)
    assert again.stdout.splitlines()[0].startswith(f"using {couch.url}/{db_name} ")
    assert "is up to date" in again.stdout
    run("./egret", "pushdata", f"{couch.url}/{db_name}", "test_data.json", cwd=web)
    run(str(bin_dir / "dirt"), "updatenodes", "localhost", cwd=project)
    run(str(bin_dir / "dirt"), "serve", "--until-idle", cwd=project)
    tasks = [d for d in json.loads((project / SAMPLE_DATA).read_text()) if d["type"] == "task"]
    for task in tasks:
        doc = httpx.get(f"{couch.url}/{db_name}/{task['_id']}").json()
        assert doc["state"] == "passed", doc
    page = httpx.get(f"{couch.url}/{db_name}/_design/wheelproj/index.html")
    assert page.status_code == 200 and "wheelproj" in page.text

    # Without egret anywhere, the launcher says what to install.
    run(str(bin_dir / "python"), "-m", "pip", "uninstall", "-q", "-y", "dirt", cwd=work)
    missing = run("./egret", "push", f"{couch.url}/{db_name}", cwd=web, environ=no_venv, status=127)
    assert "cannot find egret" in missing.stderr and "pip install" in missing.stderr
    assert str(bin_dir / "python") in missing.stderr  # where it looked
