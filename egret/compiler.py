"""Compile a CouchApp directory into a design document and its attachments (no network).

egret reads what couchapp and the 2012 egret read, and nothing else, so a
directory holding other files too (a ``README``, an executable ``egret``
launcher, sample data, an editor's autosave) pushes the same app:

* At the top: ``_id`` (the document id), ``language``, ``couchapp.json``
  (becomes the ``couchapp`` field, couchapp's way), ``settings.json`` (its
  keys become top-level fields, the 2012 egret's way: ``name``,
  ``description``, ``language``, ``designname``), ``validate_doc_update.js``,
  ``rewrites.json`` (or a ``rewrites.js`` function), ``options.json`` and
  ``autoupdate.json``.
* ``views/NAME/map.js`` and ``reduce.js`` (a function, or a built-in such as
  ``_count``); ``views/lib/`` holds CommonJS modules for map functions.
* ``shows/``, ``lists/``, ``updates/``, ``filters/``: one ``NAME.js`` per
  function.
* ``lib/`` and ``vendor/``: CommonJS modules (``.js``) and JSON data
  (``.json``), at any depth, as nested objects: ``lib/state.js`` ->
  ``lib.state``.
* ``_attachments/`` (the 2012 egret's ``attachments/`` too), and
  ``vendor/NAME/_attachments/`` under ``vendor/NAME/``: attachments, named by
  their path, bytes as they are.
* ``templates/**/*.html``: jinja2 pages rendered into attachments (see
  :mod:`egret.templates`); ``"egret": {"templates": false}`` in the settings
  keeps ``templates/`` an ordinary field instead, for apps whose show and
  list functions use it.

Everything else is skipped, and :attr:`CompiledApp.skipped` says what and why
(``egret -v`` logs it): other top-level files and folders, files of the wrong
kind inside those folders, dotfiles, ``*~`` and ``.couchappignore`` patterns
(:mod:`egret.ignore`). A top-level name that should become a field anyway is
listed in ``"egret": {"fields": [...]}`` of ``couchapp.json`` or
``settings.json``; it is then read couchapp's way (files by name without
extension, ``.json`` parsed, other files UTF-8 text stripped of surrounding
whitespace, folders nested objects).

* The document id: the ``_id`` file; otherwise ``"_id"`` in a settings file;
  otherwise ``_design/`` plus ``"designname"``; otherwise ``_design/`` plus
  the directory's name.
* In ``.js`` files, a line ``// !code PATH`` (couchapp's macro) is replaced by
  the text of ``PATH``, relative to the app directory: one copy of a helper
  (dirt's task-state rule, ``lib/state.js``) shared by every view and by
  ``validate_doc_update``, where CommonJS ``require`` is not available.

A file egret does read must be right: invalid JSON, a view without
``map.js``, a binary ``.js`` file, two files making one field are
:class:`~egret.errors.SourceError`, naming the file.

egret adds one field, ``egret``: the MD5 of every attachment, which is how a
later push knows what changed without downloading anything.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egret import __version__, assets
from egret.attachments import Attachment
from egret.errors import SourceError
from egret.ignore import IgnoreRules
from egret.templates import render_pages

log = logging.getLogger(__name__)

COUCHAPP_SETTINGS = "couchapp.json"
EGRET_SETTINGS = "settings.json"
ATTACHMENT_FOLDERS = ("_attachments", "attachments")
BUILTIN_REDUCES = {"_count", "_sum", "_stats", "_approx_count_distinct"}
FUNCTION_FOLDERS = ("shows", "lists", "updates", "filters")
MODULE_FOLDERS = ("lib", "vendor")
MODULE_SUFFIXES = (".js", ".json")
# Top-level files that are design document fields, by file name.
FIELD_FILES = ("language", "validate_doc_update.js", "rewrites.json", "rewrites.js", "options.json", "autoupdate.json")
# Keys couchapp keeps in couchapp.json for its own bookkeeping, not settings.
_COUCHAPP_BOOKKEEPING = ("signatures", "manifest", "objects", "length")

_NOT_READ = "not part of the app (to push it as a field, list it in \"fields\" of the \"egret\" options)"
_VIEW_PARTS = "a view folder holds map.js and reduce.js only"


@dataclass(frozen=True)
class Skipped:
    """A file or folder of the app directory that egret did not read, and why.

    ``path`` is relative to the app directory, ``/``-separated, with a
    trailing ``/`` for a folder (whose contents are then not looked at).
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class CompiledApp:
    """A compiled app: design document fields, attachments and settings.

    ``doc`` holds every field including ``_id`` and ``egret`` but not
    ``_attachments``; :meth:`document` gives the whole document. ``skipped``
    lists what in the directory is not part of the app.
    """

    directory: Path
    doc: dict[str, Any]
    attachments: dict[str, Attachment] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def doc_id(self) -> str:
        """The design document's id, e.g. ``_design/dirt``."""
        return self.doc["_id"]

    def document(self, inline: bool = True) -> dict[str, Any]:
        """The design document as JSON-ready dict; attachments inline (base64) or as stubs."""
        doc = dict(self.doc)
        if self.attachments:
            doc["_attachments"] = {
                name: (att.inline() if inline else att.stub()) for name, att in sorted(self.attachments.items())
            }
        return doc


