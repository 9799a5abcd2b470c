"""Who may write what (web/lib/access.js, run in Node as CouchDB runs it), and the
cancel and rerun transitions that dirt's tools write, checked against those rules."""
from __future__ import annotations

import pytest

from dirt import transitions
from dirt.taskdoc import parse_task
from jsrun import NODE, WriteValidator

WAITING = {"_id": "t1", "_rev": "1-a", "type": "task", "record_id": "r1", "name": "build", "created": 10.0}
RUNNING = {**WAITING, "_rev": "3-c", "state": "running", "node": "n1", "started": 20.0, "attempt": 1,
           "lease": {"server": "s1", "expires": 99.0},
           "attempts": [{"attempt": 1, "node": "n1", "server": "s1", "started": 20.0}]}
FAILED = {**WAITING, "_rev": "4-d", "state": "failed", "node": "n1", "started": 20.0, "completed": 30.0,
          "attempt": 1, "reason": "2 tests failed", "results": {"success": False, "failing": 2},
          "attempts": [{"attempt": 1, "node": "n1", "server": "s1", "started": 20.0, "ended": 30.0,
                        "outcome": "failed"}],
          "_attachments": {"junit.xml": {"stub": True, "digest": "md5-x", "length": 9, "content_type": "text/xml"}}}
RECORD = {"_id": "r1", "type": "record", "description": "rev 1", "created": 10.0}


@pytest.fixture(scope="module")
def may():
    if NODE is None:
        pytest.skip("node (Node.js) is not installed")
    validator = WriteValidator()
    yield validator
    validator.close()


def test_cancel_and_rerun_transitions_keep_what_a_person_needs():
    cancelled = transitions.cancelled(parse_task(RUNNING), "ann", 40.0)
    assert cancelled["state"] == "cancelled" and cancelled["cancelled_by"] == "ann"
    assert cancelled["lease"] == RUNNING["lease"] and cancelled["reason"] == "cancelled by ann"
    again = transitions.rerun(parse_task(FAILED), "bob", 50.0)
    assert again["state"] == "waiting" and again["run"] == 2 and again["rerun_by"] == "bob"
    assert again["rerun_at"] == 50.0
    assert again["runs"] == [{"run": 1, "state": "failed", "node": "n1", "started": 20.0, "completed": 30.0,
                              "reason": "2 tests failed", "results": {"success": False, "failing": 2},
                              "files": ["junit.xml"]}]
    for gone in ("node", "started", "completed", "results", "reason", "attempt"):
        assert gone not in again
    assert again["attempts"] == FAILED["attempts"] and again["_attachments"] == FAILED["_attachments"]
    # the next claim belongs to run 2; a second rerun keeps both earlier runs
    claimed = transitions.claimed(parse_task(again), "n2", "s1", 60.0, 60)
    assert claimed["attempt"] == 2 and claimed["attempts"][-1]["run"] == 2
    passed = transitions.ended(parse_task(claimed), "passed", "passed", None, 70.0,
                               {"results": {"success": True}})
    third = transitions.rerun(parse_task(passed), "ann", 80.0)
    assert [(r["run"], r["state"], r.get("rerun_by")) for r in third["runs"]] == [(1, "failed", None),
                                                                                   (2, "passed", "bob")]
    assert third["run"] == 3


def test_admins_and_the_admin_party_may_do_everything(may):
    forged = {**WAITING, "state": "passed", "results": {"success": True}}
    assert may(forged, WAITING, None, ["_admin"]) is None               # pouchdb-server without admins
    db_admins = {"admins": {"names": ["carl"], "roles": ["ci-admins"]}}
    assert may(forged, WAITING, "carl", [], db_admins) is None
    assert may(forged, WAITING, "dora", ["ci-admins"], db_admins) is None


@pytest.mark.parametrize("roles, allowed", [
    ([], False), (["readers"], False), (["operators"], False), (["submitters"], False), (["dirt-server"], True)])
