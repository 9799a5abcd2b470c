"""``dirt create``: a new project directory from the packaged skeleton.

Files ending in ``.jinja`` are rendered with jinja2 (and lose the suffix);
everything else is copied as it is. dirt's web app (``web/``) is copied in
too, so each project can customise and push its own; the skeleton's own
``web/`` adds what the 2012 projects had there besides the app: the ``egret``
launcher (``cd web && ./egret push URL``) and ``test_data.json``, the sample
record and tasks. egret does not push either of them.
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from .credentials import database_name_problem, redact
from .errors import DirtError, ProjectExists

LAUNCHER = Path("web") / "egret"          # runs the installed egret: `cd web && ./egret push URL`
SAMPLE_DATA = Path("web") / "test_data.json"   # the sample record and tasks of a new project


def _data_dir(name: str) -> Path:
    """``dirt/<name>`` in a wheel, or ``<repo>/<name>`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise DirtError(f"dirt's {name}/ directory is missing from this installation; reinstall dirt")


def skeleton_dir() -> Path:
    return _data_dir("skeleton")


def web_dir() -> Path:
    return _data_dir("web")


DEFAULT_COUCHDB_HOST = "http://localhost:5984"


def create_project(path: str | Path, dbname: str | None = None, couchdb_host: str | None = None) -> Path:
    """Create project directory ``path``; the database defaults to its name.

    ``couchdb_host`` (default http://localhost:5984) goes into settings.py
    and the project's README; it may not hold credentials, since settings.py
    is a file people commit. Refuses to touch an existing path. Returns the
    new directory.
    """
    target = Path(path)
    if target.exists():
        raise ProjectExists(f"{target} already exists; choose a new name (dirt never overwrites a project)")
    project_name = target.resolve().name
    dbname = dbname or project_name.lower()
    problem = database_name_problem(dbname)
    if problem:
        raise DirtError(f"{dbname!r} is {problem}; pass one as the second argument")
    couchdb_host = (couchdb_host or DEFAULT_COUCHDB_HOST).rstrip("/")
    parts = urlsplit(couchdb_host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DirtError(f"{redact(couchdb_host)!r} is not a CouchDB URL (expected http://host:port)")
    if parts.username is not None:
        raise DirtError("the CouchDB URL for settings.py must not hold credentials (settings.py is often "
                        "committed): give them in DIRT_COUCHDB_USER and DIRT_COUCHDB_PASSWORD or ~/.netrc")
    context = {"project_name": project_name, "dbname": dbname, "created": int(time.time()),
               "couchdb_host": couchdb_host, "python": sys.executable}
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    staging = target.parent / f".{target.name}.creating"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _copy_tree(web_dir(), staging / "web", env, context, render=False)
        _copy_tree(skeleton_dir(), staging, env, context)
        # The design document is named after the project: /_design/NAME/index.html
        (staging / "web" / "_id").write_text(f"_design/{project_name}\n", encoding="utf-8")
        (staging / LAUNCHER).chmod(0o755)   # whatever mode the installed file has
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _copy_tree(source: Path, dest: Path, env: jinja2.Environment, context: dict, render: bool = True) -> None:
    for item in sorted(source.rglob("*")):
        rel = item.relative_to(source)
        if "__pycache__" in rel.parts or item.suffix == ".pyc":
            continue
        out = dest / rel
        if item.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if render and item.suffix == ".jinja":
            text = env.from_string(item.read_text(encoding="utf-8")).render(context)
            out.with_suffix("").write_text(text, encoding="utf-8")
        else:
            shutil.copy2(item, out)
