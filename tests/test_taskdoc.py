"""Reading task documents: one parser, never raising, agreeing with validate_doc_update."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dirt.taskdoc import Lease, parse_task
from jsrun import NODE, Validator

BASE = {"_id": "t1", "_rev": "3-abc", "type": "task", "record_id": "r1", "name": "examples.simple"}


def task(**fields):
    return parse_task({**BASE, **fields})


def test_a_good_document_reads_into_typed_fields():
    t = task(kwargs={"a": 1}, requires=["architecture is x86_64"], platform="linux", timeout=30,
             max_attempts=3.0, priority=-2, created=1315347385, after=["build"], state="running",
             lease={"server": "s1", "expires": 99.5}, attempt=2, node="n1", started=5, results={"success": True},
             attempts=[{"attempt": 1, "node": "n1", "outcome": "node_lost"}, "junk"])
    assert t.problem is None
    assert (t.id, t.rev_number, t.record_id, t.name, t.kwargs) == ("t1", 3, "r1", "examples.simple", {"a": 1})
    assert str(t.requires[0]) == "architecture is x86_64" and t.platform == "linux"
    assert (t.timeout, t.max_attempts, t.priority, t.created, t.after) == (30.0, 3, -2.0, 1315347385.0, ("build",))
    assert t.running and t.lease == Lease("s1", 99.5) and t.attempt == 2 and t.node == "n1"
    assert t.lost_attempts() == 1 and len(t.attempts) == 1
    assert t.warnings == ('ignored an entry of its attempts ("junk"): not an object',)


@pytest.mark.parametrize("fields, problem", [
    ({"max_attempts": {}}, "max_attempts must be a whole number, at least 1, not {}"),
    ({"max_attempts": 2.5}, "max_attempts must be a whole number, at least 1, not 2.5"),
    ({"timeout": -1}, "timeout must be a positive number of seconds, not -1"),
    ({"timeout": "10"}, 'timeout must be a positive number of seconds, not "10"'),
    ({"priority": True}, "priority must be a number (higher runs first), not true"),
    ({"kwargs": [1, 2]}, "kwargs must be an object mapping argument names to values, not [1, 2]"),
    ({"requires": "architecture is x86_64"}, 'not one string: write ["architecture is x86_64"]'),
    ({"requires": ["x86_64"]}, 'requirement "x86_64" is not understood'),
    ({"platform": 3}, 'platform must be a string, e.g. "linux", not 3'),
    ({"record_id": None}, "record_id is missing"),
    ({"name": ""}, "name must be a task module name"),
    ({"after": "build"}, "after must be a list of task names or ids"),
    ({"wait_timeout": -5}, "wait_timeout must be a number of seconds (0: wait for ever), not -5"),
    ({"created": "yesterday"}, 'created must be a number: seconds since 1970 (as from time.time()), not "yesterday"'),
])
def test_a_bad_user_field_gives_a_reason_a_person_can_act_on(fields, problem):
    assert problem in task(**fields).problem


@pytest.mark.parametrize("fields, kept", [
    ({"attempts": 3.5}, {"attempts": ()}),
    ({"attempts": True}, {"attempts": ()}),
    ({"attempt": -1}, {"attempt": None}),
    ({"lease": "mine"}, {"lease": None}),
    ({"lease": {"server": "", "expires": 1}}, {"lease": None}),
    ({"started": "noon"}, {"started": None}),
    ({"results": [1]}, {"results": None}),
    ({"state": "Passed"}, {"state": "waiting"}),
    ({"run": 0}, {"run": 1}),
    ({"runs": {"run": 1}}, {"runs": ()}),
    ({"rerun_by": 7}, {"rerun_by": None}),
    ({"cancelled_at": "now"}, {"cancelled_at": None}),
])
def test_dirt_s_own_junk_is_read_as_absent_with_a_warning(fields, kept):
    t = task(**fields)
    assert t.problem is None
    assert {k: getattr(t, k) for k in kept} == kept
    assert t.warnings and "ignored its" in t.warnings[0]


def test_runs_read_into_earlier_runs_and_only_this_run_s_lost_attempts_count():
    t = task(state="waiting", run=2, rerun_by="ann", rerun_at=50.0, created=10,
             runs=[{"run": 1, "state": "failed", "node": "n1", "results": {"success": False}, "completed": 40},
                   {"state": "nonsense"}],
             attempts=[{"attempt": 1, "outcome": "node_lost", "ended": 30},
                       {"attempt": 2, "outcome": "failed", "ended": 40},
                       {"attempt": 3, "outcome": "node_lost", "run": 2, "ended": 60}])
    assert t.run == 2 and t.rerun_by == "ann" and len(t.runs) == 1
    assert (t.runs[0].state, t.runs[0].node, t.runs[0].results) == ("failed", "n1", {"success": False})
    assert t.lost_attempts() == 1
    assert t.waiting_since == 60.0
    assert any("ignored an entry of its runs" in w for w in t.warnings)


def test_null_optional_fields_are_absent():
    t = task(kwargs=None, requires=None, platform=None, timeout=None, max_attempts=None, priority=None, after=None)
    assert t.problem is None and t.kwargs == {} and t.requires == () and t.max_attempts is None


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10) | st.integers(),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
USER_FIELDS = ("record_id", "name", "kwargs", "requires", "platform", "timeout", "max_attempts", "priority",
               "after", "created", "wait_timeout")
OWN_FIELDS = ("state", "lease", "attempts", "attempt", "node", "started", "completed", "results", "reason",
              "run", "runs", "rerun_by", "rerun_at", "cancelled_by", "cancelled_at")
requirement_text = st.one_of(st.text(max_size=20), st.builds(
    lambda a, op, b: f"{a} {op} {b}", st.text("abcx _", min_size=0, max_size=6),
    st.sampled_from(["is", "not", "in", "not_in", "equals"]), st.text("abc \t", max_size=6)))
field_values = {
    "requires": st.one_of(json_values, st.lists(requirement_text, max_size=3)),
    "max_attempts": st.one_of(json_values, st.sampled_from([1, 2.0, 3.5, 0, -1])),
    "after": st.one_of(json_values, st.lists(st.text(max_size=4), max_size=3)),
}
documents = st.fixed_dictionaries(
    {"_id": st.just("t"), "type": st.just("task")},
    optional={name: field_values.get(name, json_values) for name in USER_FIELDS + OWN_FIELDS})


@settings(max_examples=400, deadline=None)
@given(documents)
def test_no_json_in_any_field_makes_the_parser_raise(doc):
    t = parse_task(doc)
    assert t.problem is None or isinstance(t.problem, str) and t.problem
    assert all(isinstance(w, str) for w in t.warnings)
    assert isinstance(t.kwargs, dict) and isinstance(t.attempts, tuple)


@pytest.fixture(scope="module")
def validate():
    if NODE is None:
        pytest.skip("node (Node.js) is not installed")
    validator = Validator()
    yield validator
    validator.close()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_validate_doc_update_refuses_exactly_what_the_parser_finds_wrong(validate, doc):
    refusal = validate(doc)
    t = parse_task(doc)
    bad_state = any(w.startswith("ignored its state") for w in t.warnings)
    assert (refusal is not None) == (t.problem is not None or bad_state), (refusal, t.problem)
    if t.problem:
        # the same words: which field, and what it must be
        field, _, rule = t.problem.partition(" must be ")
        assert refusal.startswith(f"task t: {field}") and rule.split(", not ")[0].split(": write")[0][:30] in refusal
