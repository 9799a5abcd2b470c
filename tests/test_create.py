"""dirt create and project settings."""
import json
import subprocess
import sys

import pytest

import os

from dirt.create import LAUNCHER, SAMPLE_DATA, create_project
from dirt.errors import ProjectExists, SettingsError
from dirt.settings import load_project


def test_create_makes_a_complete_project(tmp_path):
    root = create_project(tmp_path / "builder")
    for path in ["README.md", "settings.py", "tasks/__init__.py", "tasks/examples/simple.py",
                 "tasks/examples/kwargs.py", "tasks/examples/attachments.py", "web/test_data.json", "web/egret",
                 "web/_id"]:
        assert (root / path).is_file(), path
    assert not list(root.rglob("*.jinja"))
    project = load_project(root)
    s = project.settings
    assert (s.project_name, s.couchdb_dbname, s.load_balancer) == ("builder", "builder", "round_robin")
    assert s.couchdb_host == "http://localhost:5984" and s.node_enable_default is True
    assert (root / "web/_id").read_text().strip() == "_design/builder"
    # The 2012 listing: README.md settings.py tasks web (the sample data and ./egret are in web/).
    assert sorted(p.name for p in root.iterdir()) == ["README.md", "settings.py", "tasks", "web"]
    assert os.access(root / LAUNCHER, os.X_OK)
    docs = json.loads((root / SAMPLE_DATA).read_text())
    assert {d["type"] for d in docs} == {"record", "task"}
    # The example tasks run as plain scripts too.
    out = subprocess.run([sys.executable, str(root / "tasks/examples/simple.py")], capture_output=True, text=True)
    assert "'success': True" in out.stdout


def test_create_with_dbname_and_refusing_to_overwrite(tmp_path):
    root = create_project(tmp_path / "proj", "other_db")
    assert load_project(root).settings.couchdb_dbname == "other_db"
    marker = root / "tasks" / "mine.py"
    marker.write_text("x = 1\n")
    with pytest.raises(ProjectExists):
        create_project(root)
    assert marker.read_text() == "x = 1\n"


def test_every_default_in_the_skeleton_works_and_env_overrides(tmp_path, monkeypatch):
    root = create_project(tmp_path / "p")
    (root / "settings.py").write_text("")
    assert load_project(root).settings.load_balancer == "round_robin"
    monkeypatch.setenv("DIRT_COUCHDB_HOST", "http://db.example:5984")
    monkeypatch.setenv("DIRT_COUCHDB_DBNAME", "elsewhere")
    s = load_project(root).settings
    assert (s.couchdb_host, s.couchdb_dbname) == ("http://db.example:5984", "elsewhere")


@pytest.mark.parametrize("text, words", [
    ("load_balancer = 'fastest'", "load_balancer must be one of"),
    ("task_timeout = 'soon'", "task_timeout must be a number"),
    ("couchdb_host = 'localhost:5984'", "http:// or https://"),
    ("raise ValueError('oops')", "failed to load: ValueError: oops"),
])
def test_bad_settings_are_named(tmp_path, text, words):
    root = create_project(tmp_path / "p")
    (root / "settings.py").write_text(text + "\n")
    with pytest.raises(SettingsError) as err:
        load_project(root)
    assert words in str(err.value)


def test_missing_settings(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_project(tmp_path)
    assert "dirt create" in str(err.value)


def test_the_skeleton_settings_show_every_setting_with_its_default(tmp_path):
    """settings.py says every name in it is optional with its default shown: it must hold all of them."""
    import dataclasses
    import runpy

    from dirt.settings import Settings

    root = create_project(tmp_path / "p")
    values = runpy.run_path(str(root / "settings.py"))
    for f in dataclasses.fields(Settings):
        assert f.name in values, f"the skeleton's settings.py does not show {f.name}"
        if f.name in ("project_name", "couchdb_dbname"):
            continue  # the project's own
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert values[f.name] == default, f.name


def test_create_with_a_couchdb_host_writes_it_into_settings_and_readme(tmp_path, monkeypatch):
    monkeypatch.delenv("DIRT_COUCHDB_HOST", raising=False)
    root = create_project(tmp_path / "builder", couchdb_host="http://127.0.0.1:5991/")
    assert load_project(root).settings.couchdb_host == "http://127.0.0.1:5991"
    readme = (root / "README.md").read_text()
    assert "egret push http://127.0.0.1:5991/builder" in readme and "localhost:5984" not in readme
    assert load_project(root).warnings == []


@pytest.mark.parametrize("url, problem", [("http://admin:s3cret@127.0.0.1:5984", "must not hold credentials"),
                                          ("127.0.0.1:5984", "is not a CouchDB URL")])
def test_create_refuses_a_couchdb_host_it_cannot_write(tmp_path, url, problem):
    from dirt.errors import DirtError
    with pytest.raises(DirtError, match=problem) as err:
        create_project(tmp_path / "builder", couchdb_host=url)
    assert "s3cret" not in str(err.value) and not (tmp_path / "builder").exists()
