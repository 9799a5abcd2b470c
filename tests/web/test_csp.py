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


@pytest.mark.parametrize("backend", ["couchdb3"], indirect=True)
def test_egret_finds_the_sandbox_and_one_command_lets_the_app_run_on_couchdb_3(couch, project, browser, tmp_path):
    """On a stock Apache CouchDB 3.5: `egret push` warns, `egret csp` says why, `egret csp --apply` (a server
    admin) fixes it; the app then runs while a task's HTML file still runs no script."""
    import subprocess
    import sys

    from dirt_run import dirt_env

    def egret(*args, login=couch.user):
        env = dirt_env(DIRT_COUCHDB_USER=login[0], DIRT_COUCHDB_PASSWORD=login[1], COUCHDB_USER=None,
                       COUCHDB_PASSWORD=None)
        return subprocess.run([sys.executable, "-m", "egret", *args], cwd=project.root / "web", env=env,
                              capture_output=True, text=True, timeout=120)

    db_url = f"{couch.url}/{project.dbname}"
    pushed = egret("push", db_url)
    assert pushed.returncode == 0, pushed.stderr
    assert "Content-Security-Policy: sandbox, so its scripts will not run" in pushed.stderr
    assert f"`egret csp {db_url} --apply`" in pushed.stderr
    checked = egret("csp", db_url)
    assert checked.returncode == 1 and "'sandbox' without allow-scripts runs no script at all" in checked.stderr
    refused = egret("csp", db_url, "--apply")                 # the database's admin is no server admin
    assert refused.returncode == 1 and "needs a server admin" in refused.stderr
    old = couch.config("csp", "attachments_header_value", None)
    try:
        fixed = egret("csp", db_url, "--apply", login=couch.admin)
        assert fixed.returncode == 0, fixed.stderr
        assert "set [csp] attachments_header_value = default-src 'self'; script-src 'self';" in fixed.stdout
        assert "(was: not set, so CouchDB's default: sandbox)" in fixed.stdout
        assert fixed.stdout.strip().endswith("the app's scripts run")
        assert "warning" not in egret("push", db_url).stderr
        # the app runs
        browser.sign_in(couch.url, *couch.user)
        browser.open(f"{db_url}/_design/proj/index.html")
        assert browser.js("return document.getElementById('live').dataset.state") in ("on", "connecting")
        # a task's HTML file, even served as HTML, runs none of its scripts
        page = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">hello"
        project.db.save({"_id": "t-html", "type": "task", "record_id": "r1", "name": "x", "created": 1,
                         "_attachments": {"report.html": {"content_type": "text/html", "data": base64(page)}}})
        browser.driver.get(f"{db_url}/t-html/report.html")
        browser.wait(lambda: "hello" in browser.text("body"), what="the report")
        time.sleep(0.3)   # give an onerror handler the chance it must not get
        assert browser.driver.title != "pwned"
        assert any("Content Security Policy" in e for e in browser.console_errors())
    finally:
        couch.config("csp", "attachments_header_value", old)


def base64(text: str) -> str:
    import base64 as b64
    return b64.b64encode(text.encode()).decode()
