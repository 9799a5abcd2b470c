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
