"""The skeleton's example tasks are safe to copy: compile_hello treats its kwargs as data.

The 2012 example pasted ``repo`` into a bash command line; a ``repo`` of
``/nonexistent; echo INJECTED > FILE`` ran the echo. These run the module a
new project gets, as dirt does (``execute(**kwargs)``) and by hand.
"""
from __future__ import annotations

import runpy
import shutil
import subprocess
import sys

import pytest

from dirt.create import create_project

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (the example compiles C++)")


@pytest.fixture
def project(tmp_path):
    return create_project(tmp_path / "builder")


@pytest.fixture
def compile_hello(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return runpy.run_path(str(project / "tasks" / "examples" / "compile_hello.py"))["execute"]


def test_a_shell_command_in_repo_is_not_run(compile_hello, tmp_path):
    marker = tmp_path / "INJECTED"
    result = compile_hello(repo=f"/nonexistent; echo INJECTED > {marker}")
    assert (result["success"], result["reason"]) == (False, "git clone failed")
    assert not marker.exists()
    assert "does not exist" in result["attachments"][0]["contents"]  # git's own words, in the build log


@pytest.mark.parametrize("kwargs, problem", [
    ({"repo": "--upload-pack=touch /tmp/x"}, 'repo must be a git URL or path (and not start with "-")'),
    ({"repo": 42}, "repo must be a git URL or path"),
    ({"source": "hello.cpp; rm -rf ~"}, "source must be the name of a C++ file"),
    ({"source": "../../etc/secret.cpp"}, "source must be a path inside the repository"),
    ({"source": "-o/tmp/evil.cpp"}, "source must be a path inside the repository"),
])
def test_bad_kwargs_are_refused_with_a_reason(compile_hello, kwargs, problem):
    result = compile_hello(**kwargs)
    assert result["success"] is False and result["reason"].startswith("bad kwargs: " + problem)


def test_a_git_repository_is_cloned_and_built(compile_hello, tmp_path):
    repo = tmp_path / "hello repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "main.cpp").write_text("#include <cstdio>\nint main() { std::puts(\"hi\"); }\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "hello"]):
        subprocess.run(git + args, cwd=repo, check=True)
    result = compile_hello(repo=str(repo), source="src/main.cpp")
    assert result["success"] is True, result
    assert result["attachments"][0]["link_name"] == "Build log"
    broken = compile_hello(repo=str(repo), source="src/missing.cpp")
    assert (broken["success"], broken["reason"]) == (False, "g++ failed")


def test_run_by_hand_it_leaves_nothing_in_the_project(project):
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = subprocess.run([sys.executable, "tasks/examples/compile_hello.py"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'success': True}"
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
