"""Notifications, for real: a local SMTP server, a local HTTP server, real schedulers on pouchdb-server
and on Apache CouchDB 3.5."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import uuid

import pytest

from dirt.notices import FAILURE, WEBHOOK, completion_ms, notification_id
from dirt.notify import Notifier
from dirt_run import BackgroundServer, add_nodes, serve_until_idle, wait_for
from listeners import HttpSink, SmtpSink
from servers import free_port

pytestmark = pytest.mark.both_servers

FAILS = """
    if __name__ == '__channelexec__':
        channel.send({'success': False, 'reason': 'tests failed: 3 of 10'})
"""
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


def start_notifier(project, **kwargs) -> Notifier:
    kwargs.setdefault("sweep_interval", 0.5)
    return Notifier(project.db, project.load().settings, **kwargs).start()


def mail_settings(smtp: SmtpSink, **more) -> dict:
    return dict(notify_list=["dev@example.com", "lead@example.com"], smtp_server="127.0.0.1", smtp_port=smtp.port,
                **more)


def final_task(project, record_id: str, state: str, **fields) -> dict:
    """A task document as a dirt server leaves it when the task is finished."""
    doc = {"type": "task", "record_id": record_id, "name": fields.pop("name", "build"), "created": 1,
           "state": state, "node": "node1", "started": time.time() - 2, "completed": time.time(), **fields}
    if state in ("failed", "error"):
        doc.setdefault("reason", "it broke")
    return project.db.save(doc)


def all_docs_text(project) -> str:
    return json.dumps(project.db.all_docs(include_docs=True))


def test_failing_task_sends_one_email_with_what_went_wrong(project):
    add_nodes(project, "localhost")
    project.write_task("fails", FAILS)
    with SmtpSink() as smtp:
        project.set(**mail_settings(smtp), web_url="http://dirt.example.com/app")
        notifier = start_notifier(project)
        failed = project.add_task("fails")
        project.add_task("examples.simple")
        serve_until_idle(project, on_final=notifier.task_final, notify=False)
        assert notifier.wait_idle(30)
        notifier.close()

        assert len(smtp.mails) == 1
        mail = smtp.mails[0]
        assert mail.recipients == ["dev@example.com", "lead@example.com"]
        assert mail.subject == "[proj] fails failed on localhost (record r1)"
        body = mail.body
        for line in ["Task fails of record r1 failed.", "Record:  r1 (test record)", f"Task:    {failed} (fails)",
                     "Node:    localhost", "State:   failed", "Reason:  tests failed: 3 of 10",
                     "Record page: http://dirt.example.com/app/record.html?id=r1"]:
            assert line in body, body
        claim = project.db.get(notification_id(FAILURE, failed, completion_ms(project.task(failed))))
        assert claim["state"] == "sent" and claim["tries"] == 1 and claim["server"] == notifier.server_id

        # A restarted server (its start-up sweep looks at recently finished tasks) sends nothing twice.
        again = start_notifier(project)
        assert again.wait_idle(30)
        again.close()
        assert len(smtp.mails) == 1


def test_finished_record_sends_one_webhook_and_one_github_status(project, caplog):
    caplog.set_level("DEBUG", logger="dirt")
    add_nodes(project, "localhost")
    project.write_task("fails", FAILS)
    project.db.save({"_id": "r2", "type": "record", "description": "revision 2", "created": 2, "sha": SHA,
                     "repository": "physics/builder", "author": "ann"})
    token = "ghp_" + uuid.uuid4().hex
    with HttpSink() as http:
        project.set(webhook_url=http.url + "/hook?key=hook-s3cret", commit_status="github",
                    commit_status_api=http.url + "/api/", commit_status_token_env="DIRT_TEST_TOKEN",
                    web_url="http://dirt.example.com/app/")
        notifier = start_notifier(project, environ={"DIRT_TEST_TOKEN": token})
        tasks = {project.add_task("examples.simple", record_id="r2"), project.add_task("fails", record_id="r2"),
                 project.add_task("examples.kwargs", record_id="r2", kwargs={"foo": 1, "bar": 2})}
        serve_until_idle(project, on_final=notifier.task_final, notify=False)
        assert notifier.wait_idle(30)
        notifier.close()

    hooks = [r for r in http.requests if r.path == "/hook"]
    statuses = [r for r in http.requests if r.path.startswith("/api/")]
    assert len(hooks) == 1 and len(statuses) == 1, [(r.path, r.body) for r in http.requests]

    hook = hooks[0]
    assert hook.query == {"key": "hook-s3cret"}
    assert hook.headers["content-type"] == "application/json"
    assert hook.headers["x-dirt-event"] == "record.finished"
    assert hook.headers["x-dirt-delivery"].startswith("notification:webhook:r2:")
    body = hook.json()
    assert body["event"] == "record.finished" and body["project"] == "proj" and body["record_id"] == "r2"
    assert body["outcome"] == "failed" and body["counts"] == {"passed": 2, "failed": 1} and body["total"] == 3
    assert body["url"] == "http://dirt.example.com/app/record.html?id=r2"
    assert body["record"]["sha"] == SHA and body["record"]["author"] == "ann" and "_rev" not in body["record"]
    assert {t["id"] for t in body["tasks"]} == tasks
    assert {(t["name"], t["state"], t["node"]) for t in body["tasks"]} == {
        ("examples.simple", "passed", "localhost"), ("examples.kwargs", "passed", "localhost"),
        ("fails", "failed", "localhost")}

    status = statuses[0]
    assert status.path == f"/api/repos/physics/builder/statuses/{SHA}"
    assert status.headers["authorization"] == f"Bearer {token}"
    assert status.headers["accept"] == "application/vnd.github+json"
    assert status.json() == {"state": "failure", "description": "2 passed, 1 failed (proj)", "context": "dirt",
                             "target_url": "http://dirt.example.com/app/record.html?id=r2"}
    assert not status.query

    # The token is only ever in that header: not in a URL, a log line or the database.
    assert token not in caplog.text and "hook-s3cret" not in caplog.text
    assert token not in all_docs_text(project)
    assert all(token not in r.path and token not in json.dumps(r.query) for r in http.requests)
    assert "Record r2: webhook sent" in caplog.text and "Record r2: github commit status sent" in caplog.text


def test_gitlab_commit_status(project):
    project.db.save({"_id": "r3", "type": "record", "commit": SHA,
                     "repository": "https://gitlab.example.com/physics/sim/builder.git"})
    final_task(project, "r3", "passed", name="unit")
    broken = final_task(project, "r3", "error", name="build", reason="node lost")
    with HttpSink() as http:
        project.set(commit_status="gitlab", commit_status_api=http.url + "/api/v4")
        notifier = start_notifier(project, environ={"GITLAB_TOKEN": "glpat-secret"})
        notifier.task_final(broken)
        assert notifier.wait_idle(30)
        notifier.close()
    assert len(http.requests) == 1
    request = http.requests[0]
    assert request.path == f"/api/v4/projects/physics%2Fsim%2Fbuilder/statuses/{SHA}"
    assert request.headers["private-token"] == "glpat-secret" and "authorization" not in request.headers
    assert request.query["state"] == "failed" and request.query["name"] == "dirt"
    assert request.query["description"] == "1 passed, 1 error (proj)"
    assert request.query["target_url"].endswith(f"/{project.dbname}/_design/proj/record.html?id=r3")
    assert "glpat-secret" not in all_docs_text(project)


def test_commit_status_needs_a_plausible_repository_and_sha(project, caplog):
    """A repository from a record becomes part of the URL sent with the token: path tricks are refused."""
    project.db.save({"_id": "r4", "type": "record", "sha": SHA, "repository": "../../user/keys"})
    done = final_task(project, "r4", "passed")
    with HttpSink() as http:
        project.set(commit_status="github", commit_status_api=http.url)
        notifier = start_notifier(project, environ={"GITHUB_TOKEN": "t0ken"})
        notifier.task_final(done)
        assert notifier.wait_idle(30)
        notifier.close()
    assert http.requests == []
    assert "Record r4: no github commit status" in caplog.text


def test_two_servers_send_each_notification_once(project):
    add_nodes(project, "localhost")
    project.write_task("fails", FAILS)
    records = ["ra", "rb", "rc"]
    with SmtpSink() as smtp, HttpSink() as http:
        project.set(**mail_settings(smtp), webhook_url=http.url + "/hook")
        first, second = start_notifier(project), start_notifier(project)
        failing, everything = [], []
        for record in records:
            project.db.save({"_id": record, "type": "record", "created": 1})
            failing.append(project.add_task("fails", record_id=record))
            everything += [failing[-1]] + [project.add_task("examples.simple", record_id=record) for _ in range(3)]
        with BackgroundServer(project, on_final=first.task_final, notify=False), \
                BackgroundServer(project, on_final=second.task_final, notify=False):
            wait_for(lambda: all(project.task(t).get("state") in ("passed", "failed") for t in everything), 60,
                     what="every task to finish")
        # Even when both servers hear of every task, nothing goes out twice.
        for task in everything:
            doc = project.task(task)
            first.task_final(doc)
            second.task_final(doc)
        assert first.wait_idle(30) and second.wait_idle(30)
        first.close()
        second.close()

    mailed = sorted(re.search(r"Task:    (\S+)", m.body).group(1) for m in smtp.mails)
    assert mailed == sorted(failing)
    hooked = sorted(r.json()["record_id"] for r in http.requests)
    assert hooked == records


def test_notifications_a_dead_server_left_undone_are_sent_once(project):
    with SmtpSink() as smtp, HttpSink() as http:
        project.set(**mail_settings(smtp), webhook_url=http.url + "/hook")
        # A task that failed a minute ago; its server died before claiming the e-mail.
        lost = final_task(project, "r1", "failed", completed=time.time() - 60)
        # One that failed long ago (before the catch-up window): not dug up.
        final_task(project, "r1", "error", completed=time.time() - 7200)
        # A webhook that a server claimed and died while sending.
        project.db.save({"_id": "r5", "type": "record"})
        done = final_task(project, "r5", "passed")
        claim_id = notification_id(WEBHOOK, "r5", completion_ms(done))
        project.db.save({"_id": claim_id, "type": "notification", "kind": WEBHOOK, "record_id": "r5",
                         "state": "sending", "server": "dead-host:1:abc", "expires": time.time() - 1, "tries": 0,
                         "created": time.time() - 100, "message": {"body": {"record_id": "r5", "note": "queued"}}})

        notifier = start_notifier(project)
        assert notifier.wait_idle(30)
        notifier.close()

        assert len(smtp.mails) == 1 and lost["_id"] in smtp.mails[0].body
        # r5's claimed webhook, as it was queued; and r1's, whose tasks are all finished too.
        bodies = sorted((r.json() for r in http.requests), key=lambda b: b["record_id"])
        assert [b["record_id"] for b in bodies] == ["r1", "r5"]
        assert bodies[0]["counts"] == {"failed": 1, "error": 1} and bodies[1] == {"record_id": "r5", "note": "queued"}
        claim = project.db.get(claim_id)
        assert claim["state"] == "sent" and claim["server"] == notifier.server_id and claim["tries"] == 1

        restarted = start_notifier(project)
        assert restarted.wait_idle(30)
        restarted.close()
        assert len(smtp.mails) == 1 and len(http.requests) == 2


def test_failing_notifications_are_retried_a_bounded_number_of_times(project, caplog):
    with SmtpSink(answer="451 4.3.0 mailbox busy, try again later") as smtp, HttpSink(statuses=[500, 503]) as http:
        project.set(**mail_settings(smtp), webhook_url=http.url + "/hook", notify_retries=2, notify_retry_delay=0.2)
        failed = final_task(project, "r1", "failed")
        notifier = start_notifier(project)
        notifier.task_final(failed)
        assert notifier.wait_idle(30)
        notifier.close()

    assert smtp.attempts == 3 and smtp.mails == []
    mail_claim = project.db.get(notification_id(FAILURE, failed["_id"], completion_ms(failed)))
    assert mail_claim["state"] == "failed" and mail_claim["tries"] == 3 and "451" in mail_claim["error"]
    assert f"Task {failed['_id']}: failure e-mail failed (try 1 of 3)" in caplog.text
    assert f"Task {failed['_id']}: failure e-mail failed, giving up after 3 tries: SMTP server" in caplog.text

    assert len(http.requests) == 3      # 500, 503, then 200
    hook_claim = project.db.get(notification_id(WEBHOOK, "r1", completion_ms(failed)))
    assert hook_claim["state"] == "sent" and hook_claim["tries"] == 3


def test_a_refusal_that_cannot_change_is_not_retried(project, caplog):
    with SmtpSink(answer="550 5.1.1 no such mailbox") as smtp, HttpSink(statuses=[404]) as http:
        project.set(**mail_settings(smtp), webhook_url=http.url + "/gone", notify_retries=5, notify_retry_delay=0.1)
        failed = final_task(project, "r1", "error")
        notifier = start_notifier(project)
        notifier.task_final(failed)
        assert notifier.wait_idle(30)
        notifier.close()
    assert smtp.attempts == 1 and len(http.requests) == 1
    assert "webhook failed, giving up after it cannot succeed: webhook http://127.0.0.1" in caplog.text
    assert project.db.get(notification_id(FAILURE, failed["_id"], completion_ms(failed)))["state"] == "failed"


def test_dead_smtp_and_slow_webhook_do_not_slow_dispatch(project, caplog):
    add_nodes(project, "localhost")
    project.write_task("fails", FAILS)
    dead_port = free_port()     # nothing listens there: connections are refused
    with HttpSink(delay=5) as http:
        project.set(notify_list=["dev@example.com"], smtp_server="127.0.0.1", smtp_port=dead_port,
                    webhook_url=http.url + "/slow", notify_retries=2, notify_retry_delay=0.5)
        notifier = start_notifier(project)
        with BackgroundServer(project, on_final=notifier.task_final, notify=False):
            project.db.save({"_id": "ra", "type": "record"})
            project.add_task("fails", record_id="ra")
            wait_for(lambda: http.requests, 30, what="the webhook to be called")
            held_since = http.requests[0].at
            wait_for(lambda: "failure e-mail failed (try 1 of 3)" in caplog.text, 10, what="the first SMTP failure")

            started = time.monotonic()
            later = [project.add_task("examples.simple", record_id="rb") for _ in range(6)]
            wait_for(lambda: all(project.task(t).get("state") == "passed" for t in later), 30,
                     what="the later tasks to pass", interval=0.05)
            finished = time.monotonic()
        # All six ran while the webhook still held its connection open, and quickly.
        assert finished < held_since + 5, (finished - held_since)
        assert finished - started < 4.5, finished - started
        assert notifier.wait_idle(40)
        notifier.close()

    assert sorted(r.json()["record_id"] for r in http.requests) == ["ra", "rb"]
    assert "failure e-mail failed, giving up after 3 tries: cannot send mail through 127.0.0.1" in caplog.text
    assert caplog.text.count("failure e-mail failed (try") == 2


def test_dirt_serve_emails_a_failure_posts_a_finished_record_and_logs_like_the_seed(project):
    add_nodes(project, "localhost")
    project.write_task("examples.fails", FAILS)
    project.db.save({"_id": "r123", "type": "record", "description": "this is revision one two three",
                     "created": 1315347385})
    with SmtpSink() as smtp, HttpSink() as http:
        project.set(log_file="dirt.log", **mail_settings(smtp), webhook_url=http.url + "/dirt")
        bad = project.add_task("examples.fails", record_id="r123")
        good = project.add_task("examples.simple", record_id="r123")
        proc = subprocess.run([sys.executable, "-m", "dirt", "serve", "--until-idle"], cwd=project.root,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr

    assert len(smtp.mails) == 1 and bad in smtp.mails[0].body
    assert len(http.requests) == 1 and http.requests[0].json()["counts"] == {"passed": 1, "failed": 1}

    host = re.escape(socket.gethostname().split(".")[0])
    seed_line = re.compile(rf"[A-Z][a-z]{{2}} \d\d \d\d:\d\d:\d\d {host} proj : \S.*")
    lines = (project.root / "dirt.log").read_text().splitlines()
    assert lines and all(seed_line.fullmatch(line) for line in lines), lines
    text = "\n".join(lines)
    for part in [f"proj : Connected to db at {project.couch_url}/{project.dbname}", f"proj : {bad} -> localhost",
                 f"proj : Task {good} pushed to db", f"proj : Task {bad}: failure e-mail sent",
                 "proj : Record r123: webhook sent"]:
        assert part in text, text
