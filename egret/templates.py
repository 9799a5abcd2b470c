"""Static pages rendered from jinja2 templates at compile time.

Every ``*.html`` file under the templates folder becomes an HTML attachment at
the same relative path (``templates/index.html`` -> ``index.html``), except
files and folders whose name starts with ``_``: those are layouts and partials,
used through ``{% extends %}``, ``{% include %}`` and ``{% import %}`` only.
HTML is autoescaped, and an undefined variable is an error rather than an
empty string, so a typo fails the compile instead of the page.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from egret.errors import SourceError
from egret.ignore import IgnoreRules

log = logging.getLogger(__name__)


def page_names(templates_dir: Path, rules: IgnoreRules, app_dir: Path) -> list[str]:
    """The templates to render, as ``/``-separated paths relative to ``templates_dir``."""
    names = []
    for path in sorted(templates_dir.rglob("*.html")):
        relative = path.relative_to(templates_dir)
        if any(part.startswith("_") for part in relative.parts):
            continue
        if not path.is_file() or rules.ignored_path(app_dir, path):
            continue
        names.append(relative.as_posix())
    return names


def render_pages(
    templates_dir: Path, context: Mapping[str, Any], rules: IgnoreRules, app_dir: Path
) -> dict[str, bytes]:
    """Render every page in ``templates_dir`` with ``context``; map page path to UTF-8 HTML.

    Raises :class:`SourceError` naming the template file and line for syntax
    errors, unknown templates and errors while rendering.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir), encoding="utf-8"),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    pages = {}
    for name in page_names(templates_dir, rules, app_dir):
        depth = name.count("/")
        page_context = dict(context, page=name, root="../" * depth or "./")
        try:
            pages[name] = env.get_template(name).render(page_context).encode("utf-8")
        except jinja2.TemplateSyntaxError as exc:
            path = Path(exc.filename) if exc.filename else templates_dir / name
            raise SourceError(path, f"template syntax error: {exc.message}", exc.lineno) from None
        except jinja2.TemplateNotFound as exc:
            path, line = _template_frame(exc, templates_dir, name)
            raise SourceError(path, f"template not found: {exc.name}", line) from None
        except UnicodeDecodeError:
            raise SourceError(templates_dir / name, "template is not UTF-8 text") from None
        except Exception as exc:  # an error raised by the template while rendering
            path, line = _template_frame(exc, templates_dir, name)
            raise SourceError(path, f"template error: {type(exc).__name__}: {exc}", line) from None
        log.debug("rendered %s", name)
    return pages


def _template_frame(exc: BaseException, templates_dir: Path, name: str) -> tuple[Path, int | None]:
    """The innermost template file and line in ``exc``'s traceback (jinja2 maps frames to templates)."""
    root = str(templates_dir.resolve())
    found: tuple[Path, int | None] = (templates_dir / name, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and str(Path(frame.filename).resolve()).startswith(root):
            found = (Path(frame.filename), frame.lineno)
    return found

