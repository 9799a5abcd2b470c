"""The app's views, queried as the pages (and users) query them."""
from __future__ import annotations

import json

import httpx


def view(app, name, **params):
    query = {k: json.dumps(v) if k in ("key", "startkey", "endkey") else v for k, v in params.items()}
    answer = httpx.get(f"{app}_view/{name}", params=query, timeout=60)
    answer.raise_for_status()
    return answer.json()


def keys_query(app, name, keys, **params):
    answer = httpx.post(f"{app}_view/{name}", params=params, json={"keys": keys}, timeout=60)
    answer.raise_for_status()
    return answer.json()


def test_views_serve_the_pages(project, app):
    db = project.db
    docs = [
        {"_id": "r2", "type": "record", "description": "second", "created": 20, "branch": "main", "author": "ann",
         "sha": "3FA9C0FFEE"},
        {"_id": "r3", "type": "record", "description": "third", "created": 30, "branch": "main"},
        {"_id": "a", "type": "task", "record_id": "r2", "name": "build", "created": 20, "state": "passed",
         "node": "n1", "started": 21, "completed": 25, "results": {"success": True, "size": 12, "attach_links": []},
         "platform": "linux", "kwargs": {"opt": 2, "compiler": "gcc"}},
        {"_id": "b", "type": "task", "record_id": "r2", "name": "test", "created": 20, "state": "failed",
         "node": "n1", "started": 26, "completed": 27, "reason": "3 tests failed",
         "results": {"success": False, "reason": "3 tests failed", "log": "x" * 500,
                     "tests": {"total": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0,
                               "failures": [{"test": "t.test_x", "kind": "failure", "message": "boom"}]}}},
        {"_id": "c", "type": "task", "record_id": "r3", "name": "build", "created": 30, "state": "running",
         "node": "n2", "started": 31},
        {"_id": "d", "type": "task", "record_id": "r3", "name": "test", "created": 30, "state": "waiting",
         "reason": "no enabled node can run it: n1: architecture is 'x86_64' (requires architecture is sparc64)"},
        {"_id": "e", "type": "task", "record_id": "r3", "name": "lint", "created": 30},
        # a document written by the 2012 dirt: no state, completed + results.success
        {"_id": "f", "type": "task", "record_id": "r3", "name": "build", "created": 29, "completed": 1315347390,
         "results": {"success": True}},
        {"_id": "node:n1", "type": "node", "name": "n1", "enabled": True, "status": "up", "last_seen": 50,
         "sys_info": {"cpu_count": 8, "platform": "Linux-6.1", "sys_platform": "linux", "architecture": "x86_64",
                      "environ": {"HOME": "/root"}}},
    ]
    assert all(r.get("ok") for r in db.bulk_docs(docs))

    records = view(app, "records", descending="true")
    assert [(r["id"], r["key"], r["value"]["description"]) for r in records["rows"]] == [
        ("r3", [30, "r3"], "third"), ("r2", [20, "r2"], "second"), ("r1", [1, "r1"], "test record")]
    assert records["rows"][1]["value"] == {"description": "second", "branch": "main", "author": "ann",
                                           "sha": "3fa9c0ffee"}

    by = view(app, "records_by", startkey=["sha", "3fa9"], endkey=["sha", "3fa9\ufff0"])
    assert [r["id"] for r in by["rows"]] == ["r2"]
    by = view(app, "records_by", descending="true", startkey=["branch", "main", {}], endkey=["branch", "main"])
    assert [r["id"] for r in by["rows"]] == ["r3", "r2"] and by["rows"][0]["value"]["created"] == 30
    assert [r["id"] for r in view(app, "records_by", startkey=["id", "r"], endkey=["id", "r\ufff0"])["rows"]] == [
        "r1", "r2", "r3"]

    summary = keys_query(app, "summary", ["r2", "r3", "nothing"], group="true")["rows"]
    assert {r["key"]: r["value"] for r in summary} == {
        "r2": {"states": {"passed": 1, "failed": 1}, "first": 21, "last": 27, "slowest": [4, "build", "a"]},
        "r3": {"states": {"running": 1, "waiting": 2, "passed": 1}, "first": 31, "last": 1315347390,
               "slowest": None}}

    outcomes = view(app, "outcomes", descending="true", startkey=["failed", {}], endkey=["failed"])["rows"]
    assert [(r["id"], r["value"]) for r in outcomes] == [("b", ["test", "r2", "failed", "", 1])]
    outcomes = view(app, "outcomes", startkey=["passed"], endkey=["passed", {}])["rows"]
    assert [(r["id"], r["value"][3]) for r in outcomes] == [("a", "linux · compiler=gcc opt=2"), ("f", "")]

    failing = view(app, "tests", startkey=["test"], endkey=["test", {}])["rows"]
    assert [(r["key"], r["value"]["message"]) for r in failing] == [(["test", "t.test_x", 20], "boom")]

    counts = keys_query(app, "tasks", [[r, s] for r in ("r2", "r3") for s in ("passed", "failed", "running",
                                                                          "waiting", "error")], group="true")
    assert {tuple(r["key"]): r["value"] for r in counts["rows"]} == {
        ("r2", "passed"): 1, ("r2", "failed"): 1, ("r3", "passed"): 1, ("r3", "running"): 1, ("r3", "waiting"): 2}
    r2 = view(app, "tasks", reduce="false", startkey=["r2"], endkey=["r2", {}])["rows"]
    assert [r["id"] for r in r2] == ["b", "a"]  # by state
    failed = r2[0]["value"]
    assert failed["reason"] == "3 tests failed" and failed["node"] == "n1"
    assert failed["brief"] == [["log", json.dumps("x" * 500)[:77] + "..."]] and failed["more"] is True
    assert "results" not in failed  # never the whole result
    assert failed["tests"] == {"total": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0,
                               "failures": [["t.test_x", "boom"]], "more": 0}

    history = view(app, "history", reduce="false", descending="true", startkey=["build", {}], endkey=["build"])
    assert [(r["id"], r["value"]["state"], r["value"]["duration"]) for r in history["rows"]] == [
        ("c", "running", None), ("f", "passed", None), ("a", "passed", 4)]
    names = view(app, "history", group_level=1)
    assert [(r["key"], r["value"]) for r in names["rows"]] == [(["build"], 3), (["lint"], 1), (["test"], 2)]

    nodes = view(app, "nodes")["rows"]
    assert nodes[0]["key"] == "n1" and nodes[0]["value"]["slots"] == 8 and "environ" not in nodes[0]["value"]

    queue = view(app, "queue", group_level=2)
    assert [(r["key"], r["value"]) for r in queue["rows"]] == [
        (["running", "n2"], 1),
        (["waiting", ""], 1),
        (["waiting", "no enabled node can run it: n1: architecture is 'x86_64' (requires architecture is sparc64)"],
         1)]


def test_the_live_filter_narrows_changes(project, app):
    db_url = f"{project.couch_url}/{project.dbname}"
    project.db.save({"_id": "t1", "type": "task", "record_id": "r1", "name": "build", "created": 1})
    project.db.save({"_id": "t2", "type": "task", "record_id": "r9", "name": "test", "created": 1})

    def ids(**params):
        answer = httpx.get(f"{db_url}/_changes", params={"filter": "proj/live", **params}, timeout=30).json()
        return sorted(change["id"] for change in answer["results"])

    assert ids(type="record") == ["r1"]
    assert ids(type="record,task", record_id="r1") == ["r1", "t1"]
    assert ids(type="task", name="test") == ["t2"]
