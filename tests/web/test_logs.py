"""Task output in the web app (log.html, and the record page): live tail, the attached log, colours as
styles, hostile text as text, search, the first error, tracebacks, HTML reports, provenance.

The documents are written in dirt's storage format (tests/web/logdocs.py) straight into the database,
so each page is driven through every state a log goes through; the traceback test runs a real task
through `dirt serve`.
"""
from __future__ import annotations

import hashlib
import time

import pytest
from selenium.webdriver.common.keys import Keys

from dirt_run import BackgroundServer, add_nodes
from logdocs import (attachment, build_log, delete_chunk, finish_attempt, provenance, running_task,
                     write_chunk)
from webtools import run_cli

XSS_LINES = ["<script>window.__ran = 'script'</script>", "<img src=x onerror=\"window.__ran = 'onerror'\">"]


def shot(browser, couch, name: str) -> None:
    browser.screenshot(name if couch.kind == "pouchdb" else f"{name}-{couch.kind}")


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
def test_a_running_tasks_output_appears_live_and_stays_when_it_ends(project, couch, app, reader):
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
    shot(browser, couch, "log-live")
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

    # The record page links the task's log; the attempt's files are not listed among its files.
    browser.open(app + "record.html?id=r1")
    assert browser.js("return document.querySelector(\"tr[data-id='t-live'] a.log-link\").getAttribute('href')") \
        == "./log.html?task=t-live"
    assert browser.texts("tr[data-id='t-live'] .files a") == []
    assert nothing_injected(browser) == [] and browser.dialogs() == []


@pytest.mark.both_servers
def test_a_finished_log_is_read_from_its_file_with_the_cut_and_the_times(project, couch, app, reader):
    browser = reader
    db = project.db
    t0 = time.time() - 600
    running_task(db, "t-done", started=t0, node="node2")
    finish_attempt(db, "t-done", "fetching\ncompiling\n[dirt: the log ends here: node node2 was lost]\n",
                   state="waiting", outcome="node_lost", cut_short="node node2 was lost",
                   reason="node node2 was lost; it will run again", times=[[1, t0 + 0.5]])
    doc = db.get("t-done")                 # claimed again, for its second attempt
    doc.update(state="running", node="node1", started=t0 + 60, attempt=2)
    doc["attempts"].append({"attempt": 2, "node": "node1", "server": "server:test", "started": t0 + 60})
    db.save(doc)
    head = [f"step {n}" for n in range(1, 4)]
    tail = [f"step {n}" for n in range(1004, 1007)]
    text = "\n".join(head + ["... 1000 lines cut ...", *tail]) + "\n"
    finish_attempt(db, "t-done", text, cut_lines=1000, times=[[1, t0 + 61], [1004, t0 + 110.4]],
                   results={"success": True})

    browser.open(app + "log.html?task=t-done")
    browser.wait("return document.body.getAttribute('data-log') === 'file:7'", what="the second attempt's log")
    assert log_rows(browser) == [["1", "step 1"], ["2", "step 2"], ["3", "step 3"], ["", "\u2026 1,000 lines cut \u2026"],
                                 ["1004", "step 1004"], ["1005", "step 1005"], ["1006", "step 1006"]]
    assert browser.js("return document.querySelector('#log-view .log-row.cut') !== null")
    assert "attempt 2 of 2" in browser.text("#log-meta") and "passed" in browser.text("#log-meta")
    assert browser.js("return document.getElementById('log-raw').href").endswith("/t-done/log-2.txt")

    # Times since the attempt started, from the times file (one per arrival chunk).
    browser.js("var s = document.getElementById('log-times'); s.value = 'elapsed';"
               " s.dispatchEvent(new Event('change'))")
    browser.wait("return document.querySelector('#log-view .log-row .ts')", what="the times")
    times = browser.js("return Array.from(document.querySelectorAll('#log-view .log-row[data-line]')).map("
                       "function (r) { return r.querySelector('.ts').textContent; })")
    assert times == ["+0:01.0"] * 3 + ["+0:50.4"] * 3
    assert "times=elapsed" in browser.driver.current_url
    shot(browser, couch, "log-finished")

    # The first attempt: its own file, cut short when its node was lost.
    links = browser.js("return Array.from(document.querySelectorAll('#log-attempts a')).map(a => a.textContent)")
    assert links == ["#1 node_lost", "#2 passed"]
    browser.click("#log-attempts a")
    browser.wait("return document.body.getAttribute('data-log') === 'file:3'", what="the first attempt's log")
    assert log_rows(browser) == [["1", "fetching"], ["2", "compiling"], ["", "[dirt: the log ends here: node node2 was lost]"]]
    assert browser.js("return document.querySelector('#log-view .log-row.end') !== null")
    assert "cut short: node node2 was lost" in browser.text("#log-status")
    assert browser.text("#log-reason") == "node node2 was lost; it will run again"

    # The record page: each attempt's log in the task's details; the task's files list them too.
    browser.open(app + "record.html?id=r1")
    browser.click("tr[data-id='t-done'] button.details-toggle")
    browser.wait("return document.querySelector('tr.details table.attempts')", what="the attempts")
    cells = browser.js("return Array.from(document.querySelectorAll('tr.details table.attempts tbody tr')).map("
                       "function (r) { var a = r.querySelector('td:last-child a');"
                       " return [r.querySelector('td:last-child').textContent, a && a.getAttribute('href')]; })")
    assert cells == [["3 lines\ncut short: node node2 was lost".replace("\n", ""), "./log.html?task=t-done&attempt=1"],
                     ["7 lines, 1,000 cut", "./log.html?task=t-done&attempt=2"]]
    files = browser.js("return Array.from(document.querySelectorAll('tr.details .file-list a')).map("
                       "a => [a.textContent, a.getAttribute('href')])")
    assert ["log-2.txt", "./log.html?task=t-done&attempt=2"] in files
    assert any(name == "log-2.times.json" and href.endswith("/t-done/log-2.times.json") for name, href in files)


