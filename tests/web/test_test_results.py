"""JUnit XML a task attaches: parsed by a real `dirt serve`, shown on the record page, followed per test."""
from __future__ import annotations

import time

from cidata import record, store
from webtools import run_cli

TASK = '''
FAIL = {fail}
REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="{{failures}}" errors="0" skipped="0">
<testcase classname="tests.test_api" name="test_get" time="0.01"/>
<testcase classname="tests.test_api" name="test_post" time="0.02">{{failure}}</testcase>
<testcase classname="tests.test_api" name="test_&lt;html&gt;" time="0.01"/>
</testsuite></testsuites>"""
FAILURE = '<failure message="AssertionError: 503 != 201 &lt;b&gt;">def test_post():\\n&gt;   assert post() == 201</failure>'


def execute():
    report = REPORT.format(failures=int(FAIL), failure=FAILURE if FAIL else "")
    return {{"success": not FAIL,
             "attachments": [{{"filename": "junit.xml", "contents": report, "link_name": "Test report"}}]}}


if __name__ == '__channelexec__':
    channel.send(execute())
'''


def test_junit_reports_are_counted_shown_and_followed(project, app, browser):
    now = time.time()
    run_cli("dirt", "updatenodes", "localhost", cwd=project.root)
    project.write_task("unit", TASK.format(fail=False))
    store(project.db, [record("ja", now - 300, branch="main")])
    project.add_task("unit", "ja-unit", record_id="ja", created=now - 300)
    run_cli("dirt", "serve", "--until-idle", cwd=project.root)

    project.write_task("unit", TASK.format(fail=True))     # a commit breaks test_post
    store(project.db, [record("jb", now - 200, branch="main"), record("jc", now - 100, branch="main")])
    project.add_task("unit", "jb-unit", record_id="jb", created=now - 200)
    project.add_task("unit", "jc-unit", record_id="jc", created=now - 100)
    run_cli("dirt", "serve", "--until-idle", cwd=project.root)

    tests = project.task("jc-unit")["results"]["tests"]
    assert (tests["total"], tests["passed"], tests["failed"]) == (3, 2, 1)
    assert tests["failures"][0]["test"] == "tests.test_api.test_post"

    browser.open(app + "record.html?id=jc")
    row = browser.text("tr[data-id='jc-unit']")
    assert "3 tests: 2 passed, 1 failed" in row
    assert "tests.test_api.test_post" in row and "AssertionError: 503 != 201 <b>" in row
    browser.click("tr[data-id='jc-unit'] button.details-toggle")
    browser.wait("return document.querySelector('tr.details .failing-tests pre')", what="the failing test's output")
    assert ">   assert post() == 201" in browser.text("tr.details .failing-tests")
    browser.screenshot("record-tests")
    browser.open(app + "record.html?id=ja")
    assert "3 tests: 3 passed" in browser.text("tr[data-id='ja-unit']")

    # the test's history: failing since jb, last passed in ja
    browser.open(app + "record.html?id=jc")
    browser.click("tr[data-id='jc-unit'] a.test-name")
    browser.wait(lambda: "test.html" in browser.driver.current_url, what="the test's page")
    browser.wait("return document.body.getAttribute('data-ready')", what="the test's history")
    assert browser.text("#test-name") == "tests.test_api.test_post"
    streak = browser.text("#streaks")
    assert "Failing since jb" in streak and "last passed in ja" in streak
    assert browser.attrs("#streaks a.first-record", "href")[0].endswith("record.html?id=jb")
    assert browser.attrs("#test-runs tbody tr", "data-id") == ["jc-unit", "jb-unit", "ja-unit"]
    browser.screenshot("test-history")
    assert browser.dialogs() == [] and browser.console_errors() == []
