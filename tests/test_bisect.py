"""Bisect: the halving (dirt.bisect, without servers), then `dirt bisect` over 16
records of a branch with a real dirt serve."""
from __future__ import annotations

import math
import re
import time

import pytest

from dirt import bisect
from dirt.bisect import FAILED, PASSED, UNTESTABLE, answer, runs_for
from dirt_run import BackgroundServer, add_nodes, run_dirt, wait_for

RECORDS = [f"r{i:02d}" for i in range(16)]


def search(records, broken_from: int, untestable=()) -> tuple[list[str], bisect.Answer]:
    """Run the halving to its end against a task that fails from ``broken_from`` on."""
    verdicts = {records[0]: PASSED, records[-1]: FAILED}
    tested = []
    while True:
        found = answer(records, verdicts)
        if found.decided:
            return tested, found
        tested.append(found.next)
        index = records.index(found.next)
        verdicts[found.next] = UNTESTABLE if found.next in untestable else (FAILED if index >= broken_from else PASSED)


@pytest.mark.parametrize("broken_from", range(1, 16))
def test_halving_finds_the_first_failing_record_in_about_log2_runs(broken_from):
    tested, found = search(RECORDS, broken_from)
    assert found.candidates == [RECORDS[broken_from]] and found.first_bad == RECORDS[broken_from]
    assert found.last_good == RECORDS[broken_from - 1]
    assert len(tested) <= math.ceil(math.log2(len(RECORDS) - 1))


def test_untestable_records_are_left_out_and_the_answer_says_which_it_could_be():
    tested, found = search(RECORDS, 9, untestable={"r07", "r08"})
    assert found.candidates == ["r07", "r08", "r09"] and found.last_good == "r06"
    assert {"r07", "r08"} <= set(tested)
    doc = {"task": "unit", "candidates": found.candidates, "last_good": found.last_good, "state": "done"}
    assert bisect.describe(doc) == ("the first failing record for unit is one of r07, r08, r09: 2 records could "
                                    "not be tested (the last passing: r06)")


def test_a_pass_after_a_failure_does_not_move_the_search_past_the_first_failure():
    verdicts = {"r00": PASSED, "r15": FAILED, "r07": FAILED, "r11": PASSED}
    assert answer(RECORDS, verdicts).next == "r03"


def test_runs_copy_the_task_and_what_it_runs_after_naming_each_other_by_id():
    target = {"_id": "r15-test", "name": "test", "kwargs": {"level": 3}, "platform": "linux", "after": ["build"]}
    upstream = [{"_id": "r15-build", "name": "build", "kwargs": {"opt": 2}}]
    runs = runs_for("bisect:r00..r15:test", "r07", target, upstream, 5.0)
    assert runs == [
        {"_id": "bisect:r00..r15:test:r07:r15-build", "type": "task", "record_id": "r07", "name": "build",
         "kwargs": {"opt": 2}, "created": 5.0, "bisect": "bisect:r00..r15:test"},
        {"_id": "bisect:r00..r15:test:r07", "type": "task", "record_id": "r07", "name": "test",
         "kwargs": {"level": 3}, "platform": "linux", "after": ["bisect:r00..r15:test:r07:r15-build"],
         "created": 5.0, "bisect": "bisect:r00..r15:test"}]
    assert bisect.problem({"task": "t", "good": "a", "bad": "a"}) == "good and bad are the same record"
    assert bisect.problem({"task": "", "good": "a", "bad": "b"}).startswith("task must be a non-empty string")


# -- for real ------------------------------------------------------------------------------

# Fails on records from kwargs['broken_from'] on (r11 and later); the build fails on r13
# (so the test there is skipped: untestable).
CHECK = """
import json, os
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    level = int(os.environ['DIRT_RECORD_ID'][1:])
    built = json.loads(os.environ.get('DIRT_AFTER', '[]'))
    ok = level < kwargs['broken_from'] and all(t['state'] == 'passed' for t in built)
    channel.send({'success': ok, 'level': level, 'built': [t['id'] for t in built]})
"""
BUILD = """
import os
if __name__ == '__channelexec__':
    channel.send({'success': os.environ['DIRT_RECORD_ID'] != 'r13'})
"""


