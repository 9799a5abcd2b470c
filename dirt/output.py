"""A task's captured output: kept per attempt, streamed while it runs, attached when it ends.

The runner captures what a task (and every program it starts) writes to
stdout and stderr and hands it over in timestamped pieces (:mod:`dirt.runner`).
An :class:`AttemptLog` turns those into whole lines, numbered, each with the
time it arrived, within a cap (``log_max_bytes``): the first half of the cap
is kept as written (the *head*), and past it a rolling *tail* of the latest
lines, so a runaway task keeps its beginning and its end with
``... N lines cut ...`` between them.

While an attempt runs, :class:`LogStreamer` writes its new lines at most
every ``log_flush_interval`` seconds, and only when there are some, as
*chunk documents* of their own (``log:<task>:<attempt>:<seq>``, see
docs/documents.rst), all running tasks' chunks in one request: the task
document's revisions are never touched, so a user's cancel and dirt's own
outcome write never collide with the log. Tail chunks whose lines have all
been cut are deleted as newer ones come, so what is stored stays under the
cap. An attempt that ends before its first flush writes no chunk at all.

When the attempt ends, its whole log becomes an attachment of the task
document, ``log-<attempt>.txt`` (with ``log-<attempt>.times.json``: when
lines arrived, if they came over more than :data:`TIME_RESOLUTION`), in the same write as the outcome; then its chunks are
deleted. If the attempt was cut short (node lost, timeout, cancelled, server
killed) the log says so in its last line. A server that recovers a task
whose server died builds that attachment from the chunks the dead server
left (:func:`assemble`).
"""
from __future__ import annotations

import base64
import codecs
import collections
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .couch import Database
from .errors import CouchError
from .groupcommit import GroupCommit

log = logging.getLogger(__name__)

LOG_PREFIX = "log:"
PARTIAL_AFTER = 2.0        # seconds a line without its newline waits before it is streamed as it is


def log_name(attempt: int) -> str:
    return f"log-{attempt}.txt"


TIME_RESOLUTION = 0.1   # seconds: lines that arrive this close after a timed one share its time


def times_name(attempt: int) -> str:
    return f"log-{attempt}.times.json"


def chunk_prefix(task_id: str, attempt: int) -> str:
    return f"{LOG_PREFIX}{task_id}:{attempt}:"


def cut_mark(lines: int) -> str:
    return f"... {lines} {'line' if lines == 1 else 'lines'} cut ..."


def end_mark(reason: str) -> str:
    return f"[dirt: the log ends here: {reason}]"


@dataclass
class _Chunk:
    """A chunk document written (or being written) for this attempt."""

    doc_id: str
    last_line: int
    tail: bool
    rev: str | None = None