def compile_app(directory: Path | str, database: str | None = None) -> CompiledApp:
    """Compile the app in ``directory``.

    ``database`` is the name of the database it is pushed to (the
    ``database`` of templates; ``couchapp.json``'s ``database`` otherwise).
    Raises :class:`SourceError` for anything egret reads that would not make
    a valid, working design document; what it does not read is skipped
    (logged at INFO, and listed in :attr:`CompiledApp.skipped`).
    """
    app_dir = Path(directory)
    if not app_dir.is_dir():
        raise SourceError(app_dir, "not a directory")
    rules = IgnoreRules.load(app_dir)
    couchapp_settings = _read_settings(app_dir / COUCHAPP_SETTINGS)
    egret_settings = _read_settings(app_dir / EGRET_SETTINGS)
    settings = {**couchapp_settings, **egret_settings}
    options = _egret_options(app_dir, settings)
    templates_name = options.get("templates", "templates")
    templates_dir = app_dir / templates_name if templates_name else None
    if templates_dir is not None and not templates_dir.is_dir():
        templates_dir = None

    reader = _Reader(app_dir, rules)
    extra_fields = set(options.get("fields", []))
    if templates_name is False:
        extra_fields.add("templates")
    fields = reader.top_level(extra_fields, templates_dir)
    if "egret" in fields:
        raise SourceError(app_dir / "egret", "the field name 'egret' is reserved for egret's bookkeeping")
    if couchapp_settings:
        fields["couchapp"] = {k: v for k, v in couchapp_settings.items() if k != "_id" and k not in _COUCHAPP_BOOKKEEPING}
    top_level = {k: v for k, v in egret_settings.items() if k not in ("_id", "_rev", "_attachments", "egret")}
    fields = {**top_level, **fields}

    doc_id = _doc_id(app_dir, settings)
    _check_fields(app_dir, fields)

    attachments = reader.attachments()
    if templates_dir is not None:
        reader.skip_non_pages(templates_dir)
        context = template_context(doc_id, settings, database)
        for name, html in render_pages(templates_dir, context, rules, app_dir).items():
            if name in attachments:
                raise SourceError(
                    templates_dir / name,
                    f"both this template and {attachments[name].origin} make attachment {name}",
                )
            attachments[name] = Attachment.from_bytes(name, html, origin=str(templates_dir / name))
    if options.get("jquery", True) and assets.JQUERY_NAME not in attachments:
        attachments[assets.JQUERY_NAME] = assets.jquery()

    for skipped in reader.skipped:
        log.info("skipped %s", skipped)
    doc = {"_id": doc_id, **fields}
    doc["egret"] = {"attachments": {name: att.md5 for name, att in sorted(attachments.items())}}
    return CompiledApp(directory=app_dir, doc=doc, attachments=attachments, settings=settings,
                       skipped=reader.skipped)


def template_context(doc_id: str, settings: dict[str, Any], database: str | None) -> dict[str, Any]:
    """What page templates see: the app's settings plus where it is pushed.

    ``name`` and ``description`` come from ``couchapp.json`` (``name``
    defaults to the design document's name); ``database`` is the database
    pushed to; ``ddoc`` the design document's name; ``settings`` the whole of
    ``couchapp.json``; ``jquery`` the attachment path of jQuery.
    """
    ddoc = doc_id.split("/", 1)[1] if doc_id.startswith("_design/") else doc_id
    return {
        "name": settings.get("name") or ddoc,
        "description": settings.get("description", ""),
        "database": database if database is not None else settings.get("database", ""),
        "ddoc": ddoc,
        "doc_id": doc_id,
        "settings": settings,
        "jquery": assets.JQUERY_NAME,
        "jquery_version": assets.jquery_version(),
        "egret_version": __version__,
    }


