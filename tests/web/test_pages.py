"""The web app in headless Chromium, against data written by real `dirt serve` runs.

Each test uses a project made by `dirt create`, its web app pushed with egret
to a real pouchdb-server, and looks at what the pages show.
"""
from __future__ import annotations

import multiprocessing
import platform
import re
import subprocess
import sys
import time
from urllib.parse import quote

import httpx
import pytest

from cidata import ROUNDED_DOWN
from dirt_run import DirtServe
from webtools import push_app, run_cli


@pytest.mark.both_servers
def test_quick_start_pages_show_the_example_project(project, couch, reader):
    """The Quick Start, as a user types it; then every page, with a screenshot of each.

    On Apache CouchDB 3 the database is members-only: the tools get the
    member's credentials, the browser signs in.
    """
    browser = reader

    def screenshot(name: str) -> None:
        browser.screenshot(name if couch.kind == "pouchdb" else f"{name}-{couch.kind}")

    db_url = project.db_url
    pushed = run_cli("egret", "push", db_url, cwd=project.root / "web")
    app = pushed.stdout.strip().splitlines()[-1].rsplit("/", 1)[0] + "/"
    assert app == f"{couch.url}/{project.dbname}/_design/proj/"
    run_cli("egret", "pushdata", "--update", db_url, "test_data.json", cwd=project.root / "web")
    project.add_task("examples.simple", "r1-sparc", record_id="r1", created=time.time(),
                     requires=["architecture is sparc64"])
    run_cli("dirt", "updatenodes", "localhost", cwd=project.root)
    run_cli("dirt", "serve", "--until-idle", cwd=project.root)

    # Overview: the sample record, its counts and bar.
    browser.open(app + "index.html")
    rows = browser.texts("#records tbody tr")
    assert len(rows) == 1 and rows[0].startswith("r1")
    assert "sample record: the example tasks" in rows[0]
    assert "3 passed" in rows[0] and "1 waiting" in rows[0]
    assert browser.attrs("#records .bar .seg", "class") == ["seg state-passed", "seg state-waiting"]
    assert browser.text("#stat-records") == "1" and browser.text("#stat-waiting") == "1"
    # no dirt serve runs now (it ran --until-idle): no node is up
    assert browser.text("#stat-nodes") == "0 up · 1 not held (no dirt serve runs)"
    screenshot("overview")

    # Record: each task with its node, times, status, results and files.
    browser.click("#records tbody a")
    browser.wait("return document.body.getAttribute('data-ready')", what="the record page")
    assert browser.driver.current_url == app + "record.html?id=r1"
    assert browser.text("#record-id") == "r1"
    assert browser.text("#record-description") == "sample record: the example tasks"
    rows = browser.texts("#tasks tbody tr.task")
    assert [row.split("\n")[0] for row in rows] == [
        "examples.attachments", "examples.kwargs", "examples.simple", "examples.simple"]
    tasks = {row.split("\n")[0]: row for row in rows}
    kwargs = tasks["examples.kwargs"]
    assert "passed" in kwargs and "localhost" in kwargs and 'foo: 42' in kwargs and 'bar: "baz"' in kwargs
    assert re.fullmatch(r"\d+ ms|\d+\.\d s", browser.text("#tasks tr[data-id='r1-kwargs'] td.col-num"))
    assert "sum: 4" in browser.text("#tasks tr[data-id='r1-simple']")
    sparc = browser.text("#tasks tr[data-id='r1-sparc']")
    assert "waiting" in sparc and "sparc64" in sparc
    # attachments: the link_name one by its name, every file reachable
    links = browser.js("return Array.from(document.querySelectorAll(\"tr[data-id='r1-attachments'] .files a\"))"
                       ".map(a => [a.textContent, a.href])")
    assert [text for text, _ in links] == ["Report", "data.csv"]
    assert httpx.get(links[0][1], auth=couch.user).text.startswith("ran on ")
    assert httpx.get(links[1][1], auth=couch.user).text == "x,y\n1,2\n3,4\n"
    # raw results, readably, on demand
    browser.click("tr[data-id='r1-kwargs'] button.details-toggle")
    browser.wait("return document.querySelector('tr.details table.kv')", what="the task's details")
    details = browser.text("tr.details").lower()
    assert "foo" in details and "42" in details and "kwargs" in details and "attempts" in details
    screenshot("record")

    # Task history: runs across records, and the chart.
    browser.open(app + "task.html?name=" + quote("examples.simple"))
    assert browser.text("#task-name") == "examples.simple"
    runs = browser.texts("#runs tbody tr")
    assert len(runs) == 2 and all(r.startswith("r1") for r in runs)
    assert sorted(browser.attrs("#chart .run", "class")) == ["run state-passed", "run state-waiting no-duration"]
    screenshot("task-history")
    browser.open(app + "task.html")
    # the names of the newest finished runs (the waiting one is not finished)
    assert [row.split("\t")[:3] for row in browser.texts("#names tbody tr")] == [
        ["examples.attachments", "1", "100%"], ["examples.kwargs", "1", "100%"], ["examples.simple", "1", "100%"]]
    browser.open(app + "task.html?all=1")
    assert [row.split("\t")[:2] for row in browser.texts("#names tbody tr")] == [
        ["examples.attachments", "1"], ["examples.kwargs", "1"], ["examples.simple", "2"]]
    screenshot("task-names")

    # Nodes: platform, architecture, cpus, slots, health, last seen; and the servers.
    browser.open(app + "nodes.html")
    node = browser.text("#nodes tbody tr")
    assert node.startswith("localhost") and "no live server" in node and sys.platform in node
    assert platform.machine() in node and f"0 / {multiprocessing.cpu_count()}" in node
    assert "stopped" in browser.text("#servers tbody tr")
    with DirtServe(project.root, log_path=project.root / "serve.log") as live:
        browser.wait("return /alive/.test(document.querySelector('#servers tbody tr').textContent) && "
                     "/held by/.test(document.querySelector('#nodes tbody tr').textContent)",
                     what="the nodes page to show the live server holding the node")
        node = browser.text("#nodes tbody tr")
        assert "up" in node and "held by" in node and ("just now" in node or "s ago" in node)
        assert f"pid {live.pid} on " in browser.text("#servers tbody tr")
        screenshot("nodes")
        browser.open(app + "index.html")
        browser.wait("return document.querySelector('#stat-nodes').textContent === '1 up'",
                     what="the overview to count the node up")

    # Waiting: the task that no node can run, and why.
    browser.open(app + "waiting.html")
    groups = browser.texts("#groups .group")
    assert len(groups) == 1
    assert "no enabled node can run it" in groups[0] and "sparc64" in groups[0] and "r1-sparc" in groups[0]
    screenshot("waiting")
    assert browser.dialogs() == []
    assert browser.console_errors() == []


