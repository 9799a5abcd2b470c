"""Fixtures for egret's tests: app directories to compile and push.

The servers (``couch``, ``secure_couch``, ``db_url``) come from the
top-level conftest. Every test here runs with ``HOME`` in a temporary folder
and without ``COUCHDB_USER``/``COUCHDB_PASSWORD``/``NETRC`` (nor dirt's
``DIRT_COUCHDB_HOST``/``_USER``/``_PASSWORD``), so the machine's
own credentials can neither help nor leak into a test.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("COUCHDB_USER", "COUCHDB_PASSWORD", "NETRC", "SSL_CERT_FILE", "SSL_CERT_DIR",
                 "DIRT_COUCHDB_HOST", "DIRT_COUCHDB_USER", "DIRT_COUCHDB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return home


def copy_fixture(name: str, destination: Path) -> Path:
    """A writable copy of ``fixtures/NAME`` at ``destination``."""
    shutil.copytree(FIXTURES / name, destination)
    return destination


@pytest.fixture
def sample_app(tmp_path) -> Path:
    """A copy of the couchapp-style fixture (``_design/sample``)."""
    return copy_fixture("sampleapp", tmp_path / "sampleapp")


@pytest.fixture
def pages_app(tmp_path) -> Path:
    """A copy of the jinja2-pages fixture (``_design/pages``)."""
    return copy_fixture("pages", tmp_path / "pages")


@pytest.fixture
def http(couch):
    """An HTTP client for checking what the server holds and serves, as ``couch.user`` (if any)."""
    with httpx.Client(timeout=30, auth=couch.user) as client:
        yield client
