"""Storing a record and its tasks: what ``dirt submit`` (and a post-commit hook) does.

A :class:`Submission` is one record and the tasks to run for it, built from
command-line options (:func:`from_options`), from a JSON or YAML file
(:func:`from_file`: ``{"record": {...}, "tasks": [...]}``, the 2012
``{"docs": [...]}`` form, or a bare list of documents), with the record's
fields read from git when asked (:func:`git_fields`). :func:`store` writes it.

Storing is safe to repeat: a task's id comes from its record, name and
variant (``r124-examples.simple``; with kwargs, platform or requires, a
short hash of them follows), so storing the same record with the same tasks
again adds nothing; the record gets the fields given (it is "updated" only if
one changed). ``again`` stores new copies of tasks that exist (with ids of
their own), for when that is what is wanted; to run a finished task again,
``dirt rerun`` keeps its history instead.

Everything is checked before anything is written (task fields by the same
rules as ``validate_doc_update``, task names against the project's tasks/
directory when there is one), so a mistake loses nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

from .couch import Database
from .errors import DirtError
from .taskdoc import parse_task

# What a record field may be given as on the command line (--field KEY=VALUE): strings.
RECORD_STRING_FIELDS = ("description", "branch", "author", "sha", "commit", "repository", "changeset_url")


class SubmitError(DirtError):
    """The record or tasks to store are not right; nothing was written."""

    exit_code = 2


@dataclass
class Submission:
    """One record (a document with ``_id``) and its tasks (documents without ``_id`` get one)."""

    record: dict
    tasks: list[dict] = field(default_factory=list)


@dataclass
class Stored:
    """What happened to one document: ``status`` is stored, updated, unchanged, exists or refused."""

    doc_id: str
    kind: str            # "record" or "task"
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "refused"


# -- building ----------------------------------------------------------------------------------

def parse_kwarg(text: str) -> tuple[str, Any]:
    """``key=value`` from --kwarg: the value as JSON if it parses (``n=3``, ``ok=true``), else the text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SubmitError(f"--kwarg {text!r} is not KEY=VALUE (e.g. --kwarg compiler=gcc)")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def from_options(record_id: str, names: list[str], *, description: str | None = None,
                 kwargs: dict | None = None, platform: str | None = None, requires: list[str] | None = None,
                 fields: Mapping[str, Any] | None = None, task_fields: Mapping[str, Any] | None = None) -> Submission:
    """A record and one task per name in ``names``, all with the same kwargs, platform and requires."""
    if not record_id:
        raise SubmitError("give the record's id (e.g. the commit's sha), or --git to take it from git")
    record: dict[str, Any] = {"_id": record_id, "type": "record", **(fields or {})}
    if description is not None:
        record["description"] = description
    tasks = []
    for name in names:
        task: dict[str, Any] = {"type": "task", "name": name, **(task_fields or {})}
        if kwargs:
            task["kwargs"] = kwargs
        if platform:
            task["platform"] = platform
        if requires:
            task["requires"] = list(requires)
        tasks.append(task)
    return Submission(record, tasks)


def from_file(path: Path) -> Submission:
    """A submission from a JSON or YAML file (by its suffix: .yaml/.yml is YAML, else JSON)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SubmitError(f"cannot read {path}: {exc.strerror or exc}") from None
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SubmitError(f"{path} is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SubmitError(f"{path} is not valid JSON: {exc}") from None
    return from_data(data, str(path))


def from_data(data: Any, where: str = "the submission") -> Submission:
    """A submission from ``{"record": {...}, "tasks": [...]}``, ``{"docs": [...]}`` or a list of documents."""
    if isinstance(data, dict) and "record" in data:
        record, tasks = data["record"], data.get("tasks") or []
        if not isinstance(record, dict):
            raise SubmitError(f"{where}: record must be an object (a record document)")
        if not isinstance(tasks, list):
            raise SubmitError(f"{where}: tasks must be a list of task documents (or of task names)")
        record = {"type": "record", **record}
        tasks = [{"type": "task", "name": t} if isinstance(t, str) else t for t in tasks]
    else:
        docs = data.get("docs") if isinstance(data, dict) else data
        if not isinstance(docs, list):
            raise SubmitError(f'{where}: expected {{"record": {{...}}, "tasks": [...]}}, {{"docs": [...]}} '
                              "or a list of documents")
        records = [d for d in docs if isinstance(d, dict) and d.get("type") == "record"]
        tasks = [d for d in docs if isinstance(d, dict) and d.get("type") == "task"]
        others = [d for d in docs if d not in records and d not in tasks]
        if len(records) != 1 or others:
            raise SubmitError(f"{where}: expected one record and its tasks (documents with type record and "
                              f"task); found {len(records)} records and {len(others)} other entries")
        record = records[0]
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise SubmitError(f"{where}: task {i + 1} is not an object (a task document) or a task name")
    if not isinstance(record.get("_id"), str) or not record["_id"]:
        raise SubmitError(f"{where}: the record needs an _id (a string: the commit's sha, the file's name)")
    return Submission(dict(record), [dict(t) for t in tasks])


def git_fields(repo: Path | str = ".", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The record fields of git's HEAD in ``repo``: ``_id`` and ``sha`` (the commit), ``description``
    (its subject), ``author``, ``branch`` and ``repository`` (the remote "origin", without any login).

    ``DIRT_REVISION``, ``DIRT_SUBJECT`` and ``DIRT_REPOSITORY`` in the environment win.
    """
    env = os.environ if environ is None else environ

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SubmitError(f"cannot run git in {repo}: {exc}") from None
        if done.returncode != 0:
            raise SubmitError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip() or done.returncode}")
        return done.stdout.strip()

    sha = env.get("DIRT_REVISION") or git("rev-parse", "HEAD")
    fields = {"_id": sha, "sha": sha,
              "description": env.get("DIRT_SUBJECT") or git("log", "-1", "--format=%s", sha),
              "author": git("log", "-1", "--format=%an", sha),
              "branch": git("rev-parse", "--abbrev-ref", "HEAD")}
    repository = env.get("DIRT_REPOSITORY")
    if not repository:
        try:
            repository = git("remote", "get-url", "origin")
        except SubmitError:
            repository = ""
    if repository:
        fields["repository"] = without_login(repository)
    return fields