ESC = "\x1b"
COLOURED = [
    f"{ESC}[31mred{ESC}[0m plain",
    f"{ESC}[1;32mbold green, and on the next line",
    f"still green{ESC}[0m then plain",
    f"{ESC}[38;5;208m256-colour{ESC}[0m",
    f"{ESC}[38;2;10;20;30;48;5;231mtrue colour{ESC}[m",
    f"{ESC}]8;;javascript:alert(1){ESC}\\a hyperlink{ESC}]8;;{ESC}\\ and {ESC}[2Kerased",
    "progress 10%\rprogress 55%\rprogress 100%",
    "nul\x00 and bell\x07",
    *XSS_LINES,
    f"{ESC}[31m<b>not bold</b>{ESC}[0m",
]


@pytest.mark.both_servers
def test_colours_are_styles_and_hostile_text_is_text(project, couch, app, reader):
    browser = reader
    db = project.db
    running_task(db, "t-colour", name="<b>x</b><img src=n onerror=alert(1)>")
    finish_attempt(db, "t-colour", "\n".join(COLOURED) + "\n", state="failed",
                   reason="<img src=r onerror=alert(2)>", results={"success": False})
    browser.open(app + "log.html?task=t-colour")
    browser.wait("return document.body.getAttribute('data-log') === 'file:%d'" % len(COLOURED), what="the log")
    assert [text for _, text in log_rows(browser)] == [
        "red plain", "bold green, and on the next line", "still green then plain", "256-colour", "true colour",
        "a hyperlink and erased", "progress 100%", "nul\u2400 and bell\u2407", *XSS_LINES, "<b>not bold</b>"]
    spans = browser.js("""
        return Array.from(document.querySelectorAll('#log-view .log-row .tx span')).map(function (s) {
          var c = getComputedStyle(s);
          return [s.textContent, s.className, c.color, c.backgroundColor, c.fontWeight];
        });""")
    styled = {text: rest for text, *rest in spans}
    assert styled["red"][:2] == ["a-f1", "rgb(240, 100, 106)"]
    assert styled["bold green, and on the next line"][0] == "a-f2 a-bold"
    assert styled["bold green, and on the next line"][3] == "700"
    assert styled["still green"][:2] == ["a-f2 a-bold", "rgb(95, 207, 128)"]     # the style carries over a line
    assert styled["256-colour"][1] == "rgb(255, 135, 0)"
    assert styled["true colour"][1:3] == ["rgb(10, 20, 30)", "rgb(255, 255, 255)"]
    assert styled["<b>not bold</b>"][:2] == ["a-f1", "rgb(240, 100, 106)"]
    assert "plain" not in styled and " then plain" not in styled                  # reset: no span at all
    assert browser.js("return document.querySelectorAll('#log-view .tx a, #log-view .tx b').length") == 0
    assert browser.text("#log-task") == "<b>x</b><img src=n onerror=alert(1)>"
    assert browser.text("#log-reason") == "<img src=r onerror=alert(2)>"
    assert nothing_injected(browser) == []
    assert browser.js("return window.__ran") is None and browser.dialogs() == []
    # styles set through the DOM, none inline: nothing for a Content-Security-Policy to refuse
    assert [e for e in browser.console_errors() if "Content Security Policy" in e] == []
    shot(browser, couch, "log-colours")