class AttemptLog:
    """One attempt's output, capped; thread-safe (pieces come from execnet's thread)."""

    def __init__(self, task_id: str, record_id: str | None, attempt: int, node: str, max_bytes: int):
        self.task_id, self.record_id, self.attempt, self.node = task_id, record_id, attempt, node
        self.half = max(1, max_bytes // 2)
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""
        self._partial_since = 0.0
        self.lines = 0                               # lines seen so far
        self.bytes = 0                               # bytes of them (UTF-8, with newlines)
        self.head: list[tuple[float, str]] = []
        self._head_bytes = 0
        self.tail: collections.deque[tuple[int, float, str]] = collections.deque()
        self._tail_bytes = 0
        self.cut = 0                                 # lines dropped from the middle
        self._pending: list[tuple[int, float, str, bool]] = []   # (number, time, text, in tail) not yet streamed
        self._seq = 0
        self.chunks: list[_Chunk] = []
        self.streamed = False                        # a chunk went out (so there are chunks to delete)
        self.ended = False

    # -- taking output in ---------------------------------------------------------------
    def add(self, pieces: list[tuple[float, str]]) -> None:
        """Output as the runner delivers it: ``[(time, text), ...]`` (text may split lines anywhere)."""
        with self._lock:
            for t, text in pieces:
                if not isinstance(text, str):
                    text = self._decoder.decode(bytes(text))
                if not self._partial:
                    self._partial_since = t
                self._partial += text
                *complete, self._partial = self._partial.split("\n")
                for line in complete:
                    self._line(t, line[:-1] if line.endswith("\r") else line)   # \r\n ends a line too
                if complete and self._partial:      # what follows the last newline began in this piece
                    self._partial_since = t

    def _line(self, t: float, text: str) -> None:
        self.lines += 1
        size = len(text.encode("utf-8", "replace")) + 1
        self.bytes += size
        if not self.tail and self._head_bytes + size <= self.half:
            self.head.append((t, text))
            self._head_bytes += size
            self._pending.append((self.lines, t, text, False))
            return
        self.tail.append((self.lines, t, text))
        self._tail_bytes += size
        self._pending.append((self.lines, t, text, True))
        while self._tail_bytes > self.half and len(self.tail) > 1:
            _, _, dropped = self.tail.popleft()
            self._tail_bytes -= len(dropped.encode("utf-8", "replace")) + 1
            self.cut += 1

    # -- streaming ------------------------------------------------------------------------
    def chunk(self, now: float) -> tuple[dict | None, list[dict]]:
        """The next chunk document of new lines (None if there are none), and deletions
        of tail chunks whose lines have all been cut since."""
        with self._lock:
            if self._partial and now - self._partial_since >= PARTIAL_AFTER:
                partial, self._partial = self._partial, ""
                self._line(self._partial_since, partial)
            first_kept = self.tail[0][0] if self.tail else self.lines + 1
            lines = [(n, t, text, tail) for n, t, text, tail in self._pending if not tail or n >= first_kept]
            self._pending = []
            deletions = []
            for chunk in self.chunks:
                if chunk.tail and chunk.rev and chunk.last_line < first_kept:
                    deletions.append({"_id": chunk.doc_id, "_rev": chunk.rev, "_deleted": True})
            self.chunks = [c for c in self.chunks if not any(d["_id"] == c.doc_id for d in deletions)]
            if not lines:
                return None, deletions
            self._seq += 1
            doc_id = f"{chunk_prefix(self.task_id, self.attempt)}{self._seq:06d}"
            tail = lines[-1][3]
            self.chunks.append(_Chunk(doc_id, lines[-1][0], tail))
            self.streamed = True
            doc = {"_id": doc_id, "type": "log", "task_id": self.task_id, "record_id": self.record_id,
                   "attempt": self.attempt, "seq": self._seq, "node": self.node, "first_line": lines[0][0],
                   "tail": tail, "lines": [[round(t, 3), text] for _, t, text, _ in lines]}
            return doc, deletions

    def written(self, doc_id: str, rev: str) -> None:
        with self._lock:
            for chunk in self.chunks:
                if chunk.doc_id == doc_id:
                    chunk.rev = rev

    def deletions(self) -> list[dict]:
        """Deleting every chunk written so far (the attempt's log is attached to the task now)."""
        with self._lock:
            docs = [{"_id": c.doc_id, "_rev": c.rev, "_deleted": True} for c in self.chunks if c.rev]
            self.chunks = [c for c in self.chunks if not c.rev]
            return docs

    # -- the whole log ------------------------------------------------------------------------
    def final(self, cut_short: str | None = None) -> tuple[dict, dict] | None:
        """``(_attachments, summary)`` for the outcome write: the log and its times as
        inline attachments, and the attempt's ``log`` field. None if the task printed nothing."""
        with self._lock:
            if self._partial:
                self._line(self._partial_since, self._partial)
                self._partial = ""
            self.ended = True
            if not self.lines and not cut_short:
                return None
            numbered = [(n + 1, t, text) for n, (t, text) in enumerate(self.head)] + list(self.tail)
            return render(self.attempt, numbered, self.lines, self.bytes, self.cut, cut_short)


def render(attempt: int, numbered: list[tuple[int, float, str]], lines: int, size: int, cut: int,
           cut_short: str | None) -> tuple[dict, dict]:
    """The attachments and the ``log`` summary of an attempt's (capped) lines."""
    out, times, previous, last_t = [], [], 0, None
    for number, t, text in numbered:
        if number != previous + 1 and previous:
            out.append(cut_mark(number - previous - 1))
        if last_t is None or t - last_t >= TIME_RESOLUTION:
            times.append([number, round(t, 3)])
            last_t = t
        out.append(text)
        previous = number
    if cut_short:
        out.append(end_mark(cut_short))
    body = ("\n".join(out) + "\n").encode("utf-8", "replace")
    attachments = {
        log_name(attempt): {"content_type": "text/plain; charset=utf-8", "data": base64.b64encode(body).decode()},
    }
    if len(times) > 1:   # output that came at one moment (a short task's) needs no times beyond the attempt's
        attachments[times_name(attempt)] = {"content_type": "application/json",
                                            "data": base64.b64encode(json.dumps(times).encode()).decode()}
    summary = {"name": log_name(attempt), "lines": lines, "bytes": size, "cut_lines": cut}
    if cut_short:
        summary["cut_short"] = cut_short
    return attachments, summary


def assemble(db: Database, task_id: str, attempt: int, cut_short: str) -> tuple[dict, dict, list[dict]] | None:
    """The log an attempt left in chunks (its server died): ``(_attachments,
    summary, chunk deletions)``, or None if it left none."""
    prefix = chunk_prefix(task_id, attempt)
    rows = db.all_docs(startkey=prefix, endkey=prefix + "\ufff0", include_docs=True).get("rows", [])
    chunks = [row["doc"] for row in rows if isinstance(row.get("doc"), dict)]
    if not chunks:
        return None
    numbered = []
    for chunk in sorted(chunks, key=lambda c: c.get("seq") or 0):
        first = chunk.get("first_line") if isinstance(chunk.get("first_line"), int) else 1
        for i, line in enumerate(chunk.get("lines") or []):
            if isinstance(line, list) and len(line) == 2 and isinstance(line[1], str):
                t = line[0] if isinstance(line[0], (int, float)) else 0.0
                numbered.append((first + i, float(t), line[1]))
    lines = numbered[-1][0] if numbered else 0
    size = sum(len(text.encode("utf-8", "replace")) + 1 for _, _, text in numbered)
    cut = lines - len(numbered)
    attachments, summary = render(attempt, numbered, lines, size, cut, cut_short)
    deletions = [{"_id": c["_id"], "_rev": c["_rev"], "_deleted": True} for c in chunks]
    return attachments, summary, deletions


class LogStreamer:
    """Writes the running attempts' new lines every ``interval`` seconds, in one request."""

    def __init__(self, writer: GroupCommit, interval: float, clock: Callable[[], float] = time.time):
        self.writer = writer
        self.interval = interval
        self.clock = clock
        self._logs: dict[tuple[str, int], AttemptLog] = {}
        self._done: list[AttemptLog] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="log-streamer")
        self._thread.start()

    def follow(self, attempt_log: AttemptLog) -> None:
        with self._lock:
            self._logs[(attempt_log.task_id, attempt_log.attempt)] = attempt_log

    def finished(self, attempt_log: AttemptLog) -> None:
        """The attempt's outcome (with its log attached) is written, or dropped: remove its chunks."""
        with self._lock:
            self._logs.pop((attempt_log.task_id, attempt_log.attempt), None)
            if attempt_log.streamed:
                self._done.append(attempt_log)

    def close(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:   # the log must never stop the server
                log.exception("could not stream task output")

    def flush(self) -> None:
        """Write what is new in every running attempt's log, and delete finished attempts' chunks."""
        now = self.clock()
        with self._lock:
            running = [entry for entry in self._logs.values() if not entry.ended]
            done, self._done = self._done, []
        docs: list[dict] = []
        owners: list[AttemptLog | None] = []
        for entry in running:
            chunk, deletions = entry.chunk(now)
            docs += deletions
            owners += [None] * len(deletions)
            if chunk is not None:
                docs.append(chunk)
                owners.append(entry)
        for entry in done:
            deletions = entry.deletions()
            docs += deletions
            owners += [None] * len(deletions)
            if any(c.rev is None for c in entry.chunks):
                with self._lock:
                    self._done.append(entry)     # a chunk write still under way: delete it next time
        if not docs:
            return
        try:
            saved = self.writer.save_many(docs)
        except CouchError as exc:
            log.debug("task output not streamed: %s", exc)
            return
        for doc, owner, result in zip(docs, owners, saved):
            if owner is not None and not isinstance(result, CouchError):
                owner.written(doc["_id"], result["_rev"])


# -- reading a log back (``dirt logs``) -------------------------------------------------------------

@dataclass
class Reading:
    """What :func:`read` found: numbered lines (a number of None is a mark dirt wrote) and the attempt's state."""

    attempt: int
    lines: list[tuple[int | None, str]]
    ended: bool          # the attempt is over (its log is attached)
    state: str           # the task's state


def _attempt_number(task: Any, attempt: int | None) -> int | None:
    if attempt is not None:
        return attempt
    if task.attempt:
        return task.attempt
    return len(task.attempts) or None


def read(db: Database, task_id: str, attempt: int | None = None) -> Reading:
    """The log of attempt ``attempt`` of a task (default: its latest), finished or still streaming.

    Raises NotFound for an unknown task, and DirtError for an attempt it never had.
    """
    from .errors import DirtError, NotFound
    from .taskdoc import parse_task

    doc = db.get(task_id)
    if doc.get("type") != "task":
        raise NotFound(f"{task_id} is not a task (its type is {doc.get('type')!r})", 404, "not_a_task")
    task = parse_task(doc)
    number = _attempt_number(task, attempt)
    if number is None:
        return Reading(0, [], False, task.state)
    if number < 1 or number > max(len(task.attempts), task.attempt or 0):
        raise DirtError(f"task {task_id} has no attempt {number} (it has {len(task.attempts)})")
    entry = task.attempts[number - 1] if number <= len(task.attempts) else None
    ended = entry is not None and entry.outcome is not None
    if ended:
        if log_name(number) not in (doc.get("_attachments") or {}):
            return Reading(number, [], True, task.state)
        text = db.get_attachment(task_id, log_name(number)).decode("utf-8", "replace")
        return Reading(number, number_lines(text), True, task.state)
    prefix = chunk_prefix(task_id, number)
    rows = db.all_docs(startkey=prefix, endkey=prefix + "\ufff0", include_docs=True).get("rows", [])
    lines: list[tuple[int | None, str]] = []
    previous = 0
    for chunk in sorted((r["doc"] for r in rows if isinstance(r.get("doc"), dict)), key=lambda c: c.get("seq") or 0):
        first = chunk.get("first_line") if isinstance(chunk.get("first_line"), int) else previous + 1
        if first > previous + 1:
            lines.append((None, cut_mark(first - previous - 1)))
        for i, line in enumerate(chunk.get("lines") or []):
            if isinstance(line, list) and len(line) == 2 and isinstance(line[1], str):
                lines.append((first + i, line[1]))
                previous = first + i
    return Reading(number, lines, False, task.state)


def number_lines(text: str) -> list[tuple[int | None, str]]:
    """An attached log's lines with their numbers in the attempt's output (cut and end marks get None)."""
    out: list[tuple[int | None, str]] = []
    number = 0
    for line in text.splitlines():
        if line.startswith("... ") and line.endswith(" cut ...") and line.split()[1].isdigit():
            number += int(line.split()[1])
            out.append((None, line))
        elif line.startswith("[dirt: the log ends here: ") and line.endswith("]"):
            out.append((None, line))
        else:
            number += 1
            out.append((number, line))
    return out


def follow(db: Database, task_id: str, attempt: int | None, emit: Callable[[str], None],
           sleep: Callable[[float], None] = time.sleep, poll: float = 0.5) -> Reading:
    """Emit an attempt's lines as they come until it ends; the final reading.

    A task still waiting is waited for; ``attempt`` None follows the latest
    attempt (a task that is retried is followed into its next attempt only
    when asked for that attempt).
    """
    shown = 0               # lines emitted, by number in the attempt's output
    marks: set[str] = set()
    while True:
        reading = read(db, task_id, attempt)
        if attempt is None and reading.attempt:
            attempt = reading.attempt
        for number, text in reading.lines:
            if number is None:
                if text not in marks and (reading.ended or not text.startswith("[dirt:")):
                    marks.add(text)
                    emit(text)
            elif number > shown:
                shown = number
                emit(text)
        if reading.ended or reading.state in FINAL_TASK_STATES:
            return reading
        sleep(poll)


FINAL_TASK_STATES = ("passed", "failed", "error", "cancelled", "skipped")
