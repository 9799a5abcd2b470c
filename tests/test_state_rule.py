"""The task-state rule is written once per language: dirt/documents.py for
Python, web/lib/state.js for the views. Both must read every document alike."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dirt import documents
from dirt.create import web_dir
from jsrun import NODE, run_node
pytestmark = pytest.mark.skipif(NODE is None, reason="node (Node.js) is not installed")

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2_000_000_000),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
states = st.sampled_from(["waiting", "running", "passed", "failed", "error", "cancelled", "skipped",
                          "Passed", "done", ""])
task_docs = st.fixed_dictionaries({}, optional={
    "state": st.one_of(states, json_values),
    "completed": st.one_of(st.floats(0, 2e9), st.just(0), json_values),
    "results": st.one_of(st.fixed_dictionaries({"success": st.one_of(st.booleans(), json_values)}), json_values),
})


def js_states(docs: list[dict]) -> list[str]:
    """taskState(doc) for each doc, computed by Node from web/lib/state.js."""
    script = (web_dir() / "lib" / "state.js").read_text() + """
out(DATA.map(function (d) { return [taskState(d), isFinalState(taskState(d))]; }));
"""
    return run_node(script, docs)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(task_docs, min_size=50, max_size=300))
def test_python_and_javascript_read_every_document_alike(docs):
    expected = [[documents.task_state(d), documents.task_state(d) in documents.FINAL_STATES] for d in docs]
    assert js_states(docs) == expected


def test_the_2012_documents_and_todays_read_as_documented():
    docs = [{}, {"completed": 1315347385, "results": {"success": True}},
            {"completed": 1315347385, "results": {"success": "yes"}}, {"completed": 0},
            {"state": "running"}, {"state": "bogus", "completed": 5}]
    assert js_states(docs) == [["waiting", False], ["passed", True], ["failed", True], ["waiting", False],
                               ["running", False], ["failed", True]]


def js_verdicts(counts: list[dict]) -> list[str]:
    script = (web_dir() / "lib" / "state.js").read_text() + "\nout(DATA.map(recordVerdict));\n"
    return run_node(script, counts)


@settings(max_examples=5, deadline=None)
@given(st.lists(st.dictionaries(states, st.integers(0, 3), max_size=5), min_size=20, max_size=100))
def test_python_and_javascript_give_records_the_same_verdict(counts):
    from dirt.verdict import record_verdict

    assert js_verdicts(counts) == [record_verdict(c) for c in counts]


def test_verdicts_as_documented():
    assert js_verdicts([{"passed": 3, "failed": 1, "running": 2}, {"passed": 3, "running": 1, "waiting": 1},
                        {"waiting": 2, "passed": 1}, {"passed": 2, "cancelled": 1}, {"cancelled": 1}, {},
                        {"error": 1}]) == ["failed", "running", "waiting", "passed", "cancelled", "none", "failed"]
