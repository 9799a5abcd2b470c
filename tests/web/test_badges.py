"""Status badges: written by BadgeWriter into the real database, served by it as SVG images."""
from __future__ import annotations

import time
import xml.dom.minidom

import httpx
import pytest

from webtools import HeaderProxy

from dirt.badges import BadgeError, BadgeWriter, badge_svg, badge_url, text_width
from dirt.settings import Settings


def test_a_badge_is_escaped_well_formed_and_the_same_every_time():
    svg = badge_svg('<script>alert("x")</script> & co', "failing")
    assert svg == badge_svg('<script>alert("x")</script> & co', "failing")
    dom = xml.dom.minidom.parseString(svg)        # well-formed: nothing broke out of its text
    assert not dom.getElementsByTagName("script")
    texts = [t.firstChild.data for t in dom.getElementsByTagName("text")]
    assert texts[1] == '<script>alert("x")</script> & co' and texts[3] == "failing"
    assert "#dc3b3b" in svg
    wide, narrow = badge_svg("main", "passing"), badge_svg("a-much-longer-branch-name", "passing")
    width = lambda s: int(xml.dom.minidom.parseString(s).documentElement.getAttribute("width"))
    assert width(narrow) > width(wide) and text_width("mmmm") > text_width("iiii")
    assert "\x07" not in badge_svg("bell\x07", "passing")     # no control characters (not XML)


def store(db, docs):
    assert all(r.get("ok") for r in db.bulk_docs(docs))


def record(rid, created, branch="main", **more):
    return {"_id": rid, "type": "record", "description": rid, "created": created, "branch": branch, **more}


def task(tid, rid, name, state, created):
    doc = {"_id": tid, "type": "task", "record_id": rid, "name": name, "created": created, "state": state}
    if state not in ("waiting", "running"):
        doc.update(started=created + 1, completed=created + 2, results={"success": state == "passed"})
    return doc


def test_badges_follow_the_branch_and_are_rewritten_only_when_they_change(project, couch, app):
    db = project.db
    settings = Settings(project_name="proj", couchdb_host=couch.url, couchdb_dbname=project.dbname)
    writer = BadgeWriter(db, settings)
    t0 = time.time() - 1000
    store(db, [record("a1", t0), task("a1-build", "a1", "build", "passed", t0),
               task("a1-test", "a1", "test.unit", "passed", t0)])
    assert writer.record_finished("a1") is True
    url = badge_url(f"{couch.url}/{project.dbname}", "main")
    assert url == f"{couch.url}/{project.dbname}/badge:main/status.svg"
    answer = httpx.get(url, auth=couch.admin)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert ">passing</text>" in answer.text and ">main</text>" in answer.text
    task_badge = httpx.get(badge_url(f"{couch.url}/{project.dbname}", "main", "test.unit"), auth=couch.admin)
    assert task_badge.headers["content-type"].startswith("image/svg+xml") and ">passing<" in task_badge.text

    rev = db.get("badge:main")["_rev"]
    assert writer.record_finished("a1") is False            # nothing changed: nothing written
    assert db.get("badge:main")["_rev"] == rev

    # a newer record fails: red, and the failing task's badge too
    store(db, [record("a2", t0 + 10), task("a2-build", "a2", "build", "passed", t0 + 10),
               task("a2-test", "a2", "test.unit", "failed", t0 + 10)])
    assert writer.record_finished("a2") is True
    assert ">failing<" in httpx.get(url, auth=couch.admin).text
    assert ">failing<" in httpx.get(badge_url(f"{couch.url}/{project.dbname}", "main", "test.unit"), auth=couch.admin).text
    assert ">passing<" in httpx.get(badge_url(f"{couch.url}/{project.dbname}", "main", "build"), auth=couch.admin).text
    doc = db.get("badge:main")
    assert doc["state"] == "failed" and doc["record_id"] == "a2" and doc["tasks"]["test.unit"] == "failed"

    # a newer one still running leaves the badge at the last decided record
    store(db, [record("a3", t0 + 20), task("a3-build", "a3", "build", "running", t0 + 20)])
    assert writer.record_finished("a3") is False and ">failing<" in httpx.get(url, auth=couch.admin).text

    # another branch has its own badge; a branch name with a slash works in the URL
    store(db, [record("b1", t0 + 30, branch="feature/x<y>"), task("b1-t", "b1", "build", "passed", t0 + 30)])
    assert writer.record_finished("b1") is True
    feature = badge_url(f"{couch.url}/{project.dbname}", "feature/x<y>")
    assert "feature%2Fx%3Cy%3E" in feature
    assert ">feature/x&lt;y&gt;</text>" in httpx.get(feature, auth=couch.admin).text
    # records without a branch, and unknown records, have no badge
    assert writer.record_finished("r1") is False and writer.record_finished("nope") is False


def test_without_the_web_app_the_writer_says_what_to_do(project, couch):
    settings = Settings(project_name="proj", couchdb_host=couch.url, couchdb_dbname=project.dbname)
    project.db.save(record("a1", 1.0))
    with pytest.raises(BadgeError, match="push the app"):
        BadgeWriter(project.db, settings).record_finished("a1")


def test_a_badge_shows_as_an_image_under_couchdbs_default_sandbox(project, couch, app, browser):
    """CouchDB 3.2+ sends `Content-Security-Policy: sandbox` with attachments: an <img> still shows."""
    settings = Settings(project_name="proj", couchdb_host=couch.url, couchdb_dbname=project.dbname)
    store(project.db, [record("a1", 10.0), task("a1-t", "a1", "build", "passed", 10.0)])
    BadgeWriter(project.db, settings).record_finished("a1")
    proxy = HeaderProxy(couch.url, {"Content-Security-Policy": "sandbox"})
    try:
        # a page of another site (the app on pouchdb's own origin) embeds the badge from the proxy's
        browser.driver.get(app + "index.html")
        size = browser.driver.execute_async_script("""
            var done = arguments[arguments.length - 1], img = new Image();
            img.onload = function () { done([img.naturalWidth, img.naturalHeight]); };
            img.onerror = function () { done('error'); };
            img.src = arguments[0];
        """, badge_url(f"{proxy.url}/{project.dbname}", "main"))
        assert size != "error" and size[1] == 20 and size[0] > 60
    finally:
        proxy.close()


def test_dirt_serve_keeps_the_badge_current_as_records_finish(project, couch, app):
    from dirt_run import BackgroundServer, add_nodes, wait_for

    add_nodes(project, "localhost")
    project.write_task("fails", "channel.send({'success': False, 'reason': 'red'})\n")
    store(project.db, [record("s1", time.time() - 100)])
    project.add_task("examples.simple", record_id="s1")
    url = badge_url(f"{couch.url}/{project.dbname}", "main")
    with BackgroundServer(project):
        wait_for(lambda: (lambda r: r.status_code == 200 and ">passing<" in r.text)(
            httpx.get(url, auth=couch.admin)), timeout=60, what="the badge to say passing")
        store(project.db, [record("s2", time.time())])
        project.add_task("fails", record_id="s2")
        wait_for(lambda: ">failing<" in httpx.get(url, auth=couch.admin).text, timeout=60,
                 what="the badge to turn red when the newer record fails")
