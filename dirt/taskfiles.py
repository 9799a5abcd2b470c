"""Finding a task's code: a task name may only name a file under tasks/.

The name in a task document (``"examples.simple"``) is a dotted module path
inside the project's ``tasks/`` directory. It is checked word by word and then
against the directory itself; it is never imported through ``sys.path`` and
never evaluated, so a document cannot make dirt run ``os``, ``../x`` or any
file outside ``tasks/``.
"""
from __future__ import annotations

import keyword
from pathlib import Path
from typing import Any

from .errors import TaskNameError
from .runner import Shipment


def resolve_task(tasks_dir: Path, name: Any) -> Path:
    """The ``.py`` file under ``tasks_dir`` that ``name`` names.

    Raises TaskNameError, in words a user can act on, when the name is not a
    dotted path of plain identifiers or no such file exists inside tasks/.
    """
    if not isinstance(name, str) or not name:
        raise TaskNameError(f"task name must be a non-empty string like 'examples.simple', not {name!r}")
    parts = name.split(".")
    for part in parts:
        if not part.isidentifier() or keyword.iskeyword(part) or part.startswith("__"):
            raise TaskNameError(
                f"task name {name!r} is not a module path inside tasks/ "
                "(use dotted names of Python identifiers, like 'examples.simple')")
    root = tasks_dir.resolve()
    path = root.joinpath(*parts[:-1], parts[-1] + ".py")
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, OSError):
        raise TaskNameError(f"no task module {name!r}: {path.relative_to(root.parent)} does not exist") from None
    if root not in real.parents or not real.is_file():
        raise TaskNameError(f"task {name!r} resolves outside the project's tasks/ directory")
    return real


def task_source(tasks_dir: Path, name: Any) -> str:
    """The source text of task ``name``, read fresh (edits apply to the next run)."""
    path = resolve_task(tasks_dir, name)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskNameError(f"cannot read task module {name!r}: {exc}") from None


class TaskFiles:
    """A project's task modules, as a running server ships them.

    Sources are read again only when their file changes, and compiled here
    first, so a syntax error is reported with its file and line before
    anything is sent to a node.
    """

    def __init__(self, tasks_dir: Path):
        self.tasks_dir = tasks_dir
        self._cache: dict[Path, tuple[int, Shipment]] = {}

    def shipment(self, name: Any) -> Shipment:
        """What to send a node to run task ``name``; TaskNameError says why it cannot run."""
        path = resolve_task(self.tasks_dir, name)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError as exc:
            raise TaskNameError(f"cannot read task module {name!r}: {exc}") from None
        cached = self._cache.get(path)
        if cached is None or cached[0] != stamp:
            source = task_source(self.tasks_dir, name)
            filename = "tasks/" + "/".join(str(name).split(".")) + ".py"
            try:
                compile(source, filename, "exec")
            except SyntaxError as exc:
                raise TaskNameError(f"task module {name!r} does not compile: {exc.msg} "
                                    f"({filename}, line {exc.lineno})") from None
            cached = self._cache[path] = (stamp, Shipment.of(source, filename))
        return cached[1]

    def problem(self, task: Any) -> str | None:
        """Why a task's module cannot be shipped (None if it can)."""
        try:
            self.shipment(task.name)
        except TaskNameError as exc:
            return str(exc)
        return None