@pytest.mark.both_servers
def test_dirt_bisect_names_the_record_that_broke_a_task_over_16_records(project):
    add_nodes(project, "localhost")
    project.write_task("check", CHECK)
    project.write_task("build", BUILD)
    for i, record in enumerate(RECORDS):
        project.db.save({"_id": record, "type": "record", "branch": "main", "created": 1000 + i,
                         "description": f"commit {i}"})
    project.db.save({"_id": "elsewhere", "type": "record", "branch": "dev", "created": 1005})
    for record in ("r00", "r15"):                   # CI ran the pipeline on these two only
        project.add_task("build", f"{record}-build", record_id=record)
        project.add_task("check", f"{record}-check", record_id=record, after=["build"], kwargs={"broken_from": 11})

    with BackgroundServer(project):
        wait_for(lambda: project.task("r15-check").get("state") == "failed", timeout=60, what="r15's check")
        done = run_dirt("bisect", "check", "--good", "r00", "--bad", "r15", "--timeout", "120", cwd=project.root)
        again = run_dirt("bisect", "check", "--good", "r00", "--bad", "r15", cwd=project.root)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "bisect bisect:r00..r15:check: check, passing on r00, failing on r15"
    assert "14 records between them on branch main" in lines
    assert lines[-1] == "first failing record for check: r11 (the last passing: r10)"
    doc = project.db.get("bisect:r00..r15:check")
    assert doc["state"] == "done" and doc["records"] == RECORDS and doc["candidates"] == ["r11"]
    tested = [r for r in doc["verdicts"] if r not in ("r00", "r15")]
    assert 3 <= len(tested) <= 5 and {"r10", "r11"} <= set(tested)
    for record in tested:
        run = project.task(f"bisect:r00..r15:check:{record}")
        assert run["bisect"] == doc["_id"] and run["kwargs"] == {"broken_from": 11}
        assert run["after"] == [f"bisect:r00..r15:check:{record}:r15-build"]
        assert doc["verdicts"][record] == ("untestable" if record == "r13" else
                                           "failed" if int(record[1:]) >= 11 else "passed")
        assert re.search(rf"^  {record}: (good|bad|untestable)", done.stdout, re.M)
    # Asked again: the same bisection's answer, not a second one.
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == lines[-1]
    assert len([r for r in project.db.all_docs()["rows"] if r["id"].startswith("bisect:")]) == 1 + 2 * len(tested)


@pytest.mark.both_servers
def test_a_bisect_that_cannot_start_says_why(project):
    project.db.save({"_id": "a", "type": "record", "branch": "main", "created": 2})
    project.db.save({"_id": "b", "type": "record", "branch": "main", "created": 1})
    missing = run_dirt("bisect", "check", "--good", "a", "--bad", "nope", cwd=project.root)
    assert missing.returncode == 1 and "--bad nope: no such record" in missing.stderr
    with BackgroundServer(project):
        backwards = run_dirt("bisect", "check", "--good", "a", "--bad", "b", "--timeout", "60", cwd=project.root)
    assert backwards.returncode == 1
    assert backwards.stdout.splitlines()[-1] == ("bisect of check stopped: the good record a must be older than "
                                                 "the bad one b (by created)")


def test_with_no_bisection_open_the_bisector_looks_again_only_when_one_arrives(project):
    """A view read makes CouchDB index everything written since the last one: a
    server with no bisection open must not pay for that every few seconds."""
    from dirt import snapshot
    from dirt.bisector import Bisector

    snapshot.install(project.db)
    snapshot.build(project.db)
    bisector = Bisector(project.db, interval=3, idle_interval=300)
    assert bisector.next_wait() == 3                 # not looked yet
    assert bisector.step() == 0 and bisector.open == 0
    assert bisector.next_wait() == 300

    doc = bisect.new_document("check", "r1", "r1", time.time())
    bisector.saw({"_id": "r1", "type": "record"})
    assert not bisector._wake.is_set()
    bisector.saw(doc)
    assert bisector._wake.is_set()                   # its arrival wakes the bisector at once
    project.db.save(doc)
    bisector.step()
    assert bisector.open == 1 and bisector.next_wait() == 3