@pytest.mark.both_servers
def test_results_roll_in_without_a_reload(project, couch, app, reader, tmp_path):
    """A running `dirt serve`; new records and tasks appear and finish on open pages (on CouchDB 3 the
    page follows ``_changes`` with its opaque sequences)."""
    browser = reader
    project.write_task("slow", """
        import time
        def execute(seconds=1.5):
            time.sleep(seconds)
            return {'success': True, 'slept': seconds}
        if __name__ == '__channelexec__':
            channel.send(execute(**channel.receive()))
    """)
    run_cli("dirt", "updatenodes", "localhost", cwd=project.root)
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([sys.executable, "-m", "dirt", "serve"], cwd=project.root, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        browser.open(app + "index.html")
        browser.wait("return document.getElementById('live').dataset.state === 'on'", what="the live badge")
        browser.js("window.__sameDocument = true")
        assert [r.split("\t")[0] for r in browser.texts("#records tbody tr")] == ["r1"]

        now = time.time()
        project.db.save({"_id": "r2", "type": "record", "description": "revision two", "created": now})
        browser.wait(lambda: "revision two" in browser.text("#records"), what="the new record")
        project.db.save({"_id": "r2-slow", "type": "task", "record_id": "r2", "name": "slow", "created": now,
                         "kwargs": {"seconds": 1.5}})
        project.db.save({"_id": "r2-fast", "type": "task", "record_id": "r2", "name": "slow", "created": now,
                         "kwargs": {"seconds": 0.1}})
        browser.wait(lambda: "2 passed" in browser.text("#records tr[data-id='r2']"), timeout=60,
                     what="r2's tasks to pass on the overview")
        assert browser.js("return window.__sameDocument") is True

        browser.open(app + "record.html?id=r2")
        browser.js("window.__sameDocument = true")
        project.db.save({"_id": "r2-late", "type": "task", "record_id": "r2", "name": "slow", "created": now,
                         "kwargs": {"seconds": 2}})
        browser.wait(lambda: "running" in browser.text("tr[data-id='r2-late']"), what="the task to be running")
        assert re.search(r"\d", browser.text("tr[data-id='r2-late'] td.col-num"))  # running for ...
        browser.wait(lambda: "passed" in browser.text("tr[data-id='r2-late']"), timeout=60,
                     what="the task to pass")
        assert "slept: 2" in browser.text("tr[data-id='r2-late']")
        assert browser.js("return window.__sameDocument") is True
        browser.screenshot("record-live" if couch.kind == "pouchdb" else f"record-live-{couch.kind}")
    finally:
        serve.terminate()
        serve.wait(30)
        log.close()


def test_overview_pages_through_many_records(project, app, browser):
    # rec010 and same-time share a time that pouchdb-server's views give back rounded down
    docs = [{"_id": f"rec{i:03d}", "type": "record", "description": f"record number {i}",
             "created": ROUNDED_DOWN if i == 10 else ROUNDED_DOWN + i - 10} for i in range(60)]
    docs.append({"_id": "same-time", "type": "record", "description": "same second as rec010",
                 "created": ROUNDED_DOWN})
    assert all(r.get("ok") for r in project.db.bulk_docs(docs))
    project.db.delete_doc(project.db.get("r1"))

    def ids():
        return [row.split("\t")[0] for row in browser.texts("#records tbody tr")]

    def go(link):
        before = browser.driver.current_url
        browser.click(link)
        browser.wait(lambda: browser.driver.current_url != before, what=f"{link} to navigate")
        browser.wait("return document.body.getAttribute('data-ready')", what="the next page")

    browser.open(app + "index.html")
    assert ids() == [f"rec{i:03d}" for i in range(59, 34, -1)]
    assert browser.text("#stat-records") == "61"
    assert browser.js("return document.getElementById('newer').hidden") is True
    go("#older")
    assert ids() == [f"rec{i:03d}" for i in range(34, 10, -1)] + ["same-time"], browser.driver.current_url
    go("#older")
    assert ids() == ["rec010"] + [f"rec{i:03d}" for i in range(9, -1, -1)]
    assert browser.js("return document.getElementById('older').hidden") is True
    browser.screenshot("overview-last-page")
    go("#newer")
    assert ids() == [f"rec{i:03d}" for i in range(34, 10, -1)] + ["same-time"], browser.driver.current_url
    go("#newer")
    assert ids() == [f"rec{i:03d}" for i in range(59, 34, -1)]
    assert browser.js("return document.getElementById('newest').hidden") is True


def test_reader_who_is_not_an_admin_sees_every_page(secure_couch, tmp_path, browser):
    """On a server with an admin (like CouchDB 3), a database reader signed in with a session cookie."""
    from dirt.couch import Database
    from dirt.create import create_project

    admin = secure_couch.admin
    db_name = f"reader{int(time.time() * 1000) % 10**8}"
    root = create_project(tmp_path / "proj", db_name)
    app = push_app(root / "web", f"{secure_couch.auth_url}/{db_name}").replace(f"{admin[0]}:{admin[1]}@", "")
    with httpx.Client(auth=admin, timeout=30) as http:
        user = {"_id": "org.couchdb.user:ann", "name": "ann", "password": "ann-pw", "type": "user", "roles": []}
        assert http.put(f"{secure_couch.url}/_users/org.couchdb.user:ann", json=user).status_code in (201, 202, 409)
        security = {"admins": {"names": [], "roles": []}, "members": {"names": ["ann"], "roles": []}}
        http.put(f"{secure_couch.url}/{db_name}/_security", json=security).raise_for_status()
    db = Database.from_url(secure_couch.auth_url, db_name)
    now = time.time()
    db.save({"_id": "r1", "type": "record", "description": "seen by a reader", "created": now})
    db.save({"_id": "t1", "type": "task", "record_id": "r1", "name": "build", "created": now, "state": "passed",
             "node": "n1", "started": now, "completed": now + 2, "results": {"success": True}})
    db.save({"_id": "node:n1", "type": "node", "name": "n1", "enabled": True, "status": "up", "last_seen": now,
             "sys_info": {"cpu_count": 4, "platform": "Linux-6", "sys_platform": "linux", "architecture": "x86_64"}})

    seq_before = httpx.get(f"{secure_couch.url}/{db_name}", auth=admin).json()["update_seq"]

    # Anonymous: refused, not served.
    assert httpx.get(app + "index.html").status_code == 401
    browser.driver.get(secure_couch.url + "/")
    status = browser.driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        fetch('/_session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                            body: JSON.stringify({name: 'ann', password: 'ann-pw'})})
          .then(function (r) { done(r.status); }, function (e) { done(String(e)); });
    """)
    assert status == 200
    browser.open(app + "index.html")
    assert "seen by a reader" in browser.text("#records") and "1 passed" in browser.text("#records")
    browser.wait("return document.getElementById('live').dataset.state === 'on'", what="the live badge")
    browser.screenshot("overview-reader")
    for page, expected in [("record.html?id=r1", "build"), ("task.html?name=build", "r1"),
                           ("nodes.html", "n1"), ("waiting.html", "Nothing is waiting")]:
        browser.open(app + page)
        assert expected in browser.text("main"), page
    # Browsing wrote nothing.
    assert httpx.get(f"{secure_couch.url}/{db_name}", auth=admin).json()["update_seq"] == seq_before
    assert browser.console_errors() == []


def test_a_page_survives_the_database_going_away_and_coming_back(tmp_path, browser):
    """The server is killed and restarted, then the database deleted and made again: the page recovers."""
    import signal

    from servers import PouchServer

    from dirt.couch import Database
    from dirt.create import create_project

    server = PouchServer(tmp_path / "pouchdb").start()
    try:
        root = create_project(tmp_path / "proj", "comeback")
        db_url = f"{server.url}/comeback"
        app = push_app(root / "web", db_url)
        db = Database.from_url(server.url, "comeback")
        db.save({"_id": "r1", "type": "record", "description": "before", "created": time.time()})
        browser.open(app + "index.html")
        browser.wait("return document.getElementById('live').dataset.state === 'on'", what="the live badge")
        browser.js("window.__sameDocument = true")

        server.stop(signal.SIGKILL)
        browser.wait("return document.getElementById('live').dataset.state === 'offline'", what="offline")
        assert "offline" in browser.text("#live")
        browser.screenshot("overview-offline")
        server.start()
        db.save({"_id": "r2", "type": "record", "description": "written while the page was offline",
                 "created": time.time()})
        browser.wait(lambda: "written while the page was offline" in browser.text("#records"), timeout=40,
                     what="the record written during the outage")
        assert browser.text("#live") == "live"

        httpx.delete(db_url).raise_for_status()
        browser.wait("return document.getElementById('live').dataset.state === 'offline'", what="offline again")
        push_app(root / "web", db_url)
        db.save({"_id": "r3", "type": "record", "description": "a new database", "created": time.time()})
        browser.wait(lambda: "a new database" in browser.text("#records"), timeout=40, what="the new database")
        assert "before" not in browser.text("#records")
        browser.wait("return document.getElementById('notice').hidden", what="the error notice to go")
        assert browser.js("return window.__sameDocument") is True
    finally:
        server.stop()


def test_a_project_adds_its_own_view_and_page(project, couch, browser):
    """What the skeleton's README says: a view and a page in web/, then egret push."""
    web = project.root / "web"
    (web / "views" / "slow_tasks").mkdir()
    (web / "views" / "slow_tasks" / "map.js").write_text(
        "function (doc) {\n"
        "  if (doc.type === 'task' && doc.started && doc.completed && doc.completed - doc.started > 1)\n"
        "    emit(doc.completed - doc.started, doc.name);\n"
        "}\n")
    (web / "templates" / "slow.html").write_text(
        '{% extends "_layout.html" %}\n'
        '{% block title %}Slow tasks{% endblock %}\n'
        '{% block content %}<section class="card"><h1>Slow tasks</h1>'
        '<table class="grid"><tbody id="slow"></tbody></table></section>{% endblock %}\n'
        '{% block scripts %}<script src="{{ root }}js/slow.js"></script>{% endblock %}\n')
    (web / "_attachments" / "js" / "slow.js").write_text(
        "dirt.start(function () {\n"
        "  return dirt.view('slow_tasks', {descending: true, limit: 20}).then(function (answer) {\n"
        "    $('#slow').empty().append(answer.rows.map(function (row) {\n"
        "      return $('<tr>').append($('<td>').text(row.value), $('<td>').text(dirt.formatDuration(row.key)));\n"
        "    }));\n"
        "  });\n"
        "}, {type: 'task'});\n")
    (web / "_attachments" / "css" / "project.css").write_text("h1 { color: rgb(120, 40, 160); }\n")
    layout = (web / "templates" / "_layout.html").read_text()
    assert "{% block head %}{% endblock %}" in layout
    (web / "templates" / "slow.html").write_text((web / "templates" / "slow.html").read_text().replace(
        "{% block content %}", '{% block head %}<link rel="stylesheet" href="{{ root }}css/project.css">'
        '{% endblock %}\n{% block content %}'))
    app = push_app(web, f"{couch.url}/{project.dbname}")
    project.db.save({"_id": "t1", "type": "task", "record_id": "r1", "name": "compile", "created": 1,
                     "state": "passed", "started": 100, "completed": 190})
    browser.open(app + "slow.html")
    assert browser.texts("#slow tr") == ["compile\t1 min 30 s"]
    assert browser.js("return getComputedStyle(document.querySelector('h1')).color") == "rgb(120, 40, 160)"
    browser.screenshot("project-page")
