"""Task logs as dirt stores them, written straight into a test database.

The shapes are the storage format of task output (issue 11): while an
attempt runs, chunk documents ``log:TASK:ATTEMPT:SEQ`` (``type: "log"``,
``first_line``, ``tail``, ``lines: [[t, text], ...]``); when it ends, the
capped log attached to the task as ``log-N.txt`` with ``log-N.times.json``,
the attempt's ``log`` and ``provenance`` entries, and the chunks deleted.
The web app's tests drive its pages with these.
"""
from __future__ import annotations

import base64
import json
import time


def chunk_id(task_id: str, attempt: int, seq: int) -> str:
    return f"log:{task_id}:{attempt}:{seq:06d}"


def running_task(db, task_id: str, *, record_id: str = "r1", name: str = "build.linux", node: str = "node1",
                 started: float | None = None, earlier: list[dict] | None = None) -> dict:
    """A task claimed for its next attempt (after ``earlier`` finished ones), as dirt writes it."""
    started = started or time.time()
    attempts = list(earlier or [])
    number = len(attempts) + 1
    attempts.append({"attempt": number, "node": node, "server": "server:test", "started": started})
    doc = {"_id": task_id, "type": "task", "record_id": record_id, "name": name, "created": started - 1,
           "state": "running", "node": node, "started": started, "attempt": number, "attempts": attempts,
           "lease": {"server": "server:test", "expires": started + 3600}}
    db.save(doc)
    return doc


def write_chunk(db, task_id: str, attempt: int, seq: int, first_line: int, texts: list[str], *,
                tail: bool = False, t: float | None = None, record_id: str = "r1") -> dict:
    """One chunk of streamed output: ``texts`` are lines ``first_line``, ``first_line + 1``, ..."""
    t = t or time.time()
    doc = {"_id": chunk_id(task_id, attempt, seq), "type": "log", "task_id": task_id, "record_id": record_id,
           "attempt": attempt, "seq": seq, "node": "node1", "first_line": first_line, "tail": tail,
           "lines": [[t + i * 0.001, text] for i, text in enumerate(texts)]}
    db.save(doc)
    return doc


def delete_chunk(db, task_id: str, attempt: int, seq: int) -> None:
    db.delete_doc(db.get(chunk_id(task_id, attempt, seq)))


def attachment(data: bytes | str, content_type: str) -> dict:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return {"content_type": content_type, "data": base64.b64encode(raw).decode()}


def provenance(sha: str = "a" * 64, **more) -> dict:
    return {"sha256": sha, "dirt": "0.7.0", "python": "3.11.7",
            "platform": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36", "kwargs": {}, **more}


def finish_attempt(db, task_id: str, text: str, *, times: list | None = None, state: str = "passed",
                   outcome: str | None = None, cut_lines: int = 0, cut_short: str | None = None,
                   prov: dict | None = None, reason: str | None = None, delete_chunks: bool = True,
                   **fields) -> dict:
    """End the task's current attempt as dirt does: attach its log, fill in the attempt, drop the chunks."""
    doc = db.get(task_id)
    now = time.time()
    entry = doc["attempts"][-1]
    number = entry["attempt"]
    name = f"log-{number}.txt"
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    log = {"name": name, "lines": lines, "bytes": len(text.encode("utf-8")), "cut_lines": cut_lines}
    if cut_short:
        log["cut_short"] = cut_short
    entry.update(ended=now, outcome=outcome or state, log=log, provenance=prov or provenance())
    if reason:
        entry["reason"] = reason
        doc["reason"] = reason
    doc["_attachments"] = dict(doc.get("_attachments") or {})
    doc["_attachments"][name] = attachment(text, "text/plain; charset=utf-8")
    doc["_attachments"][f"log-{number}.times.json"] = attachment(
        json.dumps(times if times is not None else [[1, entry["started"]]]), "application/json")
    doc.update(state=state, completed=now, **fields)
    doc.pop("lease", None)
    if state == "waiting":
        for key in ("node", "started", "completed"):
            doc.pop(key, None)
    db.save(doc)
    if delete_chunks:
        prefix = f"log:{task_id}:{number}:"
        rows = db.all_docs(startkey=prefix, endkey=prefix + "\ufff0")["rows"]
        for row in rows:
            db.delete_doc({"_id": row["id"], "_rev": row["value"]["rev"]})
    return db.get(task_id)


def build_log(lines: int) -> tuple[str, dict]:
    """A build log of ``lines`` lines (~50 bytes each, coloured) with known lines in it, and where they are:
    ``needle`` (three lines), ``error`` (the first error-looking line), ``mentions`` (one that only
    mentions errors)."""
    esc = "\x1b"
    marks = {"needle": [500, lines * 3 // 5, lines - 1], "error": lines * 73 // 100, "mentions": 10}
    out = []
    for n in range(1, lines + 1):
        if n in marks["needle"]:
            out.append(f"[{n:6d}] found the NeEdLe here")
        elif n == marks["error"]:
            out.append(f"{esc}[31msrc/io.c:12: error: undefined reference to `frobnicate'{esc}[0m")
        elif n == marks["mentions"]:
            out.append("cc -Werror -c io.c (0 errors, no failures so far)")
        else:
            out.append(f"[{n:6d}] {esc}[32mok{esc}[0m compiling module_{n % 977}.c -O2 -g")
    return "\n".join(out) + "\n", marks
