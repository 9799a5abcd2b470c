"""Fixtures for the web app's tests: headless Chromium, and the app pushed to a project's database.

The servers (``couch``, ``secure_couch``) and ``project`` come from the
top-level conftest; helpers live in ``webtools``. The browser starts once per
session and is reset (cookies, page, log) around each test. Screenshots go to
``test-artifacts/web/``.
"""
from __future__ import annotations

import pytest

from webtools import RECOMMENDED_CSP, Browser, push_app


@pytest.fixture(scope="session")
def web_artifacts(artifacts_dir):
    path = artifacts_dir / "web"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium(web_artifacts):
    browser = Browser(web_artifacts)
    yield browser
    browser.close()


@pytest.fixture
def browser(chromium):
    chromium.reset()
    yield chromium
    chromium.reset()


@pytest.fixture
def app(project, couch):
    """The project's web app, pushed to its database: the app's URL (pages are relative to it)."""
    return push_app(project.root / "web", project.db_url)


@pytest.fixture
def reader(couch, browser):
    """The browser as a reader of the project's database.

    On pouchdb-server anyone may read. On Apache CouchDB 3 the database is
    members-only, so the browser signs in (``/_session``) as its member, and
    the server sends the Content-Security-Policy that docs/web.rst recommends
    (set at run time under ``/_node/_local/_config``, put back afterwards)
    instead of its default ``sandbox``, under which no script runs.
    """
    if couch.kind != "couchdb3":
        yield browser
        return
    old = couch.config("csp", "attachments_header_value", RECOMMENDED_CSP)
    try:
        browser.sign_in(couch.url, *couch.user)
        yield browser
    finally:
        couch.config("csp", "attachments_header_value", old)
