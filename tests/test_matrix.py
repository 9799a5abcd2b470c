"""Matrices (dirt.matrix): one task per combination of values, and the errors a person can act on."""
from __future__ import annotations

import pytest

from dirt.matrix import MAX_TASKS, Axis, MatrixError, combinations, expand, parse_axis
from dirt.taskdoc import parse_task

BASE = {"_id": "r7-test", "type": "task", "record_id": "r7", "name": "test", "created": 1, "kwargs": {"quick": True}}


def test_platform_and_python_make_four_tasks_with_their_values():
    axes = [parse_axis("platform=linux,osx"), parse_axis("python = 3.11, 3.12")]
    assert axes[1] == Axis("python", ("3.11", "3.12"))
    tasks = expand(BASE, axes)
    assert [(t["_id"], t["platform"], t["kwargs"]) for t in tasks] == [
        ("r7-test-linux-python=3.11", "linux", {"quick": True, "python": "3.11"}),
        ("r7-test-linux-python=3.12", "linux", {"quick": True, "python": "3.12"}),
        ("r7-test-osx-python=3.11", "osx", {"quick": True, "python": "3.11"}),
        ("r7-test-osx-python=3.12", "osx", {"quick": True, "python": "3.12"})]
    assert all(parse_task({**t, "_rev": "1-x"}).problem is None for t in tasks)
    assert BASE["kwargs"] == {"quick": True} and "platform" not in BASE          # the original is untouched


def test_a_task_without_kwargs_gets_only_its_axes_and_no_axes_is_the_task_itself():
    bare = {"type": "task", "record_id": "r7", "name": "build"}
    assert expand(bare, [parse_axis("platform=linux,win32")]) == [
        {**bare, "platform": "linux"}, {**bare, "platform": "win32"}]
    assert expand(bare, [parse_axis("opt=0,2")])[1] == {**bare, "kwargs": {"opt": "2"}}
    assert expand(bare, []) == [bare]


@pytest.mark.parametrize("text, words", [
    ("python", "write KEY=VALUE,VALUE"),
    ("=a,b", "write KEY=VALUE,VALUE"),
    ("python=", "no values after '='"),
    ("python=3.11,,3.12", "an empty value"),
    ("python=3.11,3.11", "3.11 given more than once"),
    ("2fast=a", "not a name a task can take as a keyword argument"),
    ("my-opt=a", "not a name a task can take as a keyword argument"),
])
def test_a_malformed_axis_says_what_to_write(text, words):
    with pytest.raises(MatrixError, match=words) as caught:
        parse_axis(text)
    assert caught.value.exit_code == 2


def test_conflicts_and_explosions_are_refused():
    with pytest.raises(MatrixError, match="python is given more than once"):
        combinations([parse_axis("python=3.11"), parse_axis("python=3.12")])
    with pytest.raises(MatrixError, match="already set 'quick'"):
        expand(BASE, [parse_axis("quick=yes,no")])
    with pytest.raises(MatrixError, match="already has platform 'linux'"):
        expand({**BASE, "platform": "linux"}, [parse_axis("platform=linux,osx")])
    twenty = ",".join(str(i) for i in range(20))
    many = [parse_axis("a=" + twenty), parse_axis("b=" + twenty)]
    with pytest.raises(MatrixError, match=f"the matrix makes 400 tasks \\(20 × 20\\); at most {MAX_TASKS}"):
        expand(BASE, many)
