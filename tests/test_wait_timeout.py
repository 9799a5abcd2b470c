"""Waiting has an end: a task no node can run ends in error after its wait_timeout,
so its record finishes (pure placement first, then a real dirt serve)."""
from __future__ import annotations

import pytest

from dirt.balance import RoundRobin
from dirt.placement import NodeView, Placer
from dirt.taskdoc import parse_task
from dirt_run import BackgroundServer, add_nodes, wait_for

INFO = {"sys_platform": "linux", "platform": "Linux-6.1", "architecture": "x86_64", "cpu_count": 2}
NODE = NodeView(name="n1", ready=True, sys_info=INFO, slots=2, room=2)


def task(doc_id: str, **fields):
    return parse_task({"_id": doc_id, "_rev": "1-x", "type": "task", "record_id": "r1", "name": "examples.simple",
                       "created": 1000.0, "requires": ["architecture is sparc"], **fields})


def test_a_task_no_node_can_run_errors_once_it_waited_its_wait_timeout():
    placer = Placer(RoundRobin(), lambda t: None, wait_timeout=600)
    early = placer.plan([task("a")], [NODE], 1, {"a"}, now=1300.0)
    assert early.waits and not early.errors and early.next_deadline == 1600.0
    late = placer.plan([task("a")], [NODE], 1, {"a"}, now=1600.0)
    (gone, reason), = late.errors
    assert reason == ("gave up after waiting 10 min (wait_timeout 10 min): no enabled node can run it: n1: "
                      "architecture is 'x86_64' (requires architecture is sparc)")
    # without a time, or with 0, it waits for ever; its own field wins over the setting
    assert not placer.plan([task("a")], [NODE], 1, {"a"}).errors
    assert not Placer(RoundRobin(), lambda t: None).plan([task("a")], [NODE], 1, {"a"}, now=1e9).errors
    assert placer.plan([task("b", wait_timeout=60)], [NODE], 1, {"b"}, now=1061.0).errors
    assert not placer.plan([task("c", wait_timeout=0)], [NODE], 1, {"c"}, now=1e9).errors


def test_waiting_counts_from_a_rerun_or_requeue_and_not_from_before_the_server_started():
    placer = Placer(RoundRobin(), lambda t: None, wait_timeout=600)
    rerun = task("r", run=2, rerun_at=5000.0)
    assert placer.plan([rerun], [NODE], 1, {"r"}, now=5500.0).next_deadline == 5600.0
    requeued = task("q", attempts=[{"attempt": 1, "outcome": "node_lost", "ended": 7000.0}])
    assert placer.plan([requeued], [NODE], 1, {"q"}, now=7100.0).next_deadline == 7600.0
    started_late = Placer(RoundRobin(), lambda t: None, wait_timeout=600, counting_from=9000.0)
    assert not started_late.plan([task("a")], [NODE], 1, {"a"}, now=9100.0).errors


def test_a_task_that_can_run_never_times_out_while_it_waits_for_a_slot():
    placer = Placer(RoundRobin(), lambda t: None, wait_timeout=1)
    full = NodeView(name="n1", ready=True, sys_info=INFO, slots=1, room=0, busy=1)
    able = parse_task({"_id": "a", "_rev": "1-x", "type": "task", "record_id": "r1", "name": "x", "created": 1})
    assert not placer.plan([able], [full], 1, {"a"}, now=1e9).errors


@pytest.mark.both_servers
def test_dirt_serve_ends_the_wait_and_the_record_finishes(project):
    project.set(wait_timeout=1)
    add_nodes(project, "localhost")
    stuck = project.add_task("examples.simple", platform="sparc-nowhere")
    patient = project.add_task("examples.simple", platform="sparc-nowhere", wait_timeout=0)
    runs = project.add_task("examples.simple")
    with BackgroundServer(project):
        doc = wait_for(lambda: (d := project.task(stuck)).get("state") == "error" and d, timeout=30,
                       what="the stuck task to give up")
        assert project.task(runs)["state"] == "passed"
    assert doc["reason"].startswith("gave up after waiting ") and "(wait_timeout 1 s): no enabled node can run it: " \
        "localhost: platform is linux, not sparc-nowhere" in doc["reason"]
    assert doc["completed"] > 0
    assert project.task(patient)["state"] == "waiting"