def _egret_options(app_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``"egret"`` object of the settings, checked."""
    options = settings.get("egret", {})
    if not isinstance(options, dict):
        raise SourceError(app_dir, '"egret" in the settings must be an object of egret options')
    templates = options.get("templates", "templates")
    if templates is not False and not (isinstance(templates, str) and templates):
        raise SourceError(app_dir, '"templates" in the egret options must be a folder name, or false')
    extra = options.get("fields", [])
    if not isinstance(extra, list) or not all(isinstance(name, str) and name and "/" not in name for name in extra):
        raise SourceError(app_dir, '"fields" in the egret options must be a list of top-level file or folder names')
    return options


class _Reader:
    """Reads the parts of an app directory that make fields and attachments, noting what it skips."""

    def __init__(self, app_dir: Path, rules: IgnoreRules):
        self.app_dir = app_dir
        self.rules = rules
        self.skipped: list[Skipped] = []

    # -- walking ----------------------------------------------------------------

    def _entries(self, folder: Path) -> list[tuple[os.DirEntry, str, bool]]:
        """The entries of ``folder`` that the ignore rules let through: (entry, relative path, is_dir)."""
        entries = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            relative = Path(entry.path).relative_to(self.app_dir).as_posix()
            is_dir = entry.is_dir()
            if not is_dir and not entry.is_file():
                self.skip(relative, False, "not a file or folder")
                continue
            reason = self.rules.reason(relative, is_dir=is_dir)
            if reason:
                self.skip(relative, is_dir, reason)
                continue
            entries.append((entry, relative, is_dir))
        return entries

    def skip(self, relative: str, is_dir: bool, reason: str) -> None:
        self.skipped.append(Skipped(relative + ("/" if is_dir else ""), reason))

    # -- fields -----------------------------------------------------------------

    def top_level(self, extra_fields: set[str], templates_dir: Path | None) -> dict[str, Any]:
        """The design document fields from the top of the app directory."""
        fields: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for entry, relative, is_dir in self._entries(self.app_dir):
            name, path = entry.name, Path(entry.path)
            if is_dir and (name in ATTACHMENT_FOLDERS or path == templates_dir):
                continue  # attachments and pages, read later
            if not is_dir and name in ("_id", COUCHAPP_SETTINGS, EGRET_SETTINGS):
                continue  # the id and the settings, read already
            if name in extra_fields:
                key, value = _key(name, is_dir), (self.any_fields(path) if is_dir else _read_value(path, self.app_dir))
            elif is_dir and name == "views":
                key, value = name, self.views(path)
            elif is_dir and name in FUNCTION_FOLDERS:
                key, value = name, self.functions(path)
            elif is_dir and name in MODULE_FOLDERS:
                key, value = name, self.modules(path, in_vendor=name == "vendor")
            elif not is_dir and name in FIELD_FILES:
                key, value = _key(name, False), _read_value(path, self.app_dir)
            elif name.startswith("_"):
                self.skip(relative, is_dir, "names starting with _ are reserved by CouchDB")
                continue
            else:
                self.skip(relative, is_dir, _NOT_READ)
                continue
            _put(fields, origins, key, value, relative, path)
        return fields

    def views(self, folder: Path) -> dict[str, Any]:
        """``views/NAME/map.js`` and ``reduce.js``; ``views/lib/`` as modules."""
        views: dict[str, Any] = {}
        for entry, relative, is_dir in self._entries(folder):
            if not is_dir:
                self.skip(relative, False, "views/ holds one folder per view (views/NAME/map.js)")
            elif entry.name == "lib":
                views["lib"] = self.modules(Path(entry.path))
            else:
                view: dict[str, str] = {}
                for part, part_relative, part_is_dir in self._entries(Path(entry.path)):
                    if part_is_dir or part.name not in ("map.js", "reduce.js"):
                        self.skip(part_relative, part_is_dir, _VIEW_PARTS)
                        continue
                    view[part.name[:-3]] = _read_js(Path(part.path), self.app_dir)
                views[entry.name] = view
        return views

    def functions(self, folder: Path) -> dict[str, str]:
        """One ``NAME.js`` file per function (shows, lists, updates, filters)."""
        functions: dict[str, str] = {}
        for entry, relative, is_dir in self._entries(folder):
            if is_dir or not entry.name.endswith(".js"):
                self.skip(relative, is_dir, f"{folder.name}/ holds one .js file per function")
                continue
            functions[entry.name[:-3]] = _read_js(Path(entry.path), self.app_dir)
        return functions

    def modules(self, folder: Path, in_vendor: bool = False) -> dict[str, Any]:
        """CommonJS modules (``.js``) and JSON data (``.json``), nested by folder."""
        fields: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for entry, relative, is_dir in self._entries(folder):
            path = Path(entry.path)
            if is_dir:
                if in_vendor and entry.name == "_attachments" and path.parent.parent == self.app_dir / "vendor":
                    continue  # read as attachments
                _put(fields, origins, entry.name, self.modules(path, in_vendor), relative, path)
            elif path.suffix in MODULE_SUFFIXES:
                _put(fields, origins, path.stem, _read_value(path, self.app_dir), relative, path)
            else:
                top = relative.split("/", 1)[0]
                self.skip(relative, False, f"{top}/ holds CommonJS modules (.js) and JSON data (.json)")
        return fields

    def any_fields(self, folder: Path) -> dict[str, Any]:
        """Every file as a field, couchapp's way (for folders named in the ``fields`` option)."""
        fields: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for entry, relative, is_dir in self._entries(folder):
            path = Path(entry.path)
            value = self.any_fields(path) if is_dir else _read_value(path, self.app_dir)
            _put(fields, origins, _key(entry.name, is_dir), value, relative, path)
        return fields

    # -- attachments and pages --------------------------------------------------

    def attachments(self) -> dict[str, Attachment]:
        """``_attachments/``, ``attachments/`` and ``vendor/NAME/_attachments/``, by name."""
        attachments: dict[str, Attachment] = {}
        roots = [(self.app_dir / folder, "") for folder in ATTACHMENT_FOLDERS]
        vendor = self.app_dir / "vendor"
        if vendor.is_dir() and not self.rules.ignored("vendor", is_dir=True):
            for entry in sorted(vendor.iterdir()):
                if entry.is_dir() and not self.rules.ignored_path(self.app_dir, entry):
                    roots.append((entry / "_attachments", f"vendor/{entry.name}/"))
        for root, prefix in roots:
            if not root.is_dir() or self.rules.ignored_path(self.app_dir, root):
                continue
            for path in self._files_below(root):
                name = prefix + path.relative_to(root).as_posix()
                if name in attachments:
                    raise SourceError(path, f"both {attachments[name].origin} and this file make attachment {name}")
                attachments[name] = Attachment.from_file(name, path, origin=path.relative_to(self.app_dir).as_posix())
        return attachments

    def _files_below(self, folder: Path) -> list[Path]:
        files = []
        for entry, _relative, is_dir in self._entries(folder):
            files.extend(self._files_below(Path(entry.path)) if is_dir else [Path(entry.path)])
        return files

    def skip_non_pages(self, templates_dir: Path) -> None:
        """Note the files under ``templates/`` that are neither pages nor layouts (``*.html``)."""
        for path in self._files_below(templates_dir):
            if path.suffix != ".html":
                self.skip(path.relative_to(self.app_dir).as_posix(), False,
                          "templates/ renders *.html files (pages, and _-prefixed layouts and partials)")


def _key(name: str, is_dir: bool) -> str:
    """The field a file or folder makes: its name without the extension."""
    return name if is_dir else os.path.splitext(name)[0]


def _put(fields: dict[str, Any], origins: dict[str, str], key: str, value: Any, relative: str, path: Path) -> None:
    if key in fields:
        raise SourceError(path, f"both {origins[key]} and {relative} make field {key!r}")
    fields[key], origins[key] = value, relative


def _read_value(path: Path, app_dir: Path) -> Any:
    """A file as a field: ``.json`` parsed, ``.js`` with its macros expanded, other text stripped."""
    if path.suffix == ".json":
        return _read_json(path)
    if path.suffix == ".js":
        return _read_js(path, app_dir)
    return _read_text(path).strip()


def _read_js(path: Path, app_dir: Path) -> str:
    return expand_code_macros(_read_text(path).strip(), path, app_dir)


def _read_settings(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    settings = _read_json(path)
    return settings if isinstance(settings, dict) else {"meta": settings}


def _doc_id(app_dir: Path, settings: dict[str, Any]) -> str:
    id_file = app_dir / "_id"
    if id_file.is_file():
        doc_id = _read_text(id_file).strip()
        if not doc_id:
            raise SourceError(id_file, "the _id file is empty")
        return doc_id
    for key, prefix in (("_id", ""), ("designname", "_design/")):
        if key in settings:
            value = settings[key]
            if not isinstance(value, str) or not value.strip():
                raise SourceError(app_dir, f'"{key}" in the settings must be a non-empty string')
            return prefix + value.strip()
    return "_design/" + app_dir.resolve().name


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SourceError(path, "not UTF-8 text (binary files belong in _attachments/)") from None
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror or exc}") from None


def _read_json(path: Path) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None


_CODE_MACRO = re.compile(r"^[ \t]*//[ \t]*!code[ \t]+(\S+)[ \t]*$", re.MULTILINE)


def expand_code_macros(text: str, path: Path, app_dir: Path, _seen: tuple[Path, ...] = ()) -> str:
    """``text`` with each ``// !code PATH`` line replaced by that file (relative to ``app_dir``).

    Included files may include others; a file including itself (directly or
    not), a missing file, or a path leaving the app directory is a SourceError
    naming the line.
    """
    def include(match: re.Match) -> str:
        line = text.count("\n", 0, match.start()) + 1
        target = (app_dir / match.group(1)).resolve()
        if app_dir.resolve() not in target.parents:
            raise SourceError(path, f"!code {match.group(1)} is outside the app directory", line)
        if target in _seen or target == path.resolve():
            raise SourceError(path, f"!code {match.group(1)} includes itself", line)
        if not target.is_file():
            raise SourceError(path, f"!code {match.group(1)}: no such file in the app directory", line)
        return expand_code_macros(_read_text(target).strip(), target, app_dir, (*_seen, path.resolve()))

    return _CODE_MACRO.sub(include, text)


def _check_fields(app_dir: Path, fields: dict[str, Any]) -> None:
    """Refuse what CouchDB would reject, or accept and then fail on at query time."""
    for name, view in (fields.get("views") or {}).items():
        if name == "lib":  # CommonJS modules for map functions
            continue
        where = app_dir / "views" / name
        if "map" not in view:
            raise SourceError(where, "view folder has no map.js")
        reduce = view.get("reduce", "")
        if reduce.startswith("_") and reduce not in BUILTIN_REDUCES:
            raise SourceError(
                where / "reduce.js", f"unknown built-in reduce {reduce!r} (one of {', '.join(sorted(BUILTIN_REDUCES))})"
            )
    rewrites = app_dir / "rewrites.json"
    if "rewrites" in fields and not isinstance(fields["rewrites"], str) and rewrites.is_file():
        _check_rewrites(rewrites, fields["rewrites"])


def _check_rewrites(path: Path, rewrites: Any) -> None:
    if not isinstance(rewrites, list):
        raise SourceError(path, "rewrites.json must be a JSON array of {\"from\": ..., \"to\": ...} rules")
    text = path.read_text(encoding="utf-8")
    for index, rule in enumerate(rewrites):
        line = _line_of_item(text, index)
        if not isinstance(rule, dict):
            raise SourceError(path, f"rule {index + 1} is not an object", line)
        for key in ("from", "to"):
            if not isinstance(rule.get(key), str):
                raise SourceError(path, f"rule {index + 1} needs a string {key!r}", line)
        if "method" in rule and not isinstance(rule["method"], str):
            raise SourceError(path, f"rule {index + 1}: 'method' must be a string", line)
        if "query" in rule and not isinstance(rule["query"], dict):
            raise SourceError(path, f"rule {index + 1}: 'query' must be an object", line)


def _line_of_item(text: str, index: int) -> int | None:
    """The line where the ``index``-th element of the top-level JSON array starts."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    for current in range(index + 1):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if current == index:
            return text.count("\n", 0, position) + 1
        try:
            _value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
    return None


def _collect_attachments(app_dir: Path, rules: IgnoreRules) -> dict[str, Attachment]:
    attachments: dict[str, Attachment] = {}
    roots = [(app_dir / folder, "") for folder in ATTACHMENT_FOLDERS if not rules.ignored(folder, is_dir=True)]
    vendor = app_dir / "vendor"
    if vendor.is_dir() and not rules.ignored("vendor", is_dir=True):
        for entry in sorted(vendor.iterdir()):
            if entry.is_dir() and not rules.ignored_path(app_dir, entry):
                roots.append((entry / "_attachments", f"vendor/{entry.name}/"))
    for root, prefix in roots:
        if not root.is_dir():
            continue
        for current, dirs, files in os.walk(root):
            current_path = Path(current)
            dirs[:] = sorted(d for d in dirs if not rules.ignored_path(app_dir, current_path / d))
            for filename in sorted(files):
                path = current_path / filename
                if rules.ignored_path(app_dir, path):
                    continue
                name = prefix + path.relative_to(root).as_posix()
                if name in attachments:
                    raise SourceError(path, f"both {attachments[name].origin} and this file make attachment {name}")
                attachments[name] = Attachment.from_file(name, path, origin=path.relative_to(app_dir).as_posix())
    return attachments
