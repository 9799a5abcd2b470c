"""The engine's pure parts, without servers: the waiting queue, placement,
transitions, lease decisions and outcome documents."""
from __future__ import annotations

from dirt import transitions
from dirt.attempts import Outcome, Run, Slots
from dirt.balance import RoundRobin
from dirt.heartbeat import ServerWatch
from dirt.leases import lost_server
from dirt.outcomes import outcome_document, still_ours
from dirt.placement import NO_NODES, NodeView, Placer
from dirt.runner import Shipment
from dirt.taskdoc import parse_task
from dirt.waiting import WaitingQueue

INFO = {"sys_platform": "linux", "platform": "Linux-6.1", "architecture": "x86_64", "cpu_count": 2}


def task(doc_id: str, rev: int = 1, **fields):
    return parse_task({"_id": doc_id, "_rev": f"{rev}-x", "type": "task", "record_id": "r1",
                       "name": "examples.simple", "created": 1, **fields})


def node(name: str = "n1", **fields) -> NodeView:
    return NodeView(**{"name": name, "ready": True, "sys_info": INFO, "slots": 2, "room": 2, **fields})


# -- the waiting queue ------------------------------------------------------------------------

def test_waiting_tasks_come_in_priority_then_age_order():
    queue = WaitingQueue()
    for doc_id, fields in [("old", {"created": 1}), ("new", {"created": 5}), ("urgent", {"created": 9, "priority": 3})]:
        queue.put(task(doc_id, **fields))
    assert [t.id for t in queue.waiting()] == ["urgent", "old", "new"]
    queue.put(task("old", rev=2, created=1, priority=10))     # reprioritised
    queue.put(task("new", rev=2, state="running", node="n1"))  # claimed elsewhere
    assert [t.id for t in queue.waiting()] == ["old", "urgent"]
    assert queue.busy_elsewhere() == {"n1": 1} and queue.count_waiting() == 2
    assert not queue.put(task("old", rev=1))                    # an older revision is ignored
    queue.remove("old")
    assert [t.id for t in queue.waiting()] == ["urgent"] and "old" not in queue


def test_servers_sharing_a_database_reach_for_alike_tasks_in_different_orders():
    orders = []
    for server in ("server-a", "server-b"):
        queue = WaitingQueue(tiebreak=server)
        for i in range(20):
            queue.put(task(f"t{i:02d}"))
        orders.append([t.id for t in queue.waiting()])
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]


def test_fresh_tasks_are_those_changed_since_the_last_round():
    queue = WaitingQueue()
    queue.put(task("a"))
    queue.put(task("b"))
    assert queue.take_fresh() == {"a", "b"} and queue.take_fresh() == set()
    queue.put(task("a", rev=2))
    assert queue.take_fresh() == {"a"}
    queue.refresh_all()
    assert queue.take_fresh() == {"a", "b"}


# -- placement ----------------------------------------------------------------------------------

def test_placement_claims_only_as_many_as_there_is_room():
    placer = Placer(RoundRobin(), lambda t: None)
    tasks = [task(f"t{i}") for i in range(5)]
    decided = placer.plan(tasks, [node(room=2), node("n2", room=1)], 1, set())
    assert len(decided.claims) == 3 and {n for _, n in decided.claims} == {"n1", "n2"}
    assert not decided.waits and not decided.errors


def test_placement_says_why_a_task_waits_once_and_errors_what_cannot_run():
    placer = Placer(RoundRobin(), lambda t: "no task module 'x'" if t.id == "missing" else None)
    tasks = [task("arm", requires=["architecture is arm64"]), task("missing"), task("bad", max_attempts=0)]
    decided = placer.plan(tasks, [node()], 1, set())
    assert decided.waits == [(tasks[0], "no enabled node can run it: n1: architecture is 'x86_64' "
                                        "(requires architecture is arm64)")]
    assert [(t.id, why) for t, why in decided.errors] == [
        ("missing", "no task module 'x'"), ("bad", "max_attempts must be a whole number, at least 1, not 0")]
    waiting = task("arm", rev=2, requires=["architecture is arm64"], reason=decided.waits[0][1])
    assert not placer.plan([waiting], [node()], 1, set()).waits     # the same reason is not written again


def test_placement_with_no_nodes_down_nodes_and_disabled_nodes():
    placer = Placer(RoundRobin(), lambda t: None)
    assert placer.plan([task("a")], [], 1, {"a"}).waits[0][1] == NO_NODES
    down = node(ready=False, room=0, down_reason="connection refused")
    assert placer.plan([task("a")], [down], 2, {"a"}).waits[0][1] == \
        "every matching node is down: n1 (connection refused)"
    assert placer.plan([task("a")], [node(enabled=False)], 3, {"a"}).waits[0][1] == \
        "no enabled node can run it: n1 is disabled"


def test_when_no_node_has_room_only_fresh_tasks_are_looked_at():
    placer = Placer(RoundRobin(), lambda t: None)
    full = [node(room=0)]
    stale, fresh = task("stale", max_attempts=0), task("fresh", max_attempts=0)
    decided = placer.plan([stale, fresh], full, 1, {"fresh"})
    assert [t.id for t, _ in decided.errors] == ["fresh"] and not decided.claims


def test_a_balancer_that_declines_every_node_makes_the_round_look_again_soon():
    class Declines:
        def choose(self, candidates):
            return None

    decided = Placer(Declines(), lambda t: None).plan([task("a")], [node()], 1, set())
    assert not decided.claims and decided.turned_down


# -- transitions ----------------------------------------------------------------------------------