def test_search_and_the_first_error_in_a_big_log(project, app, browser):
    lines = 100_000
    text, marks = build_log(lines)
    db = project.db
    running_task(db, "t-big")
    finish_attempt(db, "t-big", text, state="failed", results={"success": False})
    browser.open(app + "log.html?task=t-big")
    browser.wait(f"return document.body.getAttribute('data-log') === 'file:{lines}'", what="the big log")
    assert "100,000 lines" in browser.text("#log-status")
    drawn = int(browser.js("return document.getElementById('log-view').getAttribute('data-rows-drawn')"))
    assert 0 < drawn < 200, drawn                      # only what is in sight, not 100,000 rows
    assert browser.js("return document.querySelectorAll('#log-view .log-row').length") == drawn

    def in_sight(line: int) -> bool:
        return browser.js("""
            var row = document.querySelector('#log-view .log-row[data-line="' + arguments[0] + '"]');
            if (!row) return false;
            var box = document.getElementById('log-view').getBoundingClientRect(), r = row.getBoundingClientRect();
            return r.top >= box.top && r.bottom <= box.bottom;""", line)

    def target() -> str:
        return browser.js("var t = document.querySelector('#log-view .log-row.target'); "
                          "return t ? t.getAttribute('data-line') : null")

    # The first line that looks like an error (not the one that only mentions errors).
    browser.click("#log-first-error")
    browser.wait(lambda: in_sight(marks["error"]) and target() == str(marks["error"]), what="the first error")
    assert browser.js(f"return document.querySelector('#log-view .log-row[data-line=\"{marks['error']}\"]')"
                      ".classList.contains('error')")
    assert not browser.js("return !!document.querySelector('#log-view .log-row[data-line=\"10\"].error')")
    browser.screenshot("log-first-error")

    # Search, any case: the count, the matches marked, Enter and Shift+Enter between them.
    # A search starts where the view is: from the error at 73,210 the next match is the last one.
    search = browser.driver.find_element("id", "log-search")
    first, second, last = marks["needle"]
    search.send_keys("needle")
    browser.wait(lambda: browser.text("#log-search-count") == "3 of 3 lines" and target() == str(last),
                 what="the match after the view")
    browser.js("document.getElementById('log-view').scrollTop = 0")
    browser.js("var s = document.getElementById('log-search'); s.value = ''; s.dispatchEvent(new Event('input'))")
    browser.wait(lambda: browser.text("#log-search-count") == "", what="the search to clear")
    search.send_keys("NEEDLE")
    browser.wait(lambda: target() == str(first) and in_sight(first), what="the first match")
    assert browser.text("#log-search-count") == "1 of 3 lines"
    assert browser.js(f"return document.querySelector('#log-view .log-row[data-line=\"{first}\"] mark').textContent") \
        == "NeEdLe"
    search.send_keys("\n")
    browser.wait(lambda: target() == str(second) and in_sight(second), what="the second match")
    assert browser.text("#log-search-count") == "2 of 3 lines"
    search.send_keys("\n")
    browser.wait(lambda: target() == str(last) and in_sight(last), what="the last match")
    search.send_keys(Keys.SHIFT, "\n")
    browser.wait(lambda: target() == str(second), what="back to the second match")
    browser.screenshot("log-search")
    search.clear()
    search.send_keys("no such text anywhere")
    browser.wait(lambda: browser.text("#log-search-count") == "no line has this", what="no match")

    # A link to a line opens the log there.
    browser.open(app + "log.html?task=t-big#L12345")
    browser.wait(lambda: target() == "12345" and in_sight(12345), what="the linked line")
    # The end of the log is reachable: the last rows are drawn at the bottom.
    browser.js("var v = document.getElementById('log-view'); v.scrollTop = v.scrollHeight")
    browser.wait(lambda: in_sight(lines), what="the last line")


