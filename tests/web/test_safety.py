"""Safe by construction: what the database holds is shown as text, and task files cannot run script."""
from __future__ import annotations

import base64
import time
from urllib.parse import quote

import httpx

from webtools import run_cli

XSS = "<img src=x onerror=alert(1)>"
SCRIPT_PAGE = ("<html><body><h1 id=h>report</h1><script>"
               "try { parent.document.title = 'pwned'; } catch (e) {} "
               "try { top.alert('pwned'); } catch (e) {} alert('pwned');"
               "</script></body></html>")


def write_hostile_docs(db, now):
    db.save({"_id": "r-xss", "type": "record", "description": XSS, "created": now,
             "author": "<script>alert('author')</script>"})
    db.save({
        "_id": "t-xss", "type": "task", "record_id": "r-xss", "name": "<b>bold</b><img src=y onerror=alert(2)>",
        "created": now, "state": "failed", "node": "<i>node</i>", "started": now, "completed": now + 1,
        "reason": "<img src=z onerror=alert(3)>",
        "results": {"success": False, "html": "<svg onload=alert(4)>", "reason": "<img src=z onerror=alert(3)>",
                    "attach_links": [{"id": "report.html", "name": "<img src=w onerror=alert(5)>"}]},
        # as an older dirt, or a project that opted in, would have stored it
        "_attachments": {"report.html": {"content_type": "text/html",
                                         "data": base64.b64encode(SCRIPT_PAGE.encode()).decode()}},
    })
    db.save({"_id": "node:<img src=n onerror=alert(6)>", "type": "node", "name": "<img src=n onerror=alert(6)>",
             "enabled": False, "status": "down", "down_reason": "<script>alert(7)</script>", "down_since": now,
             "sys_info": {"cpu_count": 1, "platform": "<b>x</b>", "architecture": "<i>y</i>"}})
    db.save({"_id": "t-wait", "type": "task", "record_id": "r-xss", "name": "waits", "created": now,
             "state": "waiting", "reason": "<img src=v onerror=alert(8)>"})


def assert_nothing_ran(browser):
    assert browser.dialogs() == []
    injected = browser.js("""
        var all = Array.from(document.querySelectorAll('main *'));
        return all.filter(function (e) {
          if (e.tagName === 'IMG' && e.classList.contains('badge-img')) return false;   // the app's own badges
          if (/^(IMG|SCRIPT|I|OBJECT|EMBED)$/.test(e.tagName)) return true;
          if (e.tagName === 'svg' && !e.classList.contains('history-chart') && !e.parentNode.matches('.chip')) return true;
          if (e.tagName === 'B' && !e.parentNode.matches('.count, .chip, .tests-line, .streak')) return true;
          return Array.from(e.attributes).some(function (a) { return /^on/i.test(a.name); });
        }).map(function (e) { return e.outerHTML; });
    """)
    assert injected == []
    assert "pwned" not in browser.driver.title


def test_hostile_text_is_shown_as_text_everywhere(project, app, browser):
    write_hostile_docs(project.db, time.time())

    browser.open(app + "index.html")
    assert browser.text("#records tr[data-id='r-xss'] td.description .text") == XSS
    assert_nothing_ran(browser)
    browser.screenshot("overview-hostile")

    browser.open(app + "record.html?id=" + "r-xss")
    assert browser.text("#record-description") == XSS
    assert "<script>alert('author')</script>" in browser.text("#record-fields")
    row = browser.text("tr[data-id='t-xss']")
    assert "<b>bold</b><img src=y onerror=alert(2)>" in row and "<img src=z onerror=alert(3)>" in row
    assert "<svg onload=alert(4)>" in row and "<img src=w onerror=alert(5)>" in row and "<i>node</i>" in row
    browser.click("tr[data-id='t-xss'] button.details-toggle")
    browser.wait("return document.querySelector('tr.details table.kv')", what="the task's details")
    assert "<svg onload=alert(4)>" in browser.text("tr.details")
    assert_nothing_ran(browser)
    browser.screenshot("record-hostile")

    # The HTML file is linked through the sandboxed viewer, never opened in the app's origin.
    link = browser.js("return document.querySelector(\"tr[data-id='t-xss'] .files a\").href")
    assert "/file.html?doc=t-xss&name=report.html" in link
    browser.open(link)
    browser.wait("return document.getElementById('file-frame').getAttribute('data-shown') === 'rendered'",
                 what="the report in its frame")
    frame = browser.js("var f = document.getElementById('file-frame');"
                       " return [f.getAttribute('sandbox'), f.getAttribute('src'), f.getAttribute('srcdoc')]")
    assert frame[0] == "" and frame[1] is None and SCRIPT_PAGE in frame[2]   # rendered, without scripts
    time.sleep(1)  # give a script in the frame every chance to run
    assert_nothing_ran(browser)
    browser.screenshot("file-viewer")

    name = "<b>bold</b><img src=y onerror=alert(2)>"
    browser.open(app + "task.html?name=" + quote(name, safe=""))
    assert browser.text("#task-name") == name
    assert_nothing_ran(browser)
    for page in ("task.html", "nodes.html", "waiting.html"):
        browser.open(app + page)
        assert_nothing_ran(browser)
    browser.open(app + "nodes.html")
    assert "<img src=n onerror=alert(6)>" in browser.text("#nodes") and "<script>alert(7)</script>" in browser.text("#nodes")
    browser.open(app + "waiting.html")
    assert "<img src=v onerror=alert(8)>" in browser.text("#groups")
    assert_nothing_ran(browser)


