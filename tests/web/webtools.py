"""Helpers for the web app's tests: a headless Chromium, pushing the app, running the CLIs.

The browser is Debian's Chromium driven by its own chromedriver through
selenium (never a downloaded browser).
"""
from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from egret.couch import Couch, Target
from egret.csp import APP_POLICY
from egret.push import push_directory

# What `egret csp --apply` sets as CouchDB's [csp] attachments_header_value (docs/web.rst).
RECOMMENDED_CSP = APP_POLICY

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--no-first-run",
                  "--window-size=1360,900")

# Runs before any script of every page: records alert()/confirm()/prompt()
# calls instead of opening dialogs, so a test can assert that none happened.
RECORD_DIALOGS = """
window.__dialogs = [];
window.alert = window.confirm = window.prompt = function (m) { window.__dialogs.push(String(m)); };
"""


class Browser:
    """A selenium-driven headless Chromium with the waits these tests need."""

    def __init__(self, artifacts: Path):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        for path in (CHROMIUM, CHROMEDRIVER):
            if not Path(path).exists():
                pytest.fail(f"{path} is missing: install Chromium with `apt-get install chromium chromium-driver` "
                            "(scripts/setup-env does)", pytrace=False)
        self.profile = tempfile.mkdtemp(prefix="dirt-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_DIALOGS})
        self.artifacts = artifacts

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    def reset(self) -> None:
        self.driver.get("about:blank")
        # every site's cookies (delete_all_cookies only reaches the current page's, none on about:blank),
        # so a session signed in by one test does not carry over to the next
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get_log("browser")  # drop what earlier tests logged

    def sign_in(self, server_url: str, name: str, password: str) -> None:
        """Log in to CouchDB as a reader would (``POST /_session``): the browser keeps the cookie."""
        self.driver.get(f"{server_url}/_up")
        answer = self.driver.execute_async_script(
            "var done = arguments[2];"
            "fetch('/_session', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({name: arguments[0], password: arguments[1]})})"
            ".then(r => done(r.status), e => done(String(e)));", name, password)
        assert answer == 200, f"POST /_session as {name}: {answer}"
        self.driver.get_log("browser")   # drop the /favicon.ico 404 of that bare JSON page

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, predicate, timeout: float = 20.0, what: str = "the page"):
        """Poll ``predicate()`` (a callable, or JavaScript returning a truthy value) until truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate() if callable(predicate) else self.js(predicate)
            if value:
                return value
            if time.monotonic() > deadline:
                done = self.js("return performance.getEntriesByType('resource').map("
                               "e => Math.round(e.startTime) + '+' + Math.round(e.duration) + 'ms ' + e.name)")
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; page text:\n"
                                     f"{self.text()[:2000]}\nrequests done:\n" + "\n".join(done or []))
            time.sleep(0.1)

    def open(self, url: str, timeout: float = 30.0) -> None:
        """Load ``url`` and wait until the page has rendered its data once."""
        self.driver.get(url)
        self.wait("return document.body && (document.body.getAttribute('data-ready') ||"
                  " document.body.getAttribute('data-error'))", timeout, what=f"{url} to render")
        error = self.js("return document.body.getAttribute('data-error') && "
                        "document.getElementById('notice').textContent")
        assert not error, f"{url}: {error}"

    def renders(self) -> int:
        return int(self.js("return document.body.getAttribute('data-ready') || '0'"))

    def wait_rerender(self, before: int, timeout: float = 20.0) -> None:
        self.wait(lambda: self.renders() > before, timeout, "the page to render again")

    def text(self, selector: str = "body") -> str:
        return self.js("var e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector)

    def texts(self, selector: str) -> list[str]:
        return self.js("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText)", selector)

    def attrs(self, selector: str, name: str) -> list[str]:
        return self.js("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]))",
                       selector, name)

    def click(self, selector: str) -> None:
        self.js("document.querySelector(arguments[0]).click()", selector)

    def dialogs(self) -> list[str]:
        return self.js("return window.__dialogs || []")

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, name: str, max_height: int = 4000) -> Path:
        """Save the page (all of it, up to ``max_height`` pixels) as ARTIFACTS/NAME.png."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": 1}})
        path = self.artifacts / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def push_app(web_dir: Path, db_url: str) -> str:
    """Push a web/ directory with egret; the URL of the app's folder (ends with /)."""
    with Couch(Target.parse(db_url)) as couch:
        result = push_directory(web_dir, couch)
    return result.url.rsplit("/", 1)[0] + "/"


def run_cli(module: str, *args: str, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` to the end, as a user would run it; fails the test if it fails."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{module} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


class HeaderProxy:
    """A small HTTP proxy in front of a server that adds response headers (as CouchDB's [csp] settings do).

    pouchdb-server cannot send a Content-Security-Policy; this lets the tests
    serve the app the way Apache CouchDB 3.2+ does.
    """

    HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}

    def __init__(self, target: str, headers: dict[str, str]):
        import http.server
        import threading

        import httpx

        proxy = self
        self.target = target.rstrip("/")
        self.headers = headers
        self.client = httpx.Client(timeout=60)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                sent = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP | {"accept-encoding"}}
                answer = proxy.client.request(self.command, proxy.target + self.path, headers=sent, content=body)
                data = answer.content
                self.send_response(answer.status_code)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in proxy.HOP:
                        self.send_header(key, value)
                for key, value in proxy.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()
