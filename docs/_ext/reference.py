"""Reference pages generated from the code when the docs are built, so they cannot drift.

Two directives:

``.. click-commands:: dirt.cli:cli``
    Every command of a click group (and of its subgroups), each in a section
    of its own: usage, the help text, arguments, options with their defaults,
    and the epilog. ``:prog:`` names the program (default: the module's
    package).

``.. settings-reference:: dirt.settings:Settings``
    Every field of a settings dataclass: name, type, default and its
    description. The description is the comment on the field's line in the
    class, or ``#:`` comment lines right above it; a field with neither fails
    the build, naming the field, so a new setting cannot go undocumented.

Help texts are turned into nodes directly (never parsed as reStructuredText),
so whatever characters they hold show as they are; `backticks` become
inline literals and click's ``\\b`` paragraphs literal blocks.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import re
import tokenize
from typing import Any

import click
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_id

_BACKTICKS = re.compile(r"`([^`]+)`")


def _load(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ExtensionError(f"cannot load {spec}: {exc}") from exc


def _inline(text: str) -> list[nodes.Node]:
    """``text`` as Text nodes, with `quoted` spans as inline literals."""
    parts: list[nodes.Node] = []
    position = 0
    for match in _BACKTICKS.finditer(text):
        if match.start() > position:
            parts.append(nodes.Text(text[position:match.start()]))
        parts.append(nodes.literal(text=match.group(1)))
        position = match.end()
    if position < len(text):
        parts.append(nodes.Text(text[position:]))
    return parts


def _paragraph(text: str) -> nodes.paragraph:
    return nodes.paragraph("", "", *_inline(" ".join(text.split())))


def help_nodes(text: str) -> list[nodes.Node]:
    """Paragraphs of a click help text; a paragraph starting with ``\\b`` is kept as it is written."""
    out: list[nodes.Node] = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(text or "")):
        if not block.strip():
            continue
        if block.lstrip().startswith("\b"):
            body = block.lstrip()[1:].strip("\n")
            out.append(nodes.literal_block(body, body))
        else:
            out.append(_paragraph(block))
    return out


class ClickCommands(SphinxDirective):
    """Sections for every command of a click group."""

    required_arguments = 1
    option_spec = {"prog": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        group = _load(self.arguments[0])
        prog = self.options.get("prog") or self.arguments[0].split(".")[0]
        context = click.Context(group, info_name=prog)
        out: list[nodes.Node] = [*help_nodes(group.help)]
        if group.epilog:
            out.extend(help_nodes(group.epilog))
        out.extend(self._commands(group, context))
        return out

    def _commands(self, group: click.Group, context: click.Context) -> list[nodes.Node]:
        sections = []
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            if command is None or command.hidden:
                continue
            sub = click.Context(command, info_name=name, parent=context)
            sections.append(self._section(command, sub))
        return sections

    def _section(self, command: click.Command, context: click.Context) -> nodes.section:
        path = context.command_path
        section = nodes.section(ids=[make_id(self.env, self.state.document, "cli", path)], names=[path])
        section += nodes.title("", "", nodes.literal(text=path))
        usage = f"{path} {' '.join(command.collect_usage_pieces(context))}"
        section += nodes.literal_block(usage, usage)
        section.extend(help_nodes(command.help))
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        if arguments:
            section += nodes.rubric(text="Arguments")
            section += self._definitions([(a.make_metavar(context), self._argument_text(a)) for a in arguments])
        help_option = command.get_help_option(context)
        if help_option is not None:
            options.append(help_option)
        section += nodes.rubric(text="Options")
        section += self._definitions([self._option(o, context) for o in options])
        if command.epilog:
            section.extend(help_nodes(command.epilog))
        if isinstance(command, click.Group):
            section.extend(self._commands(command, context))
        return section

    @staticmethod
    def _argument_text(argument: click.Argument) -> str:
        words = ["required" if argument.required else "optional"]
        if argument.nargs == -1:
            words.append("one or more" if argument.required else "any number")
        return ", ".join(words) + " (see above)"

    @staticmethod
    def _option(option: click.Option, context: click.Context) -> tuple[str, str]:
        record = option.get_help_record(context)
        names, text = (record if record else ("/".join(option.opts), ""))
        text = re.sub(r"\s*\[default: [^\]]*\]\s*$", "", text or "")
        default = option.get_default(context)
        if not option.is_flag and not option.count and default not in (None, "", ()):
            text += f" Default: `{default}`."
        return names, text.strip()

    @staticmethod
    def _definitions(items: list[tuple[str, str]]) -> nodes.definition_list:
        listing = nodes.definition_list()
        for term, text in items:
            entry = nodes.definition_list_item()
            entry += nodes.term("", "", nodes.literal(text=term))
            definition = nodes.definition()
            definition += _paragraph(text or "-")
            entry += definition
            listing += entry
        return listing


def field_descriptions(cls: type) -> dict[str, str]:
    """The description of each field of dataclass ``cls``, from the comments in its source.

    A field's description is the ``#:`` comment lines right above it, then
    the comment at the end of its line.
    """
    lines = inspect.getsource(cls).splitlines()
    comments = {token.start[0]: token.string
                for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
                if token.type == tokenize.COMMENT}
    names = {f.name for f in dataclasses.fields(cls)}
    descriptions: dict[str, str] = {}
    for row, line in enumerate(lines, 1):
        match = re.match(r"\s+(\w+)\s*:", line)
        if not match or match.group(1) not in names:
            continue
        parts = []
        above = row - 1
        while above >= 1 and lines[above - 1].strip().startswith("#:"):
            parts.insert(0, lines[above - 1].strip()[2:].strip())
            above -= 1
        if row in comments:
            parts.append(comments[row].lstrip("#:").strip())
        descriptions[match.group(1)] = " ".join(part for part in parts if part)
    return descriptions


class SettingsReference(SphinxDirective):
    """A definition list of every field of a settings dataclass."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        cls = _load(self.arguments[0])
        descriptions = field_descriptions(cls)
        listing = nodes.definition_list()
        for f in dataclasses.fields(cls):
            description = descriptions.get(f.name)
            if not description:
                raise self.error(
                    f"setting {f.name} of {self.arguments[0]} has no description: put a comment on its line "
                    f"in {inspect.getsourcefile(cls)} (or #: lines above it)")
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = None
            entry = nodes.definition_list_item()
            entry += nodes.term("", "", nodes.literal(text=f"{f.name} = {default!r}"))
            definition = nodes.definition()
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            definition += nodes.paragraph("", "", nodes.emphasis(text=kind), nodes.Text(". "),
                                          *_inline(description[0].upper() + description[1:] +
                                                   ("" if description.endswith(".") else ".")))
            entry += definition
            listing += entry
        return [listing]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("click-commands", ClickCommands)
    app.add_directive("settings-reference", SettingsReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
