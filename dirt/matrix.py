"""Matrices: one task per combination of values, written in one command.

``--matrix platform=linux,osx --matrix python=3.11,3.12`` asks for a task on
each platform with each Python: four tasks, alike but for those values. Each
axis is ``KEY=VALUE,VALUE,...``:

* ``platform`` sets the task's ``platform`` field, which placement matches
  against the nodes;
* any other key goes into the task's ``kwargs``, where the task module
  receives it (so it must be a Python identifier).

Values are strings (``3.10`` stays ``"3.10"``, not the number 3.1); a task
converts what it needs. :func:`expand` turns one task document into the
combinations, first axis outermost, each with an ``_id`` that says its values
(``r7-test-linux-python=3.11``) when the task had an ``_id``. Runs of one task
name that differ in these values are told apart everywhere (the history's
variants, the record page's grid), so a matrix is never mistaken for flaky
repeats of one task.

Pure: nothing here reads or writes the database.
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from typing import Sequence

from .errors import DirtError

MAX_TASKS = 256                 # combinations one matrix may make
PLATFORM = "platform"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class MatrixError(DirtError):
    """A ``--matrix`` that cannot be expanded; the message says what to write instead."""

    exit_code = 2


@dataclass(frozen=True)
class Axis:
    """One ``--matrix KEY=V1,V2``: a key and its values, in the order given."""

    key: str
    values: tuple[str, ...]


def parse_axis(text: str) -> Axis:
    """``"python=3.11,3.12"`` -> ``Axis("python", ("3.11", "3.12"))``."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise MatrixError(f"--matrix {text!r}: write KEY=VALUE,VALUE,..., e.g. --matrix python=3.11,3.12")
    if key != PLATFORM and not _KEY.match(key):
        raise MatrixError(f"--matrix {text!r}: {key!r} is not a name a task can take as a keyword argument "
                          "(letters, digits and _, not starting with a digit)")
    parts = [v.strip() for v in values.split(",")]
    if not any(parts):
        raise MatrixError(f"--matrix {text!r}: no values after '='; e.g. --matrix {key}=a,b")
    if "" in parts:
        raise MatrixError(f"--matrix {text!r}: an empty value (two commas in a row, or one at an end)")
    twice = sorted({v for v in parts if parts.count(v) > 1})
    if twice:
        raise MatrixError(f"--matrix {text!r}: {', '.join(twice)} given more than once")
    return Axis(key, tuple(parts))


def combinations(axes: Sequence[Axis]) -> list[dict[str, str]]:
    """Every combination of the axes' values, first axis outermost."""
    keys = [a.key for a in axes]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise MatrixError(f"--matrix {twice[0]} is given more than once: list all its values in one, "
                          f"e.g. --matrix {twice[0]}=a,b")
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_TASKS:
        raise MatrixError(f"the matrix makes {count} tasks ({' × '.join(str(len(a.values)) for a in axes)}); "
                          f"at most {MAX_TASKS} at once")
    return [dict(zip(keys, values)) for values in itertools.product(*(a.values for a in axes))]


def variant_suffix(combination: dict[str, str]) -> str:
    """The part of a task id that says its values: ``linux-python=3.11``."""
    return "-".join(value if key == PLATFORM else f"{key}={value}" for key, value in combination.items())


def expand(task: dict, axes: Sequence[Axis]) -> list[dict]:
    """One copy of the task document ``task`` per combination of ``axes``.

    ``platform`` goes to the ``platform`` field, other keys into ``kwargs``;
    a value the document already sets for one of them is refused (say it in
    one place). Without axes, the task itself, alone.
    """
    if not axes:
        return [copy.deepcopy(task)]
    kwargs = task.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise MatrixError("the task's kwargs must be an object to add matrix values to")
    for axis in axes:
        if axis.key == PLATFORM and task.get(PLATFORM) is not None:
            raise MatrixError(f"the task already has platform {task[PLATFORM]!r}: give the platforms in "
                              f"--matrix platform=... only")
        if axis.key != PLATFORM and axis.key in kwargs:
            raise MatrixError(f"the task's kwargs already set {axis.key!r}: give its values in --matrix only")
    out = []
    for combination in combinations(axes):
        doc = copy.deepcopy(task)
        extra = {k: v for k, v in combination.items() if k != PLATFORM}
        if extra or "kwargs" in doc:
            doc["kwargs"] = {**kwargs, **extra}
        if PLATFORM in combination:
            doc[PLATFORM] = combination[PLATFORM]
        if isinstance(doc.get("_id"), str):
            doc["_id"] = f"{doc['_id']}-{variant_suffix(combination)}"
        out.append(doc)
    return out
