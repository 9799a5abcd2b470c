"""Task names and task sources are checked before anything is shipped (dirt/taskfiles.py)."""
from __future__ import annotations

import pytest

from dirt.create import create_project
from dirt.errors import TaskNameError, TaskSourceError
from dirt.taskfiles import TaskFiles, task_names, task_source


@pytest.fixture
def tasks_dir(tmp_path):
    return create_project(tmp_path / "proj") / "tasks"


@pytest.mark.parametrize("typed, meant", [
    ("examples.simpel", "examples.simple"), ("example.simple", "examples.simple"),
    ("simple", "examples.simple"), ("examples.kwarg", "examples.kwargs")])
def test_a_misspelt_task_name_says_what_was_meant(tasks_dir, typed, meant):
    with pytest.raises(TaskNameError, match=rf"no task module '{typed}'.*\(did you mean {meant}\?\)$"):
        task_source(tasks_dir, typed)


def test_a_name_like_no_task_offers_nothing(tasks_dir):
    with pytest.raises(TaskNameError) as err:
        task_source(tasks_dir, "deploy_everything")
    assert "did you mean" not in str(err.value)


@pytest.mark.parametrize("source, where", [
    ("import os\ndef run(:\n    pass\n", "tasks/ci/broken.py, line 2: invalid syntax: def run(:"),
    ("if True:\nx = 1\n", "tasks/ci/broken.py, line 2: expected an indented block"),
    ("x = 1\n\tif x:\n", "tasks/ci/broken.py, line 2: unexpected indent"),
])
def test_a_module_that_does_not_compile_is_refused_with_its_file_and_line(tasks_dir, source, where):
    (tasks_dir / "ci").mkdir()
    (tasks_dir / "ci" / "__init__.py").touch()
    (tasks_dir / "ci" / "broken.py").write_text(source)
    with pytest.raises(TaskSourceError) as err:
        task_source(tasks_dir, "ci.broken")
    assert where in str(err.value) and err.value.path == "tasks/ci/broken.py" and err.value.line == 2
    assert "ci.broken" in task_names(tasks_dir)


def test_a_module_written_for_the_seed_compiles(tasks_dir):
    assert "channel.send" in task_source(tasks_dir, "examples.simple")


def test_a_shipped_module_is_read_again_when_it_changes_and_refused_once_it_leads_outside(tmp_path):
    tasks = tmp_path / "tasks"
    (tasks / "ci").mkdir(parents=True)
    module = tasks / "ci" / "build.py"
    module.write_text("def main(kwargs):\n    return {'success': True}\n")
    files = TaskFiles(tasks)
    first = files.shipment("ci.build")
    assert files.shipment("ci.build") is first             # unchanged: the cached shipment

    module.write_text("def main(kwargs):\n    return {'success': False, 'edited': 1}\n")
    assert "edited" in files.shipment("ci.build").source   # an edit applies to the next run

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "build.py").write_text("def main(kwargs):\n    return {'success': True}\n")
    (tasks / "ci" / "build.py").unlink()
    (tasks / "ci").rmdir()
    (tasks / "ci").symlink_to(outside)                     # the same name now leads out of tasks/
    with pytest.raises(TaskNameError, match="outside the project's tasks/"):
        files.shipment("ci.build")