def test_a_task_that_raised_shows_its_traceback_and_says_its_reason_once(project, app, browser):
    """A real run through `dirt serve`: the task raises; the record page and the log page show where."""
    project.write_task("boom", """
        def execute():
            print("about to fail")
            return check(-1)

        def check(value):
            if value < 0:
                raise ValueError("bad <input> & worse")
            return {'success': True}

        if __name__ == '__channelexec__':
            channel.send(execute())
    """)
    project.add_task("boom", "t-boom", record_id="r1")
    run_cli("dirt", "updatenodes", "localhost", cwd=project.root)
    run_cli("dirt", "serve", "--until-idle", cwd=project.root)
    doc = project.task("t-boom")
    assert doc["state"] == "error" and "ValueError" in doc["traceback"]
    reason = doc["reason"]
    assert reason == "the task raised ValueError: bad <input> & worse"

    browser.open(app + "record.html?id=r1")
    browser.click("tr[data-id='t-boom'] button.details-toggle")
    browser.wait("return document.querySelector('tr.details .traceback')", what="the traceback")
    main = browser.text("main")
    assert main.count(reason) == 1, main           # in the task's row; the details do not repeat it
    assert browser.text("tr[data-id='t-boom'] .reason") == reason
    own = browser.js("return Array.from(document.querySelectorAll('tr.details .tb-frame.tb-own')).map("
                     "function (f) { return [f.querySelector('.tb-file').textContent,"
                     " f.querySelector('.tb-line').textContent, f.querySelector('.tb-func').textContent]; })")
    source = (project.root / "tasks" / "boom.py").read_text().splitlines()
    calls, raises = (str(source.index(text) + 1) for text in (
        "    return check(-1)", '        raise ValueError("bad <input> & worse")'))
    assert own[-2:] == [["tasks/boom.py", calls, "execute"], ["tasks/boom.py", raises, "check"]]
    assert browser.text("tr.details .tb-where") == f"raised in tasks/boom.py, line {raises}, in check"
    assert browser.texts("tr.details .tb-src")[-1].strip() == 'raise ValueError("bad <input> & worse")'
    assert browser.texts("tr.details .tb-exc") == ["ValueError: bad <input> & worse"]
    highlighted = browser.js("return getComputedStyle(document.querySelector('tr.details .tb-own .tb-line'))"
                             ".backgroundColor")
    assert highlighted == "rgb(255, 231, 199)"
    assert "as above" in browser.text("tr.details table.attempts")
    browser.screenshot("record-traceback")

    browser.open(app + "log.html?task=t-boom")
    browser.wait("return document.querySelector('#log-traceback .traceback')", what="the log page's traceback")
    assert browser.text("#log-traceback .tb-where") == f"raised in tasks/boom.py, line {raises}, in check"
    assert reason not in browser.text("main")      # the traceback says it: not a second time
    assert browser.dialogs() == []
    browser.screenshot("log-traceback")


REPORT = """<html><head><style>h1 { letter-spacing: 3px; }</style></head><body>
<h1 id="title">Coverage report</h1>
<p id="para">&lt;not a tag&gt; 87% covered</p>
<script>document.body.setAttribute('data-ran', 'script'); try { parent.document.title = 'pwned'; } catch (e) {}
alert('pwned');</script>
<img id="pic" src="missing.png" onerror="document.body.setAttribute('data-ran', 'onerror'); alert('pwned')">
</body></html>"""


