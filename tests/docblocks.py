"""The runnable blocks of the docs: found in the .rst pages, turned into one shell session per page.

What runs
    A literal block (``::`` or ``.. code-block::``) whose first line starts
    with ``$ `` is a shell session: each ``$ `` line is a command (a line
    ending with ``\\`` continues on the next), and the lines after it up to
    the next ``$ `` are its expected output. A ``.. code-block:: python``
    block is a Python script, run with dirt's interpreter. Other blocks (JSON,
    settings, log lines, output) are not run. The blocks of a page run in
    order, in one bash session that starts in an empty ``$HOME``.

Marks
    An rst comment right before a block's paragraph or directive says how to
    treat that block (they show in the page's source only); several may
    precede one block::

        .. test: skip WHY          not run, for the reason given
        .. test: file NAME         written to the file NAME instead of run (a JSON file, a script)
        .. test: background        its commands run in the background until the page ends (``dirt serve``)
        .. test: wait              first wait until every task in the database has finished
        .. test: before COMMAND    first run COMMAND, unseen by readers (``cd "$DOCS_REPO"``)

    Any other ``.. test:`` comment is an error, so a typo cannot switch a
    block off.

Checking
    Every command must exit with status 0. Its output, when the page shows
    one, must match it: ``...`` in the page stands for any text (a line of
    only ``...`` for any number of lines), and what differs from machine to
    machine is normalised on both sides (see :data:`NORMALISE`); where lines
    differ only in how words are spread over them (``ls``), they match. In commands
    and files, ``http://localhost:5984`` becomes the test server's URL; in
    output, that URL and ``$HOME`` read as ``http://localhost:5984`` and
    ``/home/me``.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

MARKS = ("skip", "file", "background", "wait", "before")
_MARK = re.compile(r"^\.\. test:\s*(\S+)\s*(.*?)\s*$")
_CODE_BLOCK = re.compile(r"^(\s*)\.\. code(?:-block)?::\s*(\S*)\s*$")
DOCS_SERVER = "http://localhost:5984"
SEPARATOR = "\x1e"

# What varies between machines and runs, replaced on both sides before comparing.
NORMALISE = [
    (re.compile(r"\b\d+ cpus\b"), "N cpus"),
    (re.compile(r"\bPython \d+\.\d+\.\d+"), "Python X.Y.Z"),
    (re.compile(r"\bpid \d+"), "pid N"),
    (re.compile(r"\(rev \d+-[0-9a-f.]+\)"), "(rev R)"),
    (re.compile(r'"rev":\s*"\d+-[0-9a-f.]+"'), '"rev":"R"'),
    (re.compile(r"\(\d+(?:\.\d+)? (?:B|kB|MB)\)"), "(SIZE)"),
    (re.compile(r"\bv\d+\.\d+\.\d+\b"), "vX.Y.Z"),
    (re.compile(r"\bversion \d+\.\d+\.\d+\b"), "version X.Y.Z"),
    (re.compile(r"\S+:\d+:[0-9a-f]{6}\b"), "SERVER"),                           # a dirt server's id
    (re.compile(r"\(pid N on \S+, dirt \S+\)"), "(pid N on HOST, dirt X.Y.Z)"),
]


@dataclass
class Command:
    """One ``$`` line (with its continuation lines) and the output the page shows for it."""

    text: str
    expected: list[str]
    line: int


@dataclass
class Block:
    """A literal block of a page: ``kind`` is ``shell``, ``python`` or ``other``."""

    page: str
    line: int
    kind: str
    text: str
    marks: list[tuple[str, str]] = field(default_factory=list)

    def mark(self, name: str) -> list[str]:
        return [argument for mark, argument in self.marks if mark == name]

    def commands(self) -> list[Command]:
        """The shell commands of a ``shell`` block, with their expected output."""
        commands: list[Command] = []
        lines = self.text.splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            if line.startswith("$ "):
                text, start = line[2:], index
                while text.endswith("\\") and index + 1 < len(lines):
                    index += 1
                    text += "\n" + lines[index]
                commands.append(Command(text, [], self.line + start))
            elif commands:
                commands[-1].expected.append(line)
            index += 1
        for command in commands:
            while command.expected and not command.expected[-1].strip():
                command.expected.pop()
        return commands


class DocsError(Exception):
    """A page's test marks are wrong (an unknown mark, a mark with no block after it)."""


def blocks(path: Path) -> list[Block]:
    """The literal blocks of the page at ``path``, with their marks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    pending: list[tuple[str, str, int]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        mark = _MARK.match(line)
        if mark:
            if mark.group(1) not in MARKS:
                raise DocsError(f"{path.name}:{index + 1}: unknown test mark {mark.group(1)!r} (one of {', '.join(MARKS)})")
            pending.append((mark.group(1), mark.group(2), index + 1))
            index += 1
            continue
        code = _CODE_BLOCK.match(line)
        literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        if not (code or literal):
            index += 1
            continue
        indent = len(line) - len(line.lstrip())
        index += 1
        if code:  # skip the directive's options
            while index < len(lines) and lines[index].strip().startswith(":"):
                index += 1
        while index < len(lines) and not lines[index].strip():
            index += 1
        start = index
        body: list[str] = []
        while index < len(lines) and (not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent):
            body.append(lines[index])
            index += 1
        text = textwrap.dedent("\n".join(body)).strip("\n")
        if not text:
            continue
        first = text.lstrip().splitlines()[0]
        language = code.group(2) if code else ""
        if language == "python":
            kind = "python"
        elif first.startswith("$ ") and language in ("", "console", "shell-session", "bash", "sh", "shell"):
            kind = "shell"
        else:
            kind = "other"
        found.append(Block(path.name, start + 1, kind, text, [(m, a) for m, a, _ in pending]))
        pending = []
    if pending:
        raise DocsError(f"{path.name}:{pending[0][2]}: test mark {pending[0][0]!r} with no block after it")
    return found


def substitute(text: str, server: str) -> str:
    """``text`` with the docs' server address replaced by ``server``."""
    return text.replace(DOCS_SERVER, server).replace("http://127.0.0.1:5984", server)