def test_only_the_server_writes_an_outcome(may, roles, allowed):
    forged = {**WAITING, "state": "passed", "results": {"success": True}, "completed": 12.0}
    refusal = may(forged, WAITING, "eve", roles)
    if allowed:
        assert refusal is None
    else:
        assert refusal.startswith("task t1: writing ") and 'needs the role "dirt-server"' in refusal, refusal
        assert ("eve has no roles" if not roles else f"eve has the roles {roles[0]}") in refusal


def test_readers_change_nothing(may):
    refusals = [
        may(WAITING, None, "rita", ["readers"]),
        may(RECORD, None, "rita", ["readers"]),
        may({**RECORD, "description": "mine now"}, RECORD, "rita", ["readers"]),
        may({**WAITING, "kwargs": {"x": 1}}, WAITING, "rita", ["readers"]),
        may(transitions.cancelled(parse_task(WAITING), "rita", 20.0), WAITING, "rita", ["readers"]),
        may(transitions.rerun(parse_task(FAILED), "rita", 50.0), FAILED, "rita", ["readers"]),
        may({"_id": "node:n1", "type": "node", "name": "n1"}, None, "rita", ["readers"]),
        may({"_id": "t1", "_deleted": True}, WAITING, "rita", ["readers"]),
        may({"_id": "notes", "text": "hi"}, None, "rita", ["readers"]),
    ]
    needed = ["submitters", "submitters", "submitters", "submitters", "operators", "operators", "dirt-server",
              "dirt-server", "submitters"]
    for refusal, role in zip(refusals, needed):
        assert refusal is not None and f'needs the role "{role}" (rita has the roles readers)' in refusal, refusal


def test_not_signed_in_is_said(may):
    assert "(you are not signed in)" in may(WAITING, None, None, [])


def test_submitters_add_records_and_tasks_but_no_outcomes(may):
    assert may(RECORD, None, "sam", ["submitters"]) is None
    assert may({**RECORD, "branch": "main"}, RECORD, "sam", ["submitters"]) is None
    assert may(WAITING, None, "sam", ["submitters"]) is None
    assert may({**WAITING, "state": "waiting"}, None, "sam", ["submitters"]) is None
    assert may({**WAITING, "priority": 5}, WAITING, "sam", ["submitters"]) is None
    refusal = may({**WAITING, "state": "passed", "results": {"success": True}}, None, "sam", ["submitters"])
    assert "a new task with state, results (fields dirt serve writes) needs the role \"dirt-server\"" in refusal
    assert "needs the role \"operators\"" in may(transitions.cancelled(parse_task(WAITING), "sam", 1.0), WAITING,
                                                 "sam", ["submitters"])
    assert "only a waiting task can be changed (this one is failed)" in may({**FAILED, "kwargs": {"a": 1}}, FAILED,
                                                                            "sam", ["submitters"])


def test_operators_cancel_and_rerun_as_themselves_only(may):
    for old in (WAITING, RUNNING):
        assert may(transitions.cancelled(parse_task(old), "olga", 40.0), old, "olga", ["operators"]) is None
    assert may(transitions.rerun(parse_task(FAILED), "olga", 50.0), FAILED, "olga", ["operators"]) is None
    as_other = may(transitions.cancelled(parse_task(WAITING), "boss", 40.0), WAITING, "olga", ["operators"])
    assert 'cancelled_by must be your own user name, "olga"' in as_other
    # a rerun may not drop or rewrite the run it replaces
    rewritten = transitions.rerun(parse_task(FAILED), "olga", 50.0)
    rewritten["runs"][0]["state"] = "passed"
    assert "a rerun keeps every earlier run" in may(rewritten, FAILED, "olga", ["operators"])
    dropped = {**transitions.rerun(parse_task(FAILED), "olga", 50.0), "runs": []}
    assert "a rerun keeps every earlier run" in may(dropped, FAILED, "olga", ["operators"])
    # cancelling may not slip other changes in
    sneaky = {**transitions.cancelled(parse_task(WAITING), "olga", 40.0), "results": {"success": True}}
    assert 'needs the role "dirt-server"' in may(sneaky, WAITING, "olga", ["operators"])
    assert 'needs the role "submitters"' in may(WAITING, None, "olga", ["operators"])