@pytest.mark.both_servers
def test_an_html_report_is_rendered_in_the_sandbox_and_its_scripts_never_run(project, couch, app, reader):
    browser = reader
    db = project.db
    now = time.time()
    db.save({"_id": "t-report", "type": "task", "record_id": "r1", "name": "coverage", "created": now,
             "state": "passed", "node": "node1", "started": now, "completed": now + 1,
             "results": {"success": True, "attach_links": [{"id": "coverage.html", "name": "Coverage"}]},
             # as dirt stores an HTML file a task returns (serve_html_attachments off)
             "_attachments": {"coverage.html": attachment(REPORT, "text/plain; charset=utf-8"),
                              "build.log": attachment(f"{ESC}[32mok{ESC}[0m built\nwarning: x\n", "text/plain")}})
    browser.open(app + "record.html?id=r1")
    links = browser.js("return Array.from(document.querySelectorAll(\"tr[data-id='t-report'] .files a\"))"
                       ".map(a => [a.textContent, a.getAttribute('href')])")
    assert links == [["Coverage", "./file.html?doc=t-report&name=coverage.html"],
                     ["build.log", "./log.html?task=t-report&file=build.log"]]

    browser.open(app + "file.html?doc=t-report&name=coverage.html")
    browser.wait("return document.getElementById('file-frame').getAttribute('data-shown') === 'rendered'",
                 what="the report in its frame")
    frame = browser.driver.find_element("id", "file-frame")
    assert browser.js("var f = arguments[0]; return [f.getAttribute('sandbox'), f.getAttribute('src')]", frame) == ["", None]
    assert "Coverage report" in frame.get_attribute("srcdoc")
    browser.driver.switch_to.frame(frame)
    try:
        # rendered as a page (a heading, the entity decoded), not shown as its source
        browser.wait(lambda: browser.driver.find_element("id", "title").text == "Coverage report" and
                     browser.js("return document.readyState") == "complete" and
                     browser.js("return document.getElementById('pic').complete"), what="the frame to load")
        assert browser.driver.find_element("id", "para").text == "<not a tag> 87% covered"
        # its own styles and links apply, unless the app's policy (CouchDB 3's [csp], inherited) forbids them
        spacing = browser.js("return getComputedStyle(document.getElementById('title')).letterSpacing")
        base = browser.js("return document.baseURI")
        if couch.kind == "pouchdb":
            assert spacing == "3px" and base.endswith("/t-report/coverage.html")
        else:
            assert spacing == "normal" and "/file.html?" in base
        assert "<h1" not in browser.driver.find_element("tag name", "body").text
        assert browser.js("return document.body.getAttribute('data-ran')") is None   # no script, no onerror
    finally:
        browser.driver.switch_to.default_content()
    assert browser.dialogs() == [] and "pwned" not in browser.driver.title
    shot(browser, couch, "file-report-rendered")

    # A text log opens in the log viewer, also when asked for as a file.
    browser.open(app + "file.html?doc=t-report&name=build.log")
    browser.wait(lambda: "log.html?task=t-report&file=build.log" in browser.driver.current_url and
                 browser.js("return document.body.getAttribute('data-log')") == "file:2", what="the log viewer")
    assert log_rows(browser) == [["1", "ok built"], ["2", "warning: x"]]
    assert browser.js("return document.getElementById('log-raw').href").endswith("/t-report/build.log")


@pytest.mark.both_servers
def test_what_ran_is_shown_on_request_and_a_changed_module_is_marked(project, couch, app, reader):
    browser = reader
    db = project.db
    a, b, c = "1" * 64, "2" * 64, "3" * 64

    def task(task_id, name, shas, kwargs=None):
        now = time.time()
        attempts = [{"attempt": i + 1, "node": "node1", "started": now, "ended": now + 1,
                     "outcome": "passed" if i == len(shas) - 1 else "node_lost",
                     **({"provenance": provenance(sha, kwargs=kwargs or {})} if sha else {})}
                    for i, sha in enumerate(shas)]
        db.save({"_id": task_id, "type": "task", "record_id": "r1", "name": name, "created": now,
                 "state": "passed", "node": "node1", "started": now, "completed": now + 1,
                 "results": {"success": True}, "attempts": attempts, **({"kwargs": kwargs} if kwargs else {})})

    task("t-rerun", "build", [a, b], kwargs={"compiler": "gcc"})   # its own attempts ran different sources
    task("t-test-1", "test", [c])
    task("t-test-2", "test", [a])                                  # another task of its name ran another
    task("t-same", "docs", [c, c])
    task("t-old", "lint", [None])                                  # run by a dirt that recorded nothing

    browser.open(app + "record.html?id=r1")
    browser.wait("return document.querySelectorAll('#tasks .module-changed').length === 3", what="the marks")
    marked = browser.js("return Array.from(document.querySelectorAll('#tasks tr.task')).filter("
                        "r => r.querySelector('.module-changed')).map(r => r.getAttribute('data-id'))")
    assert sorted(marked) == ["t-rerun", "t-test-1", "t-test-2"]
    title = browser.js("return document.querySelector(\"tr[data-id='t-rerun'] .module-changed\").title")
    assert "2 versions ran" in title and "111111111111 in t-rerun #1" in title and "222222222222 in t-rerun #2" in title

    browser.click("tr[data-id='t-rerun'] button.details-toggle")
    browser.wait("return document.querySelector('tr.details details.provenance')", what="the details")
    # on request: closed until asked for
    assert browser.js("return document.querySelector('tr.details details.provenance').open") is False
    assert not browser.js("return document.querySelector('tr.details .provenance-table').checkVisibility()")
    browser.click("tr.details details.provenance > summary")
    browser.wait("return document.querySelector('tr.details .provenance-table').checkVisibility()", what="provenance")
    rows = browser.js("return Array.from(document.querySelectorAll('tr.details .provenance-table tbody tr')).map("
                      "r => Array.from(r.cells).map(c => c.textContent))")
    assert rows == [
        ["1", "node1", a + " version 1", "0.7.0", "3.11.7", "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
         '{"compiler":"gcc"}'],
        ["2", "node1", b + " version 2", "0.7.0", "3.11.7", "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
         '{"compiler":"gcc"}']]
    assert "was not the same in every run" in browser.text("tr.details .changed-note")
    shot(browser, couch, "record-provenance")

    browser.click("tr[data-id='t-rerun'] button.details-toggle")
    browser.click("tr[data-id='t-old'] button.details-toggle")
    browser.wait("return document.querySelector(\"tr.details[data-for='t-old'] table.attempts\")", what="t-old")
    assert browser.js("return document.querySelector(\"tr.details[data-for='t-old'] details.provenance\")") is None
    assert nothing_injected(browser) == []