@dataclass
class Step:
    """A command of the session, and what to check about it (``expected`` is None: nothing)."""

    id: int
    page: str
    line: int
    text: str
    expected: list[str] | None


def session(page_blocks: list[Block], server: str) -> tuple[str, list[Step]]:
    """The bash script that runs a page's blocks, and its steps."""
    steps: list[Step] = []
    script = ['cd "$HOME"']

    def add(text: str, page: str, line: int, expected: list[str] | None, background: bool = False) -> None:
        step = Step(len(steps) + 1, page, line, text, expected)
        steps.append(step)
        if background:
            script.append(f'{{ {text}\n}} > "$DOCS_OUT/bg-{step.id}.log" 2>&1 < /dev/null &')
            script.append('echo $! >> "$DOCS_OUT/bg.pids"')
            return
        script.append(f"printf '{SEPARATOR}{step.id}\\n'")
        script.append(f"{{ {text}\n}} 2>&1 < /dev/null")
        script.append(f"__rc=$?; printf '\\n{SEPARATOR}{step.id} rc %d\\n' \"$__rc\"; [ \"$__rc\" = 0 ] || exit 97")

    for block in page_blocks:
        if block.mark("skip") or (block.kind == "other" and not block.mark("file")):
            continue
        for command in block.mark("before"):
            add(substitute(command, server), block.page, block.line, None)
        if block.mark("wait"):
            add('"$DOCS_PYTHON" "$DOCS_HELPER" wait', block.page, block.line, None)
        for name in block.mark("file"):
            add(f"cat > {name} <<'__DOCS_EOF__'\n{substitute(block.text, server)}\n__DOCS_EOF__", block.page, block.line, None)
        if block.mark("file"):
            continue
        if block.kind == "python":
            add(f"\"$DOCS_PYTHON\" - <<'__DOCS_EOF__'\n{substitute(block.text, server)}\n__DOCS_EOF__",
                block.page, block.line, None)
            continue
        for command in block.commands():
            add(substitute(command.text, server), block.page, command.line,
                None if block.mark("background") else command.expected, background=bool(block.mark("background")))
    return "\n".join(script) + "\n", steps


def outputs(stdout: str) -> dict[int, tuple[str, int | None]]:
    """Each step's output and exit status, from the session's standard output."""
    found: dict[int, tuple[str, int | None]] = {}
    parts = stdout.split(SEPARATOR)
    current: int | None = None
    for part in parts[1:]:
        head, _, rest = part.partition("\n")
        words = head.split()
        if len(words) == 3 and words[1] == "rc":
            step = int(words[0])
            found[step] = (found.get(step, ("", None))[0], int(words[2]))
            current = None
        elif words:
            current = int(words[0])
            found[current] = (rest, None)
    return found


def normalise(text: str) -> str:
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def matches(expected: list[str], actual: str, server: str, home: str) -> bool:
    """Whether ``actual`` output is what the page shows (see the module docstring).

    Line by line first; failing that, with every run of spaces and line
    breaks read as one space (``ls`` prints columns to a terminal, and one
    name a line into a pipe).
    """
    actual = normalise(actual.replace(server, DOCS_SERVER).replace(home, "/home/me"))
    actual_lines = [line.rstrip() for line in actual.strip("\n").splitlines()]
    expected = [normalise(line).rstrip() for line in expected]
    pattern = ""
    for line in expected:
        if line.strip() == "...":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += re.escape(line).replace(re.escape("..."), r"[^\n]*?") + r"\n"
    if re.fullmatch(pattern, "\n".join(actual_lines) + "\n"):
        return True
    loose = r"\s+".join(re.escape(word).replace(re.escape("..."), r".*?") for word in " ".join(expected).split())
    return re.fullmatch(loose, " ".join(actual.split()), re.DOTALL) is not None


FINAL_STATES = ("passed", "failed", "error", "cancelled", "skipped")


def wait_for_tasks(server: str, timeout: float = 180.0) -> None:
    """Return once every task in every database on ``server`` has finished (``.. test: wait``)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        unfinished = []
        for db in httpx.get(f"{server}/_all_dbs", timeout=30).json():
            if db.startswith("_"):
                continue
            rows = httpx.get(f"{server}/{db}/_all_docs", params={"include_docs": "true"}, timeout=30).json()["rows"]
            unfinished += [f"{db}/{row['id']}" for row in rows
                           if row["doc"].get("type") == "task" and row["doc"].get("state") not in FINAL_STATES]
        if not unfinished:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"docs: tasks still unfinished after {timeout:.0f} s: {', '.join(unfinished[:5])}")
        time.sleep(0.2)


if __name__ == "__main__":  # run by the page sessions: python docblocks.py wait
    import os
    import sys

    if sys.argv[1:] != ["wait"]:
        raise SystemExit("usage: docblocks.py wait   (DOCS_SERVER_URL names the server)")
    wait_for_tasks(os.environ["DOCS_SERVER_URL"])