def test_a_claim_takes_a_lease_and_starts_an_attempt():
    doc = transitions.claimed(task("a", reason="no nodes yet", results={"success": False}), "n1", "s1", 100.0, 60)
    assert doc["state"] == "running" and doc["node"] == "n1" and doc["started"] == 100.0 and doc["attempt"] == 1
    assert doc["lease"] == {"server": "s1", "expires": 160.0}
    assert doc["attempts"] == [{"attempt": 1, "node": "n1", "server": "s1", "started": 100.0}]
    assert "reason" not in doc and "results" not in doc
    assert transitions.is_ours(parse_task(doc), "s1", 1) and not transitions.is_ours(parse_task(doc), "s2", 1)


def test_an_ended_attempt_records_its_outcome_and_real_start():
    running = parse_task({**transitions.claimed(task("a"), "n1", "s1", 100.0, 60), "_rev": "2-y"})
    doc = transitions.ended(running, "passed", "passed", None, 105.0, {"results": {"success": True}}, started=101.0)
    assert doc["state"] == "passed" and doc["completed"] == 105.0 and doc["started"] == 101.0
    assert doc["attempts"][-1] == {"attempt": 1, "node": "n1", "server": "s1", "started": 101.0, "ended": 105.0,
                                   "outcome": "passed"}
    assert "lease" not in doc and doc["results"] == {"success": True}


def test_lost_attempts_requeue_until_max_attempts_then_error():
    doc = task("a").doc
    for attempt in range(1, 3):
        running = parse_task({**transitions.claimed(parse_task(doc), "n1", "s1", 1.0, 60), "_rev": f"{attempt}-x"})
        doc = transitions.requeued(running, "node_lost", "node n1 was lost", 2.0, counts=True,
                                   default_max_attempts=2)
        if attempt == 1:
            assert doc["state"] == "waiting" and doc["reason"] == "node n1 was lost; it will run again"
            assert "node" not in doc and "started" not in doc
    assert doc["state"] == "error" and doc["reason"].startswith("gave up after 2 attempts lost their node")


def test_a_task_with_its_own_max_attempts_and_junk_attempts_is_still_handled():
    junk = task("a", attempts=3.5, max_attempts=1, state="running", lease={"server": "gone", "expires": 0})
    doc = transitions.recovered(junk, "dirt server gone stopped renewing its lease", 5.0, 3)
    assert doc["state"] == "error" and "gave up after 1 attempt lost its node" in doc["reason"]


# -- leases -----------------------------------------------------------------------------------------

def test_a_server_is_lost_when_its_heartbeat_stops_by_the_watcher_s_own_clock():
    now = [1000.0]
    watch = ServerWatch(lease_seconds=10, clock=lambda: now[0])
    running = task("a", state="running", started=990.0, lease={"server": "s1", "expires": 9e9})
    watch.saw({"_id": "server:s1", "server_id": "s1", "beat": 5.0e9, "interval": 3, "tasks": ["a"]})
    assert lost_server(running, watch, now[0]) is None     # its clock is far ahead: still alive by ours
    now[0] += 11
    assert lost_server(running, watch, now[0]) == "dirt server s1 stopped renewing its lease"


def test_a_stopped_or_forgetful_server_loses_its_task_and_an_unknown_one_keeps_its_lease():
    watch = ServerWatch(lease_seconds=10, clock=lambda: 100.0)
    running = task("a", state="running", started=50.0, lease={"server": "s1", "expires": 150.0})
    watch.saw({"_id": "server:s1", "server_id": "s1", "beat": 99.0, "interval": 3, "tasks": ["other"]})
    assert lost_server(running, watch, 100.0) == "dirt server s1 is alive but no longer runs it"
    watch.saw({"_id": "server:s1", "server_id": "s1", "beat": 99.0, "interval": 3, "status": "stopped"})
    assert lost_server(running, watch, 100.0) == "dirt server s1 stopped renewing its lease"
    unknown = task("b", state="running", started=50.0, lease={"server": "old-dirt", "expires": 150.0})
    assert lost_server(unknown, watch, 100.0) is None and lost_server(unknown, watch, 151.0) is not None
    assert "without a lease" in lost_server(task("c", state="running"), watch, 100.0)


# -- attempts and outcomes ------------------------------------------------------------------------------

def test_claims_ahead_of_free_slots_only_while_tasks_are_short():
    slots = Slots.__new__(Slots)
    slots.size = 2
    slots._durations = __import__("collections").deque([0.002] * 5, maxlen=20)
    assert slots.prefetch() == 2 * 16
    slots._durations = __import__("collections").deque([30.0] * 5, maxlen=20)
    assert slots.prefetch() == 0


def test_outcome_documents_by_kind():
    running = parse_task({**transitions.claimed(task("a"), "n1", "s1", 1.0, 60), "_rev": "2-y"})
    run = Run(running, "n1", 1, Shipment.of("", "tasks/x.py"))
    assert outcome_document(running, Outcome("drop", "taken_over"), 2.0, 3) is None
    assert outcome_document(running, Outcome("cancelled", "cancelled"), 2.0, 3) is None   # not cancelled (yet)
    cancelled = parse_task({**running.doc, "_rev": "3-z", "state": "cancelled"})
    doc = outcome_document(cancelled, Outcome("cancelled", "cancelled", "cancelled while it ran"), 2.0, 3)
    assert doc["state"] == "cancelled" and doc["attempts"][-1]["outcome"] == "cancelled" and "lease" not in doc
    assert still_ours(cancelled, run, "s1", Outcome("cancelled", "cancelled"))
    assert not still_ours(cancelled, run, "s1", Outcome("final", "passed", state="passed"))
