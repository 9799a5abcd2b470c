"""Task placement rules: ``platform`` and the ``requires`` query language.

A task's ``requires`` is a list of strings in one of four forms, read against
the node's ``sys_info`` (never evaluated as code):

* ``KEY is VALUE``     -- ``str(sys_info[KEY]) == VALUE``
* ``KEY not VALUE``    -- ``str(sys_info[KEY]) != VALUE``
* ``VALUE in KEY``     -- VALUE is a key of, an item of, or a substring of ``sys_info[KEY]``
* ``VALUE not_in KEY`` -- the opposite of ``in``

For example ``"architecture is x86_64"`` or ``"G4INSTALL in environ"``.
A task's ``platform`` (``linux``, ``darwin``/``osx``, ``win32``/``windows``, or
a prefix of ``platform.platform()``) must match the node's too.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import RequirementError

OPERATORS = ("is", "not", "in", "not_in")
_PLATFORM_ALIASES = {"osx": "darwin", "macos": "darwin", "mac": "darwin", "windows": "win32", "win": "win32"}


@dataclass(frozen=True)
class Requirement:
    """One parsed ``requires`` rule."""

    key: str
    op: str
    value: str

    def __str__(self) -> str:
        if self.op in ("is", "not"):
            return f"{self.key} {self.op} {self.value}"
        return f"{self.value} {self.op} {self.key}"

    def check(self, sys_info: dict[str, Any]) -> str | None:
        """None if ``sys_info`` satisfies this rule, else why it does not."""
        if self.key not in sys_info:
            return f"node has no {self.key!r} in its system info"
        actual = sys_info[self.key]
        if self.op in ("is", "not"):
            equal = _as_text(actual) == self.value
            if equal == (self.op == "is"):
                return None
            return f"{self.key} is {_as_text(actual)!r}" if self.op == "is" else f"{self.key} is {self.value!r}"
        if isinstance(actual, (dict, list, tuple, str)):
            present = self.value in actual
        else:
            present = self.value == _as_text(actual)
        if present == (self.op == "in"):
            return None
        return f"{self.value!r} is not in {self.key}" if self.op == "in" else f"{self.value!r} is in {self.key}"


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Words are separated by ASCII white space, as validate_doc_update.js splits them.
_WORDS = re.compile(r"[ \t\n\r\f\v]+")


def parse_requirement(text: Any) -> Requirement:
    """Parse one rule; RequirementError says what is wrong with a malformed one."""
    if not isinstance(text, str):
        raise RequirementError(f"requirement {text!r} is not a string")
    words = [w for w in _WORDS.split(text) if w]
    if len(words) >= 3 and words[1] in ("is", "not"):
        return Requirement(words[0], words[1], " ".join(words[2:]))
    if len(words) >= 3 and words[-2] in ("in", "not_in"):
        return Requirement(words[-1], words[-2], " ".join(words[:-2]))
    raise RequirementError(
        f"requirement {json.dumps(text, ensure_ascii=False)} is not understood: use 'KEY is VALUE', "
        "'KEY not VALUE', 'VALUE in KEY' or 'VALUE not_in KEY'")


def parse_requirements(requires: Any) -> list[Requirement]:
    """Parse a task's ``requires`` field (absent or None means no rules)."""
    if requires is None:
        return []
    if isinstance(requires, str):
        raise RequirementError(f"requires must be a list of strings, not one string: write [{json.dumps(requires)}]")
    if not isinstance(requires, list):
        raise RequirementError(f"requires must be a list of strings, not {type(requires).__name__}")
    return [parse_requirement(item) for item in requires]


def platform_mismatch(wanted: Any, sys_info: dict[str, Any]) -> str | None:
    """None if the node runs platform ``wanted``, else why not."""
    if wanted in (None, ""):
        return None
    if not isinstance(wanted, str):
        raise RequirementError(f"platform must be a string like 'linux', not {wanted!r}")
    want = wanted.strip().lower()
    want = _PLATFORM_ALIASES.get(want, want)
    sys_platform = str(sys_info.get("sys_platform", "")).lower()
    long_platform = str(sys_info.get("platform", "")).lower()
    if want == sys_platform or (sys_platform and sys_platform.startswith(want)) or long_platform.startswith(want):
        return None
    return f"platform is {sys_platform or long_platform or 'unknown'}, not {wanted}"


def mismatch(platform: Any, rules: Sequence[Requirement], sys_info: dict[str, Any]) -> str | None:
    """None if a node with ``sys_info`` may run a task with this ``platform``
    and these parsed ``requires`` rules, else the first reason it may not.

    Raises RequirementError for a ``platform`` that is not a string.
    """
    reason = platform_mismatch(platform, sys_info)
    if reason:
        return reason
    for rule in rules:
        reason = rule.check(sys_info)
        if reason:
            return f"{reason} (requires {rule})"
    return None
