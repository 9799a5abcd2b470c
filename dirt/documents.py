"""The documents dirt keeps in CouchDB: records, tasks and nodes.

A task document is written by users with ``{type: "task", record_id, name,
platform?, kwargs?, requires?, timeout?, max_attempts?, priority?, after?}``; dirt
adds ``state`` (a :class:`TaskState`), ``node``, ``started``, ``completed``,
``results``, ``attach_links``, ``_attachments``, ``reason`` and ``attempts``.
This module holds the rules for those fields: what a state means, how a
returned result becomes a stored one, and what an attempt records.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import mimetypes
import time
from enum import Enum
from typing import Any

from . import junit
from .errors import DirtError


class TaskState(str, Enum):
    """Where a task is. Final states never change again (unless a user resets)."""

    WAITING = "waiting"      # not running; ``reason`` says why, if it cannot run now
    RUNNING = "running"      # claimed by a dirt server (``lease``) and running on ``node``
    PASSED = "passed"        # the task returned success: true
    FAILED = "failed"        # the task returned success: false
    ERROR = "error"          # dirt could not run it, or it raised; ``reason`` says why
    CANCELLED = "cancelled"  # a user cancelled it
    SKIPPED = "skipped"      # a task it runs after (``after``) did not pass; ``reason`` says which

    @property
    def final(self) -> bool:
        return self in (TaskState.PASSED, TaskState.FAILED, TaskState.ERROR, TaskState.CANCELLED, TaskState.SKIPPED)


FINAL_STATES = {s.value for s in TaskState if s.final}



@functools.lru_cache(maxsize=1)
def state_rule_js() -> str:
    """The task-state rule in JavaScript (``web/lib/state.js``), for the views
    dirt installs itself; the web app inlines the same file through egret's
    ``// !code lib/state.js``."""
    from .create import web_dir   # web/ ships inside the wheel as dirt/web
    return (web_dir() / "lib" / "state.js").read_text(encoding="utf-8").strip()



class BadResult(DirtError):
    """What a task sent back cannot be stored as a result."""


