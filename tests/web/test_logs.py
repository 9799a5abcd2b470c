"""Task output in the web app (log.html, and the record page): live tail, the attached log, colours as
styles, hostile text as text, search, the first error, tracebacks, HTML reports, provenance.

The documents are written in dirt's storage format (tests/web/logdocs.py) straight into the database,
so each page is driven through every state a log goes through; the traceback test runs a real task
through `dirt serve`.
"""
from __future__ import annotations

import json
import time

import pytest

from logdocs import (attachment, delete_chunk, finish_attempt, provenance, running_task, write_chunk)
from webtools import run_cli

XSS_LINES = ["<script>window.__ran = 'script'</script>", "<img src=x onerror=\"window.__ran = 'onerror'\">"]


def log_rows(browser) -> list[list[str]]:
    """The drawn rows: [line number, text] (an empty number for dirt's own rows)."""
    return browser.js("return Array.from(document.querySelectorAll('#log-view .log-row')).map(function (r) {"
                      " return [r.getAttribute('data-line') || '', r.querySelector('.tx').textContent]; })")


def nothing_injected(browser) -> list[str]:
    """Elements or handlers in the log that no page of ours makes: they would come from the task's text."""
    return browser.js("""
        return Array.from(document.querySelectorAll('main *')).filter(function (e) {
          if (/^(IMG|SCRIPT|IFRAME|OBJECT|EMBED|svg)$/.test(e.tagName)) return true;
          return Array.from(e.attributes).some(function (a) { return /^on/i.test(a.name); });
        }).map(function (e) { return e.outerHTML; });""")


@pytest.mark.both_servers
def test_a_running_tasks_output_appears_live_and_stays_when_it_ends(project, app, reader):
    browser = reader
    db = project.db
    started = time.time() - 5
    running_task(db, "t-live", started=started)
    write_chunk(db, "t-live", 1, 1, 1, ["$ make", "cc -c a.c", XSS_LINES[1]], t=started + 1)
    browser.open(app + "log.html?task=t-live")
    browser.wait(lambda: log_rows(browser) == [["1", "$ make"], ["2", "cc -c a.c"], ["3", XSS_LINES[1]]],
                 what="the first chunk")
    assert "streaming" in browser.text("#log-status")
    assert browser.js("return document.getElementById('log-follow').getAttribute('aria-pressed')") == "true"
    browser.js("window.__same_page = true")

    # New lines come without a reload, and the view keeps the newest in sight.
    write_chunk(db, "t-live", 1, 2, 4, ["cc -c b.c", "ld -o app a.o b.o"], t=started + 3)
    browser.wait(lambda: [r[0] for r in log_rows(browser)] == ["1", "2", "3", "4", "5"], what="the second chunk")
    assert log_rows(browser)[-1] == ["5", "ld -o app a.o b.o"]
    assert browser.js("return window.__same_page") is True

    # Over the cap: tail chunks after a gap, and the oldest of them deleted as newer come.
    write_chunk(db, "t-live", 1, 3, 40, ["test 40 ok", "test 41 ok"], tail=True)
    browser.wait(lambda: ["", "\u2026 34 lines cut \u2026"] in log_rows(browser), what="the cut mark")
    write_chunk(db, "t-live", 1, 4, 60, ["test 60 ok"], tail=True)
    delete_chunk(db, "t-live", 1, 3)
    browser.wait(lambda: log_rows(browser)[-2:] == [["", "\u2026 54 lines cut \u2026"], ["60", "test 60 ok"]],
                 what="the cut to grow as the oldest tail chunk goes")
    browser.screenshot("log-live")
    assert nothing_injected(browser) == [] and browser.js("return window.__ran") is None

    # The attempt ends: dirt attaches the whole capped log and deletes the chunks; the page reads the file.
    text = "$ make\ncc -c a.c\n" + XSS_LINES[1] + "\ncc -c b.c\nld -o app a.o b.o\n... 54 lines cut ...\ntest 60 ok\n"
    finish_attempt(db, "t-live", text, cut_lines=54, times=[[1, started + 1], [4, started + 3], [60, started + 4]],
                   results={"success": True})
    browser.wait("return document.body.getAttribute('data-log') === 'file:7'", what="the attached log")
    assert log_rows(browser) == [["1", "$ make"], ["2", "cc -c a.c"], ["3", XSS_LINES[1]], ["4", "cc -c b.c"],
                                 ["5", "ld -o app a.o b.o"], ["", "\u2026 54 lines cut \u2026"], ["60", "test 60 ok"]]
    assert browser.js("return window.__same_page") is True
    raw = browser.js("return document.getElementById('log-raw').href")
    assert raw.endswith("/t-live/log-1.txt")
    fetched = browser.driver.execute_async_script(
        "var done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done, e => done(String(e)));", raw)
    assert fetched == text
    assert "streaming" not in browser.text("#log-status") and "54 cut" in browser.text("#log-status")
    assert browser.js("return document.getElementById('log-follow').hidden") is True

    # The record page links the task's log; the attempt's files are not listed beside it.
    browser.open(app + "record.html?id=r1")
    links = browser.js("return Array.from(document.querySelectorAll(\"tr[data-id='t-live'] .files a\"))"
                       ".map(a => [a.textContent, a.getAttribute('href')])")
    assert links == [["log", "./log.html?task=t-live"]]
    assert nothing_injected(browser) == [] and browser.dialogs() == []
