"""Finding a task's code: a task name may only name a file under tasks/.

The name in a task document (``"examples.simple"``) is a dotted module path
inside the project's ``tasks/`` directory. It is checked word by word and then
against the directory itself; it is never imported through ``sys.path`` and
never evaluated, so a document cannot make dirt run ``os``, ``../x`` or any
file outside ``tasks/``.

Mistakes are reported here, before anything is shipped to a node: a name
that names no file gets the closest task names offered ("did you mean
examples.simple?"), and a module that does not compile gets its file, line
and Python's message (:class:`~dirt.errors.TaskSourceError`).
"""
from __future__ import annotations

import difflib
import keyword
from pathlib import Path
from typing import Any

from .errors import TaskNameError, TaskSourceError
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
        message = f"no task module {name!r}: {path.relative_to(root.parent)} does not exist"
        guess = closest_task(root, name)
        if guess:
            message += f" (did you mean {guess}?)"
        raise TaskNameError(message) from None
    if root not in real.parents or not real.is_file():
        raise TaskNameError(f"task {name!r} resolves outside the project's tasks/ directory")
    return real


def task_names(tasks_dir: Path) -> list[str]:
    """The dotted names of every task module under ``tasks_dir`` (``examples.simple``, ...)."""
    root = tasks_dir.resolve()
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if all(part.isidentifier() and not part.startswith("__") for part in parts):
            names.append(".".join(parts))
    return names


def closest_task(tasks_dir: Path, name: str) -> str | None:
    """The task name ``name`` was most likely meant to be: close as a whole, or by its last part."""
    names = task_names(tasks_dir)
    whole = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if whole:
        return whole[0]
    by_module = {}
    for known in names:
        by_module.setdefault(known.rsplit(".", 1)[-1], known)
    last = difflib.get_close_matches(name.rsplit(".", 1)[-1], list(by_module), n=1, cutoff=0.8)
    return by_module[last[0]] if last else None


def task_source(tasks_dir: Path, name: Any) -> str:
    """The source text of task ``name``, read fresh (edits apply to the next run).

    The text is compiled here, so a syntax error is found before the task is
    shipped: TaskSourceError names the file, the line and what is wrong.
    """
    path = resolve_task(tasks_dir, name)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskNameError(f"cannot read task module {name!r}: {exc}") from None
    shown = path.relative_to(tasks_dir.resolve().parent)
    try:
        compile(source, str(shown), "exec", dont_inherit=True)
    except SyntaxError as exc:   # IndentationError and TabError are SyntaxErrors too
        where = f"{shown}, line {exc.lineno}" if exc.lineno else str(shown)
        text = (exc.text or "").strip()
        raise TaskSourceError(f"task module {name!r} does not compile: {where}: {exc.msg}"
                              + (f": {text}" if text else ""), str(shown), exc.lineno) from None
    except ValueError as exc:   # e.g. a NUL byte in the file
        raise TaskSourceError(f"task module {name!r} does not compile: {shown}: {exc}", str(shown), None) from None
    return source


class TaskFiles:
    """A project's task modules, as a running server ships them.

    Sources are read again only when their file changes (and compiled by
    :func:`task_source`, so a syntax error is reported with its file and line
    before anything is sent to a node).
    """

    def __init__(self, tasks_dir: Path):
        self.tasks_dir = tasks_dir
        self._cache: dict[str, tuple[tuple[int, int, int, int], Shipment]] = {}

    def shipment(self, name: Any) -> Shipment:
        """What to send a node to run task ``name``; TaskNameError says why it cannot run.

        A name shipped before costs one ``stat`` of its file: while the path
        it names still leads to the same unchanged file (device, inode,
        size, modification time), that file was checked to be inside tasks/
        and its source is the one cached. Anything else resolves it again.
        """
        cached = self._cache.get(name) if isinstance(name, str) else None
        if cached is not None:
            parts = name.split(".")
            try:
                if _stamp(self.tasks_dir.joinpath(*parts[:-1], parts[-1] + ".py")) == cached[0]:
                    return cached[1]
            except OSError:
                pass
        path = resolve_task(self.tasks_dir, name)
        try:
            stamp = _stamp(path)
        except OSError as exc:
            raise TaskNameError(f"cannot read task module {name!r}: {exc}") from None
        source = task_source(self.tasks_dir, name)
        filename = "tasks/" + "/".join(str(name).split(".")) + ".py"
        shipment = Shipment.of(source, filename)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[name] = (stamp, shipment)
        return shipment

    def problem(self, task: Any) -> str | None:
        """Why a task's module cannot be shipped (None if it can)."""
        try:
            self.shipment(task.name)
        except TaskNameError as exc:
            return str(exc)
        return None


def _stamp(path: Path) -> tuple[int, int, int, int]:
    """What tells one version of a file from another: device, inode, size, modification time."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
