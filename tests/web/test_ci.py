"""The web app for CI, in headless Chromium: filters in the URL, verdicts, branches, trends,
flaky tasks, small things. The data is stored as a CI hook and dirt serve would store it."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, quote, urlsplit

from cidata import ROUNDED_DOWN, record, store, task
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def ids(browser, selector="#records tbody tr"):
    return browser.attrs(selector, "data-id")


def query(browser) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(browser.driver.current_url).query).items()}


def svg_texts(browser, selector):
    return browser.js("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", selector)


def wait_url(browser, before):
    browser.wait(lambda: browser.driver.current_url != before, what="the URL to change")


def ci_history(db, now=None):
    """main: m1, m2 pass; m3 (bob) breaks test.unit; m4 fails; m5 runs. feature/x: f1 fails, f2 passes."""
    t0 = (now or time.time()) - 36000
    plan = [("m1", "main", "bob", "passed"), ("f1", "feature/x", "chen", "failed"), ("m2", "main", "ann", "passed"),
            ("m3", "main", "bob", "failed"), ("f2", "feature/x", "chen", "passed"), ("m4", "main", "ann", "failed"),
            ("m5", "main", "bob", "running")]
    docs = []
    for i, (rid, branch, author, unit) in enumerate(plan):
        created = t0 + 600 * i
        docs.append(record(rid, created, branch=branch, author=author))
        docs.append(task(f"{rid}-build", rid, "build", "passed", created, took=10))
        docs.append(task(f"{rid}-unit", rid, "test.unit", unit, created, took=30))
    store(db, docs)


def test_overview_filters_combine_and_live_in_the_url(project, app, browser):
    ci_history(project.db)
    browser.open(app + "index.html")
    assert ids(browser) == ["m5", "m4", "f2", "m3", "m2", "f1", "m1", "r1"]
    verdicts = browser.attrs("#records tbody tr .pill.verdict", "data-verdict")
    assert verdicts == ["running", "failed", "passed", "failed", "passed", "failed", "passed", "none"]
    m2 = browser.text("#records tr[data-id='m2']")
    assert "main" in m2 and "ann" in m2 and "\n30 s\n" in m2 and "slowest: test.unit 30 s" in m2

    # the form: branch, then a state; each is a URL
    field = browser.driver.find_element(By.ID, "filter-branch")
    field.send_keys("main")
    before = browser.driver.current_url
    browser.click("#filters button[type=submit]")
    wait_url(browser, before)
    browser.wait(lambda: ids(browser) == ["m5", "m4", "m3", "m2", "m1"], what="the main branch's records")
    assert query(browser) == {"branch": "main"}
    before = browser.driver.current_url
    Select(browser.driver.find_element(By.ID, "filter-state")).select_by_value("failed")
    wait_url(browser, before)
    browser.wait(lambda: ids(browser) == ["m4", "m3"], what="failed records on main")
    assert query(browser) == {"branch": "main", "state": "failed"}
    assert browser.texts("#active-filters .chip") == ["branch: main ×", "state: failed ×"]
    browser.screenshot("overview-filtered")

    browser.driver.refresh()                       # survives a reload
    browser.wait("return document.body.getAttribute('data-ready')", what="the reloaded page")
    assert ids(browser) == ["m4", "m3"] and browser.js("return document.getElementById('filter-state').value") == "failed"
    browser.driver.back()                          # the back button goes through the filters
    browser.wait(lambda: ids(browser) == ["m5", "m4", "m3", "m2", "m1"], what="back to branch main")
    browser.driver.back()
    browser.wait(lambda: len(ids(browser)) == 8, what="back to every record")

    for params, expected in [
        ({"task": "test.unit", "state": "failed"}, ["m4", "m3", "f1"]),   # records where test.unit failed
        ({"author": "ann", "branch": "main"}, ["m4", "m2"]),
        ({"author": "bob", "state": "running"}, ["m5"]),
        ({"branch": "feature/x", "state": "passed"}, ["f2"]),
        ({"state": "waiting"}, []),
        ({"task": "no.such.task"}, []),
    ]:
        browser.open(app + "index.html?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()))
        assert ids(browser) == expected, params
    assert "No records match these filters" in browser.text("#empty")

    # a row's branch tag filters by it
    browser.open(app + "index.html?author=chen")
    assert ids(browser) == ["f2", "f1"]
    browser.click("#records tr[data-id='f2'] a.tag.branch")
    browser.wait(lambda: query(browser) == {"author": "chen", "branch": "feature/x"}, what="the branch filter")
    browser.wait("return document.body.getAttribute('data-ready')", what="the filtered page")
    assert ids(browser) == ["f2", "f1"]
    assert browser.console_errors() == []


def test_filtered_lists_page_on(project, app, browser):
    t0 = time.time() - 100000
    docs = []
    for i in range(60):
        rid = f"p{i:02d}"
        docs.append(record(rid, t0 + 60 * i, branch="main" if i % 3 else "other"))
        docs.append(task(rid + "-t", rid, "build", "failed" if i % 2 else "passed", t0 + 60 * i))
    store(project.db, docs)
    expected = [f"p{i:02d}" for i in range(59, -1, -1) if i % 3 and i % 2]   # main and failed: 20
    browser.open(app + "index.html?branch=main&state=failed")
    assert ids(browser) == expected
    expected = [f"p{i:02d}" for i in range(59, -1, -1) if i % 3]             # 40 on main
    browser.open(app + "index.html?branch=main")
    assert ids(browser) == expected[:25]
    before = browser.driver.current_url
    browser.click("#older")
    wait_url(browser, before)
    browser.wait("return document.body.getAttribute('data-ready')", what="the next page")
    assert ids(browser) == expected[25:] and "from" in query(browser)
    browser.driver.back()
    browser.wait(lambda: ids(browser) == expected[:25], what="the first page again")


def test_a_filtered_list_pages_on_at_a_record_whose_time_comes_back_rounded(project, app, browser):
    docs = []
    for i in range(30):
        rid = f"q{i:02d}"
        created = ROUNDED_DOWN if i == 4 else ROUNDED_DOWN + 60 * (i - 4)
        docs += [record(rid, created), task(rid + "-t", rid, "build", "passed", created)]
    store(project.db, docs)
    newest_first = [f"q{i:02d}" for i in range(29, -1, -1)]
    browser.open(app + "index.html?branch=main")
    assert ids(browser) == newest_first[:25]                 # the next page starts at q04
    before = browser.driver.current_url
    browser.click("#older")
    wait_url(browser, before)
    browser.wait("return document.body.getAttribute('data-ready')", what="the next page")
    assert ids(browser) == newest_first[25:]


def test_go_to_record_by_id_or_sha_prefix(project, app, browser):
    ci_history(project.db)
    browser.open(app + "index.html")

    def go(text):
        field = browser.driver.find_element(By.ID, "goto-id")
        field.clear()
        field.send_keys(text + "\n")
        browser.wait(lambda: "record.html" in browser.driver.current_url, what="the record page")
        browser.wait("return document.body.getAttribute('data-ready')", what="the record page to render")

    go("m2")
    assert browser.text("#record-id") == "m2"
    sha = project.db.get("m3")["sha"]
    browser.open(app + "index.html")
    go(sha[:7].upper())                       # a short sha, as people paste it
    browser.wait(lambda: browser.text("#record-id") == "m3", what="the record of that sha")
    assert query(browser) == {"id": "m3"}
    browser.open(app + "record.html?id=m")
    assert browser.attrs("#matches li a", "href")[:5] and \
        [t.split()[0] for t in browser.texts("#matches li")] == ["m1", "m2", "m3", "m4", "m5"]
    assert "starts with it" in browser.text("#matches")
    browser.screenshot("record-matches")
    browser.open(app + "record.html?id=zzz")
    assert "no record's id or sha starts with it" in browser.text("#matches")


def test_a_record_says_its_verdict_duration_and_slowest_task(project, app, browser):
    now = time.time()
    store(project.db, [
        record("v1", now - 100, changeset_url="https://example.org/c/1", repository="javascript:alert(1)"),
        task("v1-a", "v1", "build", "passed", now - 100, took=12),
        task("v1-b", "v1", "test.unit", "failed", now - 100, took=95),
        task("v1-c", "v1", "docs", "running", now - 100, took=40),
        task("v1-d", "v1", "lint", "waiting", now - 100),
    ])
    browser.open(app + "record.html?id=v1")
    verdict = browser.text("#record-verdict")
    assert browser.attrs("#record-verdict", "data-verdict") == ["failed"]
    assert verdict.startswith("failed") and "running for" in verdict and "slowest: test.unit 1 min 35 s" in verdict
    assert browser.attrs("#record-fields a", "href") [-1] == "https://example.org/c/1"
    assert "javascript:alert(1)" in browser.text("#record-fields")
    assert not [h for h in browser.attrs("#record-fields a", "href") if h.startswith("javascript")]
    # the state chip is in the URL
    browser.click("#filters button[data-filter='failed']")
    browser.wait(lambda: query(browser) == {"id": "v1", "state": "failed"}, what="the chip in the URL")
    assert browser.js("return Array.from(document.querySelectorAll('#tasks tr.task'))"
                      ".filter(function (r) { return !r.hidden; }).map(function (r) { return r.dataset.id; })") == ["v1-b"]
    browser.driver.refresh()
    browser.wait("return document.body.getAttribute('data-ready')", what="the reload")
    assert browser.js("return document.querySelectorAll('#tasks tr.task:not([hidden])').length") == 1
    browser.screenshot("record-verdict")
    project.db.save(dict(project.db.get("v1-c"), state="passed", completed=now - 20))
    project.db.save(dict(project.db.get("v1-d"), state="cancelled"))
    browser.open(app + "record.html?id=v1")
    # first start (now - 95) to last end (the test: now - 100 + 5 + 95): took 1 min 35 s
    assert "took 1 min 35 s" in browser.text("#record-verdict")


def test_a_branch_read_in_rounds_keeps_records_of_the_same_time_at_a_round_boundary(project, app, browser):
    """The branches page reads a branch 20 records at a time until its streak ends. b10, the 20th,
    and b09 share a time that pouchdb-server's views give back rounded down: reading on
    from b10 must not skip b09, the record that broke the branch."""
    docs = []
    for i in range(30):
        rid = f"b{i:02d}"
        created = ROUNDED_DOWN if i in (9, 10) else ROUNDED_DOWN + 60 * (i - 9)
        docs += [record(rid, created), task(rid + "-t", rid, "build", "failed" if i >= 9 else "passed", created)]
    store(project.db, docs)
    browser.open(app + "branches.html")
    main = browser.text("#branches tr[data-branch='main']")
    assert "broken by b09" in main and "last passed: b08" in main, main


def test_branches_page_says_since_when_and_which_record_broke_it(project, couch, app, browser):
    from dirt.badges import BadgeWriter
    from dirt.settings import Settings

    ci_history(project.db)
    BadgeWriter(project.db, Settings(project_name="proj", couchdb_host=couch.url,
                                     couchdb_dbname=project.dbname)).update_branch("main")
    browser.open(app + "branches.html")
    assert browser.attrs("#branches tbody tr", "data-branch") == ["main", "feature/x"]
    main = browser.text("#branches tr[data-branch='main']")
    assert "failing" in main and "since" in main and "(m3)" in main
    assert "broken by m3 by bob; last passed: m2" in main
    assert "running" in main and "m5 by bob" in main                 # its latest record, still running
    feature = browser.text("#branches tr[data-branch='feature/x']")
    assert "passing" in feature and "(f2)" in feature and "broken" not in feature
    # main's badge shows; the other branch has none yet, and says so
    browser.wait("var i = document.querySelector(\"tr[data-branch='main'] img\"); return i && i.naturalWidth > 0",
                 what="main's badge")
    browser.wait(lambda: "no badge yet" in browser.text("#branches tr[data-branch='feature/x']"), what="no badge")
    snippet = browser.js("return document.querySelector(\"tr[data-branch='main'] details input\").value")
    assert re.fullmatch(r"\[!\[main\]\(http://127\.0\.0\.1:\d+/[^/]+/badge:main/status\.svg\)\]"
                        r"\(http://127\.0\.0\.1:\d+/.+/index\.html\?branch=main\)", snippet), snippet
    browser.screenshot("branches")

    # at a glance on the overview
    browser.open(app + "index.html")
    strip = browser.text("#main-branch")
    assert "failing" in strip and "broken by m3 (bob)" in strip
    assert browser.attrs("#main-branch", "data-verdict") == ["failed"]


def test_trends_have_a_time_axis_and_tell_variants_apart(project, app, browser):
    t0 = time.time() - 7 * 86400
    docs = [record("rv", t0)]
    for i in range(40):                      # 40 runs over a week, two compilers
        compiler = "gcc" if i % 2 else "clang"
        state = "failed" if compiler == "clang" and i > 30 else "passed"
        docs.append(task(f"b{i:02d}", "rv", "build", state, t0 + i * 4 * 3600, took=60 if compiler == "gcc" else 20,
                         kwargs={"compiler": compiler}))
    docs += [task(f"w{i}", "rv", "queued.only", "waiting", t0 + i) for i in range(3)]
    store(project.db, docs)

    browser.open(app + "task.html?name=build")
    marks = browser.js("return Array.from(document.querySelectorAll('#chart .run')).map(function (m) {"
                       " var b = m.getBBox(); return [Number(m.dataset.t), b.x + b.width / 2, m.tagName]; })")
    assert len(marks) == 40
    by_time = sorted(marks)
    assert [m[1] for m in by_time] == sorted(m[1] for m in marks)  # x grows with time: oldest left
    assert {m[2] for m in marks} == {"circle", "rect"}             # a shape per variant
    ticks = svg_texts(browser, "#chart .x-tick")
    assert len(ticks) >= 3 and all(re.fullmatch(r"\d\d-\d\d|\d\d:\d\d|\d{4}-\d\d", t) for t in ticks), ticks
    y = svg_texts(browser, "#chart .y-tick")
    assert y[0] == "0" and "min" in y[-1]
    assert [t.strip() for t in browser.texts("#variants .chip")] == ["all variants", "compiler=clang (20)", "compiler=gcc (20)"]
    assert "Charts: the last 40 runs" in browser.text("#task-summary") and "4 failed" in browser.text("#task-summary")
    assert len(svg_texts(browser, "#pass-rate .rate-bin")) >= 5
    browser.screenshot("trend")

    # one variant, the last 50 runs: in the URL
    browser.click("#variants a[data-variant='compiler=clang']")
    browser.wait(lambda: query(browser).get("variant") == "compiler=clang", what="the variant in the URL")
    browser.wait("return document.body.getAttribute('data-ready')", what="the variant's charts")
    assert len(browser.js("return document.querySelectorAll('#chart .run')")) == 20
    assert "of compiler=clang" in browser.text("#task-summary")
    browser.open(app + "task.html?name=build&runs=50")
    assert browser.js("return document.getElementById('opt-runs').value") == "50"

    # a date range: the first two days
    day = time.strftime("%Y-%m-%d", time.localtime(t0))
    day2 = time.strftime("%Y-%m-%d", time.localtime(t0 + 86400))
    browser.open(app + f"task.html?name=build&from={day}&to={day2}")
    n = len(browser.js("return document.querySelectorAll('#chart .run')"))
    assert 6 <= n <= 13 and f"{n} runs of the dates chosen" in browser.text("#task-summary")

    # nothing finished: says so, and no "1 ms" axis
    browser.open(app + "task.html?name=queued.only")
    assert "No run has finished yet" in browser.text("#chart") and svg_texts(browser, "#chart .y-tick") == []
    assert "Charts: the last 3 runs" in browser.text("#task-summary") and len(browser.texts("#runs tbody tr")) == 3
    assert browser.console_errors() == []


def test_flaky_tasks_are_marked_with_their_evidence(project, app, browser):
    t0 = time.time() - 50000
    docs = []
    # test.net fails and passes on one commit (two records), and on one record (a rerun)
    docs += [record("s1", t0, sha="abc1230000"), record("s2", t0 + 100, sha="abc1230000"),
             task("s1-net", "s1", "test.net", "failed", t0), task("s2-net", "s2", "test.net", "passed", t0 + 100),
             record("s3", t0 + 200), task("s3-net", "s3", "test.net", "passed", t0 + 200),
             task("s3-net-rerun", "s3", "test.net", "failed", t0 + 201)]
    # build fails with clang and passes with gcc on one record: two variants, not flaky
    docs += [task("s3-gcc", "s3", "build", "passed", t0 + 200, kwargs={"compiler": "gcc"}),
             task("s3-clang", "s3", "build", "failed", t0 + 200, kwargs={"compiler": "clang"})]
    # lint flips on main, again and again
    for i in range(10):
        rid = f"l{i}"
        docs += [record(rid, t0 + 1000 + i * 100), task(rid + "-lint", rid, "lint", "passed" if i % 2 else "failed",
                                                        t0 + 1000 + i * 100)]
    store(project.db, docs)

    browser.open(app + "flaky.html")
    assert browser.attrs("#flaky tbody tr", "data-name") == ["lint", "test.net"]
    net = browser.driver.find_element(By.CSS_SELECTOR, "#flaky tr[data-name='test.net'] summary")
    assert net.text == "1 record with both outcomes, 1 commit with both"
    net.click()
    evidence = browser.text("#flaky tr[data-name='test.net'] .evidence")
    assert "on commit abc1230000" in evidence and "s1" in evidence and "s2" in evidence and "record s3" in evidence
    browser.click("#flaky tr[data-name='lint'] summary")
    assert "flipped 9 times in 10 runs on main" in browser.text("#flaky tr[data-name='lint']")
    browser.screenshot("flaky")

    browser.open(app + "record.html?id=s3")
    browser.wait(lambda: len(browser.texts("#tasks .tag.flaky")) == 2, what="the flaky marks")
    assert browser.attrs("#tasks tr.task:has(.tag.flaky)", "data-id") == ["s3-net", "s3-net-rerun"]
    assert browser.attrs("#tasks .tag.flaky", "title")[0] == "passed and failed on this record"
    browser.click("#tasks tr[data-id='s3-net'] .tag.flaky")
    browser.wait(lambda: "task.html" in browser.driver.current_url, what="the evidence")
    browser.wait("return document.body.getAttribute('data-ready')", what="the task page")
    assert browser.driver.current_url.endswith("#flaky") and "on commit abc1230000" in browser.text("#flaky")
    browser.open(app + "task.html?name=build")
    assert browser.js("return document.getElementById('flaky').hidden") is True
    browser.open(app + "task.html")
    assert browser.texts("#names tr[data-name='lint'] .tag.flaky") == ["flaky"]
    assert browser.texts("#names tr[data-name='build'] .tag.flaky") == []


def test_small_things(project, app, browser):
    now = time.time()
    reason = "no enabled node can run it: node1: architecture is 'x86_64' (requires architecture is sparc64)"
    docs = [task(f"q{i:03d}", "r1", "wait.here", "waiting", now - 1000 + i, reason=reason) for i in range(120)]
    docs += [task("c1", "r1", "gone", "cancelled", now - 50)]
    store(project.db, docs)

    # waiting: "and N more" expands
    browser.open(app + "waiting.html")
    assert len(browser.texts("#groups tbody tr")) == 50 and "and 70 more" in browser.text("#groups")
    before = browser.renders()
    browser.click("button.show-more")
    browser.wait_rerender(before)
    browser.wait(lambda: len(browser.texts("#groups tbody tr")) == 100, what="50 more")
    browser.click("button.show-more")
    browser.wait(lambda: len(browser.texts("#groups tbody tr")) == 120, what="all 120")
    assert "more with this reason" not in browser.text("#groups")

    # file.html: what is wrong, in words
    for page, words in [("file.html", "Which file?"), ("file.html?doc=nope&name=a.html", "no document nope"),
                        ("file.html?doc=c1&name=a.html", "has no file named a.html")]:
        browser.open(app + page)
        assert words in browser.text("#file-problem"), page
        assert browser.js("return document.getElementById('file-card').hidden") is True
        assert browser.js("return document.getElementById('file-frame').getAttribute('src')") is None

    # cancelled is neither the empty track nor waiting
    browser.open(app + "record.html?id=r1")
    colours = browser.js("""
        var seg = document.querySelector('#record-bar .seg.state-cancelled'), wait = document.querySelector('#record-bar .seg.state-waiting');
        return [getComputedStyle(seg).backgroundColor, getComputedStyle(wait).backgroundColor,
                getComputedStyle(document.querySelector('#record-bar .bar')).backgroundColor];""")
    assert len(set(colours)) == 3, colours

    # 400 px wide: no page scrolls sideways
    ci_history(project.db)
    browser.driver.set_window_size(400, 900)
    try:
        for page in ("index.html", "index.html?branch=main", "record.html?id=m3", "branches.html",
                     "task.html?name=test.unit", "task.html", "flaky.html", "nodes.html", "waiting.html",
                     "test.html?task=a&test=b", "file.html"):
            browser.open(app + page)
            width = browser.js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1], (page, width)
            if page in ("index.html", "record.html?id=m3", "branches.html"):
                browser.screenshot("narrow-" + page.split(".")[0])
    finally:
        browser.driver.set_window_size(1360, 900)


HOSTILE = "<img src=x onerror=alert(1)>"


def test_hostile_branches_authors_tests_and_kwargs_stay_text(project, couch, app, browser):
    from test_safety import assert_nothing_ran

    from dirt.badges import BadgeWriter
    from dirt.settings import Settings

    now = time.time()
    failure = {"test": "<script>alert(2)</script>", "kind": "failure", "message": "<svg onload=alert(3)>",
               "detail": "<b>x</b>"}
    tests = {"total": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0, "failures": [failure], "files": ["j.xml"]}
    docs = []
    for i in range(6):
        rid = f"h{i}"
        docs.append(record(rid, now - 1000 + i, branch=HOSTILE, author="<i>a</i>", sha="abc" + HOSTILE))
        doc = task(f"{rid}-t", rid, "<b>t</b>", "failed" if i % 2 else "passed", now - 1000 + i,
                   kwargs={"<img src=k onerror=alert(4)>": "<i>v</i>"})
        doc["results"]["tests"] = tests if i % 2 else dict(tests, failed=0, passed=2, failures=[])
        docs.append(doc)
    store(project.db, docs)
    BadgeWriter(project.db, Settings(project_name="proj", couchdb_host=couch.url,
                                     couchdb_dbname=project.dbname)).update_branch(HOSTILE)
    pages = ["index.html", "index.html?branch=" + quote(HOSTILE, safe=""), "record.html?id=h5",
             "record.html?id=" + quote("abc<img", safe=""), "branches.html",
             "task.html?name=" + quote("<b>t</b>", safe=""), "task.html", "flaky.html",
             "test.html?task=" + quote("<b>t</b>", safe="") + "&test=" + quote("<script>alert(2)</script>", safe="")]
    for page in pages:
        browser.open(app + page)
        assert_nothing_ran(browser)
    browser.open(app + "branches.html")
    assert HOSTILE in browser.text("#branches")
    browser.open(app + "record.html?id=h5")
    assert "<script>alert(2)</script>" in browser.text("#tasks") and "<svg onload=alert(3)>" in browser.text("#tasks")
    browser.open(app + "test.html?task=" + quote("<b>t</b>", safe="") + "&test=" + quote("<script>alert(2)</script>", safe=""))
    assert "Failing since h5" in browser.text("#streaks")
    assert_nothing_ran(browser)


def test_a_signed_in_reader_who_is_not_an_admin_uses_every_ci_page(secure_couch, tmp_path, browser):
    """On a server with an admin (as CouchDB 3 always has), a database member signed in with a session cookie."""
    import httpx

    from dirt.badges import BadgeWriter
    from dirt.couch import Database
    from dirt.create import create_project
    from dirt.settings import Settings
    from webtools import push_app

    admin = secure_couch.admin
    db_name = f"ci{int(time.time() * 1000) % 10**8}"
    root = create_project(tmp_path / "proj", db_name)
    app = push_app(root / "web", f"{secure_couch.auth_url}/{db_name}").replace(f"{admin[0]}:{admin[1]}@", "")
    with httpx.Client(auth=admin, timeout=30) as http:
        user = {"_id": "org.couchdb.user:rita", "name": "rita", "password": "rita-pw", "type": "user", "roles": []}
        assert http.put(f"{secure_couch.url}/_users/org.couchdb.user:rita", json=user).status_code in (201, 202, 409)
        security = {"admins": {"names": [], "roles": []}, "members": {"names": ["rita"], "roles": []}}
        http.put(f"{secure_couch.url}/{db_name}/_security", json=security).raise_for_status()
    db = Database.from_url(secure_couch.auth_url, db_name)
    ci_history(db)
    BadgeWriter(db, Settings(project_name="proj", couchdb_host=secure_couch.auth_url,
                             couchdb_dbname=db_name)).update_branch("main")
    seq_before = httpx.get(f"{secure_couch.url}/{db_name}", auth=admin).json()["update_seq"]
    assert httpx.get(f"{secure_couch.url}/{db_name}/badge:main/status.svg").status_code == 401   # private: not for others

    browser.driver.get(secure_couch.url + "/")
    status = browser.driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        fetch('/_session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                            body: JSON.stringify({name: 'rita', password: 'rita-pw'})})
          .then(function (r) { done(r.status); }, function (e) { done(String(e)); });
    """)
    assert status == 200
    for page, expected in [("index.html?branch=main&state=failed", "m4"), ("record.html?id=6d33", "commit m3"),
                           ("branches.html", "broken by m3"), ("task.html?name=test.unit", "Charts: the last 7 runs"),
                           ("task.html", "test.unit"), ("flaky.html", "No task is flaky"),
                           ("test.html?task=test.unit&test=x", "No run of test.unit has a test report yet")]:
        browser.open(app + page)
        assert expected in browser.text("main"), page
    browser.open(app + "branches.html")
    browser.wait("var i = document.querySelector(\"tr[data-branch='main'] img\"); return i && i.naturalWidth > 0",
                 what="the badge, with the reader's cookie")
    browser.screenshot("branches-reader")
    assert httpx.get(f"{secure_couch.url}/{db_name}", auth=admin).json()["update_seq"] == seq_before
    errors = browser.console_errors()
    assert errors == [], errors