def test_the_server_writes_outcomes_nodes_and_its_own_documents_but_not_design_documents(may):
    server = ["dirt-server"]
    for doc in ({"_id": "node:n1", "type": "node", "name": "n1"}, {"_id": "server:s1", "type": "server"},
                {"_id": "notification:failure:t1:1", "type": "notification"},
                {"_id": "badge:main", "type": "badge", "branch": "main"},
                {"_id": "log:t1:1:000001", "type": "log", "task_id": "t1", "lines": []}):
        assert may(doc, None, "dirt", server) is None
        assert 'needs the role "dirt-server"' in may(doc, None, "sam", ["submitters"])
    assert may(transitions.claimed(parse_task(WAITING), "n1", "s1", 20.0, 60), WAITING, "dirt", server) is None
    assert may({"_id": "t1", "_deleted": True}, WAITING, "dirt", server) is None
    assert "design documents are written by the database's admins" in may(
        {"_id": "_design/dirt-serve", "views": {}}, None, "dirt", server)


def test_role_names_come_from_security_when_it_names_them(may):
    security = {"dirt_roles": {"operator": "ci-ops"}}
    cancel = transitions.cancelled(parse_task(WAITING), "olga", 40.0)
    assert 'needs the role "ci-ops"' in may(cancel, WAITING, "olga", ["operators"], security)
    assert may(cancel, WAITING, "olga", ["ci-ops"], security) is None


def test_the_web_app_s_buttons_write_what_dirt_s_commands_write():
    """web/lib/taskactions.js (the buttons) and dirt/transitions.py (dirt cancel, dirt rerun) agree."""
    if NODE is None:
        pytest.skip("node (Node.js) is not installed")
    from jsrun import app_function, run_node

    script = "\n".join(app_function(f"lib/{name}.js") for name in ("state", "taskactions")) + """
    out(DATA.map(function (doc) {
      return {cancel: dirtWhyNotCancel(doc) ? null : dirtCancelled(doc, 'ann', 40),
              rerun: dirtWhyNotRerun(doc) ? null : dirtRerun(doc, 'ann', 50)};
    }));"""
    second = transitions.ended(parse_task(transitions.claimed(parse_task(transitions.rerun(
        parse_task(FAILED), "bob", 45.0)), "n2", "s1", 46.0, 60)), "error", "raised", "boom", 47.0)
    docs = [WAITING, RUNNING, FAILED, second, {**WAITING, "completed": 5.0, "results": None}]
    for doc, got in zip(docs, run_node(script, docs)):
        task = parse_task(doc)
        assert got["cancel"] == (None if task.final else transitions.cancelled(task, "ann", 40))
        assert got["rerun"] == (transitions.rerun(task, "ann", 50) if task.final else None)


def test_the_failure_mail_of_a_rerun_says_which_run_and_who_asked():
    from dirt.notices import failure_email
    from dirt.settings import Settings

    again = transitions.rerun(parse_task(FAILED), "bob", 50.0)
    failed_again = transitions.ended(parse_task(transitions.claimed(parse_task(again), "n2", "s1", 60.0, 60)),
                                     "failed", "failed", "still 1 test failed", 70.0,
                                     {"results": {"success": False}})
    body = failure_email(failed_again, {"description": "rev 1"}, Settings(notify_list=["a@b"]))["body"]
    assert "Run:     2 (rerun by bob); earlier: run 1 failed\n" in body
    assert "Run:" not in failure_email(FAILED, {}, Settings(notify_list=["a@b"]))["body"]