def without_login(url: str) -> str:
    """A repository URL without any user and password in it (so neither is stored)."""
    parts = urlsplit(url)
    if not parts.scheme or parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def task_id(record_id: str, task: Mapping[str, Any]) -> str:
    """The id a task gets when none is given: ``RECORD-NAME``, plus a hash of its variant if it has one."""
    variant = {k: task.get(k) for k in ("platform", "kwargs", "requires") if task.get(k) not in (None, {}, [])}
    base = f"{record_id}-{task.get('name')}"
    if not variant:
        return base
    digest = hashlib.sha1(json.dumps(variant, sort_keys=True).encode("utf-8")).hexdigest()[:8]
    return f"{base}-{digest}"


def prepare(submission: Submission, now: float, problem_of: Callable[[str], str | None] | None = None) -> Submission:
    """The documents to write: ids, ``created`` and ``record_id`` filled in, every task checked.

    ``problem_of(name)`` says why a task name is not one of the project's
    tasks (None if it is). Raises SubmitError listing every problem.
    """
    record = {"type": "record", **submission.record}
    record.setdefault("created", now)
    record_id = record["_id"]
    problems = []
    if record.get("type") != "record":
        problems.append(f"the record's type must be \"record\", not {record.get('type')!r}")
    for key in RECORD_STRING_FIELDS:
        if key in record and not isinstance(record[key], str):
            problems.append(f"record {record_id}: {key} must be a string")
    if not submission.tasks:
        problems.append("no tasks: name at least one with --task NAME (or list them in the file)")
    tasks, seen = [], set()
    for task in submission.tasks:
        doc = {"type": "task", **task, "record_id": task.get("record_id", record_id)}
        doc.setdefault("created", now)
        if doc["record_id"] != record_id:
            problems.append(f"task {doc.get('name')!r} belongs to record {doc['record_id']!r}, not {record_id!r}")
        doc.setdefault("_id", task_id(record_id, doc))
        parsed = parse_task(doc)
        if parsed.problem:
            problems.append(f"task {doc['_id']}: {parsed.problem}")
        elif problem_of is not None and problem_of(parsed.name or ""):
            problems.append(f"task {doc['_id']}: {problem_of(parsed.name or '')}")
        own = [k for k in ("state", "results", "lease", "attempts", "node", "started", "completed")
               if k in doc and not (k == "state" and doc[k] == "waiting")]
        if own:
            problems.append(f"task {doc['_id']}: {', '.join(own)} are written by dirt serve, not by a submission")
        if doc["_id"] in seen:
            problems.append(f"task {doc['_id']} is given twice")
        seen.add(doc["_id"])
        tasks.append(doc)
    if problems:
        raise SubmitError("nothing was stored:\n  " + "\n  ".join(problems))
    return Submission(record, tasks)


# -- writing ------------------------------------------------------------------------------------

def store(db: Database, submission: Submission, *, again: bool = False, now: float | None = None,
          problem_of: Callable[[str], str | None] | None = None) -> list[Stored]:
    """Write the record and its tasks; what happened to each (see :class:`Stored`)."""
    ready = prepare(submission, time.time() if now is None else now, problem_of)
    record, tasks = ready.record, ready.tasks
    ids = [record["_id"]] + [t["_id"] for t in tasks]
    existing = db.docs_by_id(ids)
    writes: list[dict] = []
    results: list[Stored] = []
    current = existing.get(record["_id"])
    if current is None:
        writes.append(record)
    else:
        given = {k: v for k, v in record.items() if k not in ("created", "_id")}
        if any(current.get(k) != v for k, v in given.items()):
            writes.append({**current, **given})
        else:
            results.append(Stored(record["_id"], "record", "unchanged"))
    for task in tasks:
        known = existing.get(task["_id"])
        if known is None:
            writes.append(task)
        elif again:
            writes.append({**task, "_id": f"{task['_id']}-{uuid.uuid4().hex[:6]}"})
        else:
            results.append(Stored(task["_id"], "task", "exists", f"{parse_task(known).state}; "
                                  "`dirt rerun` runs it again, --again stores a copy"))
    if writes:
        answers = db.bulk_docs(writes)
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        for doc in writes:
            answer = by_id.get(doc["_id"], {})
            kind = doc.get("type", "document")
            if "rev" in answer and "error" not in answer:
                results.append(Stored(doc["_id"], kind, "updated" if "_rev" in doc else "stored"))
            elif answer.get("error") == "conflict":
                results.append(Stored(doc["_id"], kind, "exists", "stored meanwhile by someone else"))
            else:
                results.append(Stored(doc["_id"], kind, "refused",
                                      answer.get("reason") or answer.get("error") or "no answer for it"))
    order = {doc_id: i for i, doc_id in enumerate(ids)}
    return sorted(results, key=lambda s: order.get(s.doc_id, len(order)))