def is_task(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "task" and not doc.get("_deleted")


def is_node(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "node" and not doc.get("_deleted")


def task_state(doc: dict) -> str:
    """The task's state, read the way the 2012 documents meant it.

    Documents from the original dirt have no ``state``: one with a
    ``completed`` time (a positive number) is finished (passed or failed by
    ``results.success``), else it waits. The web app's views read states by
    the same rule, ``web/lib/state.js``; tests check that the two agree.
    """
    state = doc.get("state")
    if isinstance(state, str) and state in TaskState._value2member_map_:
        return state
    completed = doc.get("completed")
    if isinstance(completed, (int, float)) and not isinstance(completed, bool) and completed > 0:
        results = doc.get("results")
        success = isinstance(results, dict) and results.get("success") is True
        return TaskState.PASSED.value if success else TaskState.FAILED.value
    return TaskState.WAITING.value


def now() -> float:
    return time.time()


def to_json_safe(value: Any, where: str = "results") -> Any:
    """``value`` with tuples as lists, checked to be representable as JSON.

    Raises BadResult naming the first part that is not (bytes, sets, NaN,
    non-string keys, ...).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise BadResult(f"{where} is {value}, which JSON cannot hold")
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadResult(f"{where} has the key {key!r}; JSON keys must be strings")
            out[key] = to_json_safe(item, f"{where}[{key!r}]")
        return out
    raise BadResult(f"{where} is a {type(value).__name__}, which JSON cannot hold")


def attachment_name(filename: Any, taken: set[str]) -> str:
    """A CouchDB-safe, unique attachment name for a task's ``filename``."""
    if not isinstance(filename, str) or not filename.strip():
        raise BadResult(f"attachment filename {filename!r} is not a non-empty string")
    name = filename.strip().lstrip("/_") or "attachment"
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base}.{n}"
    taken.add(name)
    return name


def stubs(attachments: Any) -> dict:
    """Stubs that keep a document's attachments as they are through a write.

    A stub as the server gave it is kept; an attachment still held inline
    (from our own last write) becomes a stub with its content type and MD5
    digest, which pouchdb-server needs to find it (CouchDB goes by the name).
    """
    out = {}
    for name, att in (attachments or {}).items() if isinstance(attachments, dict) else ():
        info = att if isinstance(att, dict) else {}
        if info.get("stub"):
            out[name] = dict(info)
            continue
        stub = {"stub": True, "content_type": info.get("content_type") or "application/octet-stream"}
        if isinstance(info.get("data"), str):
            try:
                stub["digest"] = "md5-" + base64.b64encode(hashlib.md5(base64.b64decode(info["data"])).digest()).decode()
            except ValueError:
                pass
        out[name] = stub
    return out


def build_results(returned: Any, max_bytes: int, existing_attachments: dict | None = None,
                  serve_html: bool = False) -> tuple[dict, dict, str]:
    """Turn what a task sent into (results, _attachments, state).

    ``results`` is the returned dict without ``attachments``, plus
    ``attach_links: [{id, name}]`` for those with a ``link_name``.
    ``_attachments`` holds each attachment inline (base64) next to stubs for
    ones the document already had, so the whole outcome is one write.
    Files a browser would run script from (HTML, SVG, XML) are stored as
    text/plain unless ``serve_html``: CouchDB serves attachments from the web
    app's own origin. Raises BadResult with a reason a person understands.
    """
    if not isinstance(returned, dict):
        raise BadResult(f"the task sent back a {type(returned).__name__} ({_short(returned)}), "
                        "not a dict with a boolean 'success'")
    if not isinstance(returned.get("success"), bool):
        raise BadResult("the task's result has no boolean 'success' "
                        f"(it has {_short(returned.get('success', 'no success key'))})")
    results = {k: v for k, v in returned.items() if k != "attachments"}
    results = to_json_safe(results)
    attachments = stubs(existing_attachments)
    links = []
    raw = returned.get("attachments") or []
    if not isinstance(raw, list):
        raise BadResult("the task's 'attachments' must be a list of {filename, contents, link_name?}")
    taken = set(attachments)
    xml_files = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "filename" not in item or "contents" not in item:
            raise BadResult(f"attachments[{i}] is not a dict with 'filename' and 'contents'")
        name = attachment_name(item["filename"], taken)
        contents = item["contents"]
        if isinstance(contents, str):
            data = contents.encode("utf-8")
            ctype = _content_type(name, "text/plain", serve_html)
            if ctype.startswith("text/") and "charset" not in ctype:
                ctype += "; charset=utf-8"
        elif isinstance(contents, (bytes, bytearray)):
            data = bytes(contents)
            ctype = _content_type(name, "application/octet-stream", serve_html)
        else:
            raise BadResult(f"attachments[{i}] contents is a {type(contents).__name__}, not text or bytes")
        attachments[name] = {"content_type": ctype, "data": base64.b64encode(data).decode("ascii")}
        if name.lower().endswith(".xml"):
            xml_files.append((name, data))
        if item.get("link_name"):
            links.append({"id": name, "name": str(item["link_name"])})
    results["attach_links"] = links
    tests = junit.summarize(xml_files)        # JUnit XML reports: results.tests, unless the task set its own
    if tests is not None and "tests" not in results:
        results["tests"] = tests
    size = len(json.dumps(results, ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        raise BadResult(f"the task's result is {size:,} bytes of JSON, over the limit of {max_bytes:,} "
                        "(return big outputs as attachments instead)")
    state = TaskState.PASSED.value if returned["success"] else TaskState.FAILED.value
    return results, attachments, state


# Content types a browser runs script from: stored as text/plain unless the project opts in.
ACTIVE_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                        "text/xsl", "application/xslt+xml", "text/javascript", "application/javascript")


def _content_type(name: str, default: str, serve_html: bool = False) -> str:
    guessed, _ = mimetypes.guess_type(name)
    if guessed in ACTIVE_CONTENT_TYPES and not serve_html:
        return "text/plain"
    return guessed or default


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
