"""The app under a Content-Security-Policy, as Apache CouchDB 3.2+ serves attachments."""
from __future__ import annotations

import time

import httpx
import pytest

from webtools import RECOMMENDED_CSP as RECOMMENDED
from webtools import HeaderProxy


@pytest.fixture
def csp_app(project, couch, app):
    """Returns a function: the app's URL through a proxy that adds the given CSP to every response."""
    proxies = []

    def through(policy):
        proxy = HeaderProxy(couch.url, {"Content-Security-Policy": policy})
        proxies.append(proxy)
        return app.replace(couch.url, proxy.url)

    yield through
    for proxy in proxies:
        proxy.close()


def test_every_page_works_under_the_recommended_policy(project, csp_app, browser):
    now = time.time()
    project.db.save({"_id": "t1", "type": "task", "record_id": "r1", "name": "build", "created": now,
                     "state": "passed", "node": "n1", "started": now, "completed": now + 3,
                     "results": {"success": True, "lines": 12}})
    app = csp_app(RECOMMENDED)
    for page, expected in [("index.html", "test record"), ("record.html?id=r1", "lines: 12"),
                           ("task.html?name=build", "r1"), ("task.html", "build"), ("nodes.html", "No nodes"),
                           ("waiting.html", "Nothing is waiting"), ("file.html?doc=t1&name=x.html", "x.html"),
                           ("log.html?task=t1", "records no attempt"),
                           ("index.html?branch=main", "No records match"), ("branches.html", "No record has a"),
                           ("flaky.html", "No task is flaky"), ("test.html?task=build&test=t", "No run of build")]:
        browser.open(app + page)
        assert expected in browser.text("main"), page
        assert browser.js("return !!document.querySelector('svg.history-chart')") == (page.startswith("task.html?"))
        errors = browser.console_errors()
        assert not [e for e in errors if "Content Security Policy" in e], (page, errors)
    assert browser.js("return document.getElementById('live').dataset.state") == "on"


def test_the_default_sandbox_of_couchdb_3_2_is_explained(csp_app, browser):
    """CouchDB 3.2+ sends `sandbox` by default: no script runs, and the page says what to change."""
    app = csp_app("sandbox")
    browser.driver.get(app + "index.html")
    browser.wait(lambda: "attachments_header_value" in browser.text("#blocked") and
                 browser.js("return getComputedStyle(document.getElementById('blocked')).visibility") == "visible",
                 timeout=10, what="the explanation")
    browser.screenshot("csp-sandbox")


@pytest.mark.parametrize("backend", ["couchdb3"], indirect=True)
def test_a_stock_couchdb_3_sends_sandbox_and_the_page_says_what_to_change(couch, app, browser):
    """The same, on a real Apache CouchDB 3.5 as installed (no proxy): its own ``sandbox`` header."""
    browser.sign_in(couch.url, *couch.user)
    served = httpx.get(app + "index.html", auth=couch.user, timeout=30)
    assert served.status_code == 200 and served.headers["content-security-policy"] == "sandbox"
    browser.driver.get(app + "index.html")
    browser.wait(lambda: "attachments_header_value" in browser.text("#blocked") and
                 browser.js("return getComputedStyle(document.getElementById('blocked')).visibility") == "visible",
                 timeout=10, what="the explanation")
