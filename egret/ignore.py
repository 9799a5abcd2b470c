"""Which files in an app directory are not part of the app.

Always skipped: dotfiles and dot-directories (``.git``, ``.couchappignore``,
editor swap files), and editor backups ending in ``~``. A ``.couchappignore``
file at the app's top adds patterns, in either of two forms:

* couchapp's: a JSON array of regular expressions (``//`` comment lines
  allowed); a pattern matches if it matches at the start of a file's name or
  of its path relative to the app (``re.match``), e.g. ``".*\\\\.bak$"``.
* one glob per line (``#`` comments), as in ``.gitignore`` without negation:
  matched against the name and the relative path (``*.bak``, ``drafts/``).
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from egret.errors import SourceError

IGNORE_FILE = ".couchappignore"


@dataclass
class IgnoreRules:
    """The skip rules of one app directory."""

    regexes: list[re.Pattern[str]] = field(default_factory=list)
    globs: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, app_dir: Path) -> "IgnoreRules":
        """Read ``.couchappignore`` in ``app_dir`` (no file: only the built-in rules)."""
        path = app_dir / IGNORE_FILE
        if not path.is_file():
            return cls()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SourceError(path, "not UTF-8 text") from None
        stripped = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
        if stripped.strip().startswith("["):
            try:
                patterns = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise SourceError(path, f"not a JSON array of regular expressions: {exc.msg}", exc.lineno) from None
            if not all(isinstance(p, str) for p in patterns):
                raise SourceError(path, "every entry must be a string (a regular expression)")
            regexes = []
            for pattern in patterns:
                try:
                    regexes.append(re.compile(pattern))
                except re.error as exc:
                    raise SourceError(path, f"bad regular expression {pattern!r}: {exc}") from None
            return cls(regexes=regexes)
        globs = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        return cls(globs=globs)

    def ignored(self, relative: str, is_dir: bool = False) -> bool:
        """Whether the entry at ``relative`` (``/``-separated, relative to the app) is skipped."""
        return self.reason(relative, is_dir) is not None

    def reason(self, relative: str, is_dir: bool = False) -> str | None:
        """Why the entry at ``relative`` is skipped (for ``egret -v``), or ``None`` if it is not."""
        name = relative.rsplit("/", 1)[-1]
        if name.startswith("."):
            return "a dotfile"
        if name.endswith("~"):
            return "an editor backup (ends with ~)"
        for regex in self.regexes:
            if regex.match(name) or regex.match(relative):
                return f"matches {regex.pattern} in {IGNORE_FILE}"
        for glob in self.globs:
            pattern = glob
            if pattern.endswith("/"):
                if not is_dir:
                    continue
                pattern = pattern.rstrip("/")
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(relative, pattern.lstrip("/")):
                return f"matches {glob} in {IGNORE_FILE}"
        return None

    def ignored_path(self, app_dir: Path, path: Path) -> bool:
        """Whether ``path`` (anywhere under ``app_dir``) or one of its parents is skipped."""
        try:
            parts = path.relative_to(app_dir).parts
        except ValueError:
            return True
        for depth in range(1, len(parts) + 1):
            if self.ignored("/".join(parts[:depth]), is_dir=depth < len(parts)):
                return True
        return False
