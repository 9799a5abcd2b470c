"""Pipelines in the browser: a record's tasks in the order they run, a matrix as a grid,
skipped tasks with their reason, and the branches page's bisect button."""
from __future__ import annotations

import time

from dirt.matrix import expand, parse_axis
from dirt_run import add_nodes, serve_until_idle

PASSES = "if __name__ == '__channelexec__':\n    channel.send({'success': True})\n"
FAILS = "if __name__ == '__channelexec__':\n    channel.send({'success': False, 'reason': 'it broke'})\n"
TAKES = ("if __name__ == '__channelexec__':\n    kwargs = channel.receive()\n"
         "    channel.send({'success': True, 'python': kwargs['python']})\n")


def test_the_record_page_orders_a_pipeline_grids_a_matrix_and_shows_skips(project, app, browser):
    add_nodes(project, "localhost")
    for name, source in (("build", PASSES), ("test", TAKES), ("package", PASSES), ("broken", FAILS),
                         ("after_broken", PASSES)):
        project.write_task(name, source)
    base = {"_id": "r1-test", "type": "task", "record_id": "r1", "name": "test", "created": 2, "after": ["build"]}
    docs = [{"_id": "r1-package", "type": "task", "record_id": "r1", "name": "package", "created": 1,
             "after": ["test"]},
            {"_id": "r1-build", "type": "task", "record_id": "r1", "name": "build", "created": 3},
            {"_id": "r1-broken", "type": "task", "record_id": "r1", "name": "broken", "created": 3},
            {"_id": "r1-after-broken", "type": "task", "record_id": "r1", "name": "after_broken", "created": 3,
             "after": ["broken"]}]
    docs += expand(base, [parse_axis("platform=linux,osx"), parse_axis("python=3.11,3.12")])
    for doc in docs:
        project.db.save(doc)
    serve_until_idle(project)           # the osx tests wait (no such node), so package waits for them

    browser.open(app + "record.html?id=r1")
    order = browser.attrs("#tasks tbody tr.task", "data-id")
    assert order.index("r1-build") < order.index("r1-test-linux-python=3.11") < order.index("r1-package")
    assert order.index("r1-broken") < order.index("r1-after-broken")

    grid = "#matrices .matrix[data-name='test']"
    assert not browser.js("return document.getElementById('matrices').hidden")
    assert browser.texts(f"{grid} thead th") == ["platform", "python=3.11", "python=3.12"]
    assert browser.texts(f"{grid} tbody th") == ["linux", "osx"]
    cells = browser.js(f"return Array.from(document.querySelectorAll(\"{grid} td.cell\"))"
                       ".map(td => [td.dataset.row, td.dataset.col, td.textContent])")
    assert cells == [["linux", "python=3.11", "passed"], ["linux", "python=3.12", "passed"],
                     ["osx", "python=3.11", "waiting"], ["osx", "python=3.12", "waiting"]]
    link = browser.attrs(f"{grid} td.cell a", "href")[0]
    assert link.endswith("#task-r1-test-linux-python%3D3.11")

    skipped = browser.text("tr[data-id='r1-after-broken']")
    assert "skipped" in skipped and "broken failed" in skipped and "after broken" in skipped
    assert browser.attrs("tr[data-id='r1-after-broken'] .pill", "class") == ["pill state-skipped"]
    package = browser.text("tr[data-id='r1-package']")
    assert "waiting for test (r1-test-linux-python=3.11) (passed)" not in package     # only what is open
    assert "waiting for test (r1-test-osx-python=3.11) (waiting), test (r1-test-osx-python=3.12) (waiting)" in package
    assert "skipped" in browser.texts("#filters .chip")[-1]
    assert browser.text("#record-verdict .pill") == "failed"
    browser.screenshot("record-pipeline")


LEVELS = ("import os\nif __name__ == '__channelexec__':\n"
          "    channel.send({'success': int(os.environ['DIRT_RECORD_ID'][1:]) < 4})\n")