# Prints coloured numbered lines (stdout, stderr, and a child process's), a little apart, then passes.
PRINTER = r"""
import subprocess, sys, time
if __name__ == '__channelexec__':
    for i in range(80):
        print('\x1b[32mok\x1b[0m line %03d of the build, padded to forty' % i, flush=True)
        if i == 40:
            sys.stderr.write('warning: half way\n')
            subprocess.run(['echo', 'from a child process'])
        time.sleep(0.08)
    channel.send({'success': True})
"""


@pytest.mark.both_servers
def test_a_real_tasks_output_scrolls_by_while_it_runs_and_is_kept_capped(project, couch, app, reader):
    """End to end: `dirt serve` runs a task that prints for ~6 s; the page shows its lines before it ends,
    then the attached log with the cut the cap made, without a reload."""
    browser = reader
    project.set(log_max_bytes=2048)             # ~25 lines of head, ~25 of tail: the middle is cut
    add_nodes(project, "localhost")
    project.write_task("printer", PRINTER)
    task = project.add_task("printer", "t-printer", record_id="r1")
    with BackgroundServer(project):
        browser.open(app + "log.html?task=t-printer")
        browser.js("window.__same_page = true")
        browser.wait(lambda: browser.js("return (document.body.getAttribute('data-log') || '').indexOf('chunks:') === 0"
                                        " && document.querySelectorAll('#log-view .log-row[data-line]').length >= 3"),
                     timeout=60, what="lines while the task runs")
        assert project.task(task)["state"] == "running"        # seen before it ended
        assert "streaming" in browser.text("#log-status")
        shot(browser, couch, "log-real-running")
        browser.wait("return (document.body.getAttribute('data-log') || '').indexOf('file:') === 0", timeout=60,
                     what="the attached log")
    doc = project.task(task)
    entry = doc["attempts"][-1]
    assert doc["state"] == "passed" and entry["log"]["cut_lines"] > 0
    cut = entry["log"]["cut_lines"]
    rows = log_rows(browser)
    drawn = browser.js("return document.getElementById('log-view').getAttribute('data-rows-drawn')")
    assert int(drawn) == len(rows)                          # a short log: every row is drawn
    assert rows[0] == ["1", "ok line 000 of the build, padded to forty"]
    assert rows[-1] == [str(entry["log"]["lines"]), "ok line 079 of the build, padded to forty"]
    marks = [text for number, text in rows if not number]
    assert marks == [f"\u2026 {cut} lines cut \u2026"]
    assert len(rows) - 1 + cut == entry["log"]["lines"]     # every line shown or counted as cut
    assert browser.js("return document.querySelector('#log-view .log-row .tx span.a-f2').textContent") == "ok"
    assert browser.js("return window.__same_page") is True
    source = (project.root / "tasks" / "printer.py").read_text()
    assert entry["provenance"]["sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert entry["provenance"]["sha256"][:12] in browser.text("#log-provenance summary")
    shot(browser, couch, "log-real-finished")