def test_a_tasks_html_file_is_stored_as_text_unless_the_project_opts_in(project, couch, app, browser):
    """A real dirt serve run: an HTML report a task returns is served as text/plain, and runs nothing."""
    project.write_task("report", f"""
        def execute():
            return {{'success': True, 'attachments': [
                {{'filename': 'report.html', 'contents': {SCRIPT_PAGE!r}, 'link_name': 'HTML report'}},
                {{'filename': 'chart.svg', 'contents': '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'}},
            ]}}
        if __name__ == '__channelexec__':
            channel.send(execute())
    """)
    project.add_task("report", "t-report", record_id="r1")
    run_cli("dirt", "updatenodes", "localhost", cwd=project.root)
    run_cli("dirt", "serve", "--until-idle", cwd=project.root)
    doc = project.task("t-report")
    assert doc["state"] == "passed"
    assert doc["_attachments"]["report.html"]["content_type"].startswith("text/plain")
    assert doc["_attachments"]["chart.svg"]["content_type"].startswith("text/plain")

    browser.open(app + "record.html?id=r1")
    links = browser.js("return Array.from(document.querySelectorAll(\"tr[data-id='t-report'] .files a\"))"
                       ".map(a => [a.textContent, a.href])")
    # to the sandboxed viewer, which renders them without scripts (tests/web/test_logs.py)
    assert links == [["HTML report", f"{app}file.html?doc=t-report&name=report.html"],
                     ["chart.svg", f"{app}file.html?doc=t-report&name=chart.svg"]]
    raw = f"{couch.url}/{project.dbname}/t-report/report.html"
    browser.driver.get(raw)                    # straight to the file, in the app's origin
    time.sleep(0.5)
    assert browser.dialogs() == [] and "pwned" not in browser.driver.title
    assert "<script>" in browser.text("body")  # shown as the text it is
    assert httpx.get(raw).headers["content-type"].startswith("text/plain")


def test_validate_doc_update_refuses_malformed_records_and_tasks(project, app):
    db_url = f"{project.couch_url}/{project.dbname}"

    def put(doc):
        return httpx.post(db_url, json=doc, timeout=30)

    cases = [
        ({"type": "record", "description": "x", "created": "2012-09-07"}, "created must be a number"),
        ({"type": "record", "description": ["not", "text"], "created": 1}, "description must be a string"),
        ({"type": "record", "description": "x", "created": 1, "branch": ["main"]}, "branch must be a string"),
        ({"type": "record", "description": "x", "created": 1, "sha": 123}, "sha must be a string"),
        ({"type": "task", "name": "examples.simple", "created": 1}, "record_id is missing"),
        ({"type": "task", "record_id": "r1", "created": 1}, "name is missing"),
        ({"type": "task", "record_id": "r1", "name": "", "created": 1}, "name must be a task module name"),
        ({"type": "task", "record_id": "r1", "name": "x", "kwargs": [1, 2]}, "kwargs must be an object"),
        ({"type": "task", "record_id": "r1", "name": "x", "requires": "arch is x86_64"}, "requires must be a list"),
        ({"type": "task", "record_id": "r1", "name": "x", "timeout": -1}, "timeout must be a positive number"),
        ({"type": "task", "record_id": "r1", "name": "x", "max_attempts": 1.5}, "max_attempts must be a whole"),
        ({"type": "task", "record_id": "r1", "name": "x", "state": "done"}, "state must be one of"),
    ]
    for doc, message in cases:
        answer = put(doc)
        assert answer.status_code == 403, (doc, answer.text)
        assert answer.json()["error"] == "forbidden" and message in answer.json()["reason"], answer.json()
    for doc in ({"type": "record", "description": "fine", "created": 1315347385},
                {"type": "task", "record_id": "r1", "name": "examples.simple", "created": 1315347385,
                 "platform": "linux", "kwargs": {"a": 1}, "requires": ["architecture is x86_64"]},
                {"type": "something-else", "created": "whenever"}):
        assert put(doc).status_code == 201, doc


def test_an_old_malformed_task_can_still_be_given_its_error(project, couch):
    """A task stored before the app was pushed can still be updated by dirt (its bad field unchanged)."""
    from webtools import push_app

    project.db.save({"_id": "old", "type": "task", "record_id": "r1", "name": "x", "kwargs": "not a dict"})
    push_app(project.root / "web", f"{couch.url}/{project.dbname}")
    doc = project.db.get("old")
    doc.update(state="error", reason="kwargs must be an object", completed=time.time())
    project.db.save(doc)
    assert project.db.get("old")["state"] == "error"