def test_the_branches_page_bisects_a_broken_branch_with_one_button(project, app, browser):
    """c0 passed, c7 failed, c1..c6 never ran: the button finds c4, live."""
    from dirt_run import BackgroundServer, wait_for

    add_nodes(project, "localhost")
    project.write_task("check", LEVELS)
    for i in range(8):
        project.db.save({"_id": f"c{i}", "type": "record", "branch": "main", "created": 100 + i,
                         "description": f"commit {i}"})
    for record in ("c0", "c7"):
        project.add_task("check", f"{record}-check", record_id=record)
    with BackgroundServer(project):
        wait_for(lambda: project.task("c7-check").get("state") == "failed", timeout=60, what="c7's check")
        browser.open(app + "branches.html")
        row = "#branches tr[data-branch='main']"
        assert "broken by c7" in browser.text(row) and "last passed: c0" in browser.text(row)
        assert "6 records between c0 and c7 did not run" in browser.attrs(f"{row} button.bisect-start", "title")[0]
        browser.click(f"{row} button.bisect-start")
        browser.wait(lambda: browser.texts(f"{row} select.bisect-task option") == ["check"], what="the task choice")
        browser.click(f"{row} button.bisect-go")
        browser.wait(lambda: "broken by c4" in browser.text(row), timeout=60, what="the bisect's answer on the page")
        line = browser.text(f"{row} .bisect-state[data-state='done']")
        assert line == "bisect of check from c0 to c7: first failing record c4"
        assert browser.attrs(f"{row} .bisect-state a.strong", "href")[0].endswith("record.html?id=c4")
        assert not browser.texts(f"{row} button.bisect-start")           # nothing untested is left
        browser.screenshot("branches-bisect")
    doc = project.db.get("bisect:c0..c7:check")
    assert doc["state"] == "done" and doc["candidates"] == ["c4"] and doc["branch"] == "main"


def test_validate_doc_update_checks_bisect_documents_and_knows_skipped(project, app):
    import httpx

    db_url = f"{project.couch_url}/{project.dbname}"
    refused = httpx.post(db_url, json={"type": "bisect", "task": "check", "good": "r0"}, timeout=30)
    assert refused.status_code == 403 and "bad is missing" in refused.json()["reason"]
    refused = httpx.post(db_url, json={"type": "bisect", "task": "", "good": "r0", "bad": "r1"}, timeout=30)
    assert refused.status_code == 403 and "task must be a non-empty string" in refused.json()["reason"]
    assert httpx.post(db_url, json={"type": "bisect", "task": "check", "good": "r0", "bad": "r1"},
                      timeout=30).status_code == 201
    assert httpx.post(db_url, json={"type": "task", "record_id": "r1", "name": "x", "state": "skipped",
                                    "reason": "build failed"}, timeout=30).status_code == 201


from test_actions_web import confirm, sign_in, site  # noqa: E402,F401  (site: the fixture, set up by `dirt setup`)


def test_rerun_of_a_skipped_task_in_the_browser_reruns_the_build_it_waited_for(site, browser):
    make, logins = site
    db, app = make()
    now = time.time()
    db.save({"_id": "p-compile", "type": "task", "record_id": "r1", "name": "compile", "created": now,
             "state": "failed", "node": "n1", "started": now - 5, "completed": now - 4,
             "results": {"success": False, "reason": "it broke"}})
    db.save({"_id": "p-check", "type": "task", "record_id": "r1", "name": "check", "created": now,
             "after": ["compile"], "state": "skipped", "reason": "compile failed", "completed": now - 3})
    browser.open(app + "record.html?id=r1")
    sign_in(browser, *logins["olga"])
    confirm(browser, "tr[data-id='p-check'] .act-rerun button")
    browser.wait(lambda: "Rerunning 2 tasks: p-check, p-compile (the earlier runs are kept)." in browser.text("#done"),
                 timeout=40, what="the rerun of both to be confirmed")
    for task_id, state in (("p-compile", "failed"), ("p-check", "skipped")):
        doc = db.get(task_id)
        assert doc["state"] == "waiting" and doc["run"] == 2 and doc["runs"][0]["state"] == state
