"""Compile a CouchApp directory into a design document and its attachments (no network).

The conventions are couchapp's (and couchdb-compile's), so an existing
CouchApp compiles unchanged:

* Every file becomes a field named after it without its extension, every
  folder a nested object: ``views/by_type/map.js`` -> ``views.by_type.map``.
  ``.json`` files are parsed; other files are UTF-8 text, stripped of
  surrounding whitespace. A ``reduce.js`` may hold a built-in (``_count``).
* Settings: ``couchapp.json`` becomes the ``couchapp`` field (couchapp's
  way); the keys of ``settings.json`` become top-level fields (the original
  egret's way: ``name``, ``description``, ``language``, ``designname``).
  Both are the context of the page templates.
* The document id: the ``_id`` file; otherwise ``"_id"`` in a settings file;
  otherwise ``_design/`` plus ``"designname"``; otherwise ``_design/`` plus
  the directory's name.
* ``_attachments/`` (any depth; the original egret's ``attachments/`` too)
  becomes attachments named by their path relative to it, as does
  ``vendor/NAME/_attachments/`` under ``vendor/NAME/``. Other top-level names
  starting with ``_`` are reserved and skipped.
* ``templates/**/*.html`` are jinja2 pages rendered into attachments (see
  :mod:`egret.templates`); ``"egret": {"templates": false}`` in
  ``couchapp.json`` keeps ``templates/`` an ordinary field instead, for apps
  whose show and list functions use it.
* Dotfiles, ``*~`` and ``.couchappignore`` patterns are skipped (:mod:`egret.ignore`).
* In ``.js`` files, a line ``// !code PATH`` (couchapp's macro) is replaced by
  the text of ``PATH``, relative to the app directory: one copy of a helper
  (dirt's task-state rule, ``lib/state.js``) shared by every view and by
  ``validate_doc_update``, where CommonJS ``require`` is not available.

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
FUNCTION_FIELDS = ("shows", "lists", "updates", "filters")
# Keys couchapp keeps in couchapp.json for its own bookkeeping, not settings.
_COUCHAPP_BOOKKEEPING = ("signatures", "manifest", "objects", "length")


@dataclass
class CompiledApp:
    """A compiled app: design document fields, attachments and settings.

    ``doc`` holds every field including ``_id`` and ``egret`` but not
    ``_attachments``; :meth:`document` gives the whole document.
    """

    directory: Path
    doc: dict[str, Any]
    attachments: dict[str, Attachment] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

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
    Raises :class:`SourceError` for anything in the directory that would not
    make a valid, working design document.
    """
    app_dir = Path(directory)
    if not app_dir.is_dir():
        raise SourceError(app_dir, "not a directory")
    rules = IgnoreRules.load(app_dir)
    couchapp_settings = _read_settings(app_dir / COUCHAPP_SETTINGS)
    egret_settings = _read_settings(app_dir / EGRET_SETTINGS)
    settings = {**couchapp_settings, **egret_settings}
    options = settings.get("egret", {})
    if not isinstance(options, dict):
        raise SourceError(app_dir, '"egret" in the settings must be an object of egret options')
    templates_name = options.get("templates", "templates")
    if templates_name and not isinstance(templates_name, str):
        raise SourceError(app_dir, '"templates" in the egret options must be a folder name, or false')
    templates_dir = app_dir / templates_name if templates_name else None
    if templates_dir is not None and not templates_dir.is_dir():
        templates_dir = None

    skip = {COUCHAPP_SETTINGS, EGRET_SETTINGS, *ATTACHMENT_FOLDERS}
    if templates_dir is not None:
        skip.add(templates_dir.name)
    fields = _folder_fields(app_dir, app_dir, rules, top_level_skip=skip)
    if "egret" in fields:
        raise SourceError(app_dir / "egret", "the field name 'egret' is reserved for egret's bookkeeping")
    if couchapp_settings:
        couchapp_field = fields.get("couchapp")
        meta = {k: v for k, v in couchapp_settings.items() if k != "_id" and k not in _COUCHAPP_BOOKKEEPING}
        fields["couchapp"] = {**couchapp_field, **meta} if isinstance(couchapp_field, dict) else meta
    top_level = {k: v for k, v in egret_settings.items() if k not in ("_id", "_rev", "_attachments", "egret")}
    fields = {**top_level, **fields}

    doc_id = _doc_id(app_dir, settings)
    _check_fields(app_dir, fields)

    attachments = _collect_attachments(app_dir, rules)
    if templates_dir is not None:
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

    doc = {"_id": doc_id, **fields}
    doc["egret"] = {"attachments": {name: att.md5 for name, att in sorted(attachments.items())}}
    return CompiledApp(directory=app_dir, doc=doc, attachments=attachments, settings=settings)


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


def _folder_fields(folder: Path, app_dir: Path, rules: IgnoreRules, top_level_skip: set[str] = frozenset()) -> dict[str, Any]:
    """The fields of one folder: files by name without extension, folders as objects."""
    fields: dict[str, Any] = {}
    origins: dict[str, str] = {}
    top = folder == app_dir
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        relative = Path(entry.path).relative_to(app_dir).as_posix()
        is_dir = entry.is_dir()
        if rules.ignored(relative, is_dir=is_dir) or entry.name == "_attachments":
            continue
        if top and (entry.name.startswith("_") or entry.name in top_level_skip):
            continue
        path = Path(entry.path)
        if is_dir:
            key, value = entry.name, _folder_fields(path, app_dir, rules)
        elif entry.is_file():
            key, extension = os.path.splitext(entry.name)
            if extension == ".json":
                value = _read_json(path)
            else:
                value = _read_text(path).strip()
                if extension == ".js":
                    value = expand_code_macros(value, path, app_dir)
        else:
            continue
        if key in fields:
            raise SourceError(path, f"both {origins[key]} and {relative} make field {key!r}")
        fields[key], origins[key] = value, relative
    return fields


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
    views = fields.get("views")
    if views is not None:
        if not isinstance(views, dict):
            raise SourceError(app_dir / "views", "views must be a folder of view folders")
        for name, view in views.items():
            if name == "lib":  # CommonJS modules for map functions
                continue
            where = app_dir / "views" / name
            if not isinstance(view, dict):
                raise SourceError(where, "a view must be a folder holding map.js (and optionally reduce.js)")
            if "map" not in view:
                raise SourceError(where, "view folder has no map.js")
            for part in ("map", "reduce"):
                if part in view and not isinstance(view[part], str):
                    raise SourceError(where / f"{part}.js", f"{part} must be a JavaScript function (or a built-in reduce)")
            reduce = view.get("reduce", "")
            if reduce.startswith("_") and reduce not in BUILTIN_REDUCES:
                raise SourceError(
                    where / "reduce.js", f"unknown built-in reduce {reduce!r} (one of {', '.join(sorted(BUILTIN_REDUCES))})"
                )
    for kind in FUNCTION_FIELDS:
        functions = fields.get(kind)
        if functions is None:
            continue
        if not isinstance(functions, dict):
            raise SourceError(app_dir / kind, f"{kind} must be a folder of .js files")
        for name, function in functions.items():
            if not isinstance(function, str):
                raise SourceError(app_dir / kind / name, f"{kind}/{name} must be a .js file holding one function")
    if "validate_doc_update" in fields and not isinstance(fields["validate_doc_update"], str):
        raise SourceError(app_dir / "validate_doc_update.js", "validate_doc_update must be a JavaScript function")
    if (app_dir / "rewrites.json").is_file():
        _check_rewrites(app_dir / "rewrites.json", fields.get("rewrites"))


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
