"""docs/documents.rst names every field dirt writes on a task, so the page cannot fall behind the code.

A real `dirt serve` runs tasks that end in every way a task can (passed,
failed, raised, timed out, returned something that is not a result or
nothing at all, named no
module, had a malformed `requires`, was cancelled while it ran, was skipped
because a task it runs after failed); then every
field on those documents, every key of their `attempts` entries and every
outcome must be named in the page's "Fields dirt writes" section, and a
cancelled running task must keep what the page says it keeps.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from dirt.errors import Conflict
from dirt_run import DirtServe, add_nodes, wait_for

PAGE = Path(__file__).resolve().parent.parent / "docs" / "documents.rst"
WRITTEN_BY_USERS = {"_id", "_rev", "type", "record_id", "name", "created", "platform", "requires", "kwargs",
                    "timeout", "max_attempts", "priority", "after"}
FINAL = ("passed", "failed", "error", "cancelled", "skipped")


def section(title: str) -> str:
    text = PAGE.read_text()
    start = text.index(f"\n{title}\n")
    following = re.search(r"\n[^\n]+\n[~=-]{4,}\n", text[start + len(title) + 2:])
    return text[start:start + len(title) + 2 + (following.start() if following else len(text))]


def named(text: str) -> set[str]:
    return set(re.findall(r"``([\w.]+)``", text))


def test_every_field_dirt_writes_is_documented(project, tmp_path):
    project.write_task("fails", "if __name__ == '__channelexec__':\n    channel.send({'success': False, 'reason': 'no'})\n")
    project.write_task("raises", "if __name__ == '__channelexec__':\n    raise ValueError('boom')\n")
    project.write_task("bad", "if __name__ == '__channelexec__':\n    channel.send(['not', 'a', 'dict'])\n")
    project.write_task("silent", "if __name__ == '__channelexec__':\n    pass\n")
    project.write_task("slow", "import time\nif __name__ == '__channelexec__':\n    time.sleep(60)\n"
                               "    channel.send({'success': True})\n")
    project.write_task("files", "if __name__ == '__channelexec__':\n    channel.send({'success': True, 'attachments': "
                                "[{'filename': 'a.txt', 'contents': 'a', 'link_name': 'A'}]})\n")
    add_nodes(project, "localhost")
    tasks = {
        "passed": project.add_task("files"),
        "failed": project.add_task("fails"),
        "raised": project.add_task("raises"),
        "timeout": project.add_task("slow", timeout=1),
        "bad_result": project.add_task("bad"),
        "no_result": project.add_task("silent"),
        "no_module": project.add_task("no.such.module"),
        "bad_requires": project.add_task("examples.simple", requires=["architecture == x86_64"]),
        "cancelled": project.add_task("slow"),
        "skipped": project.add_task("examples.simple", after=["fails"]),
    }
    with DirtServe(project.root, log_path=tmp_path / "serve.log") as serve:
        wait_for(lambda: project.task(tasks["cancelled"]).get("state") == "running", timeout=60,
                 what="the slow task to start")
        time.sleep(0.5)  # it runs on the node now
        while True:  # as a user would: read, set "cancelled", write (again if dirt wrote meanwhile)
            before = project.task(tasks["cancelled"])
            try:
                project.db.save(dict(before, state="cancelled"))
                break
            except Conflict:
                continue

        def all_final():
            current = {key: project.task(doc_id) for key, doc_id in tasks.items()}
            return current if all(doc.get("state") in FINAL for doc in current.values()) else None

        docs = wait_for(all_final, timeout=90, what="every task to finish")
        time.sleep(1)  # long enough for a stray write to the cancelled task to show
        docs["cancelled"] = project.task(tasks["cancelled"])
        serve.interrupt()
        serve.wait(30)

    fields_section = named(section("Fields dirt writes"))
    written = set().union(*(set(doc) for doc in docs.values())) - WRITTEN_BY_USERS
    assert written - fields_section == set(), "fields dirt writes that documents.rst does not name"
    attempt_keys = {key for doc in docs.values() for attempt in doc.get("attempts", []) for key in attempt}
    assert attempt_keys - fields_section == set(), "keys of attempts entries that documents.rst does not name"
    outcomes = {attempt["outcome"] for doc in docs.values() for attempt in doc.get("attempts", []) if "outcome" in attempt}
    assert outcomes - fields_section == set(), "outcomes that documents.rst does not name"
    assert {"traceback", "attempt", "lease"} <= fields_section

    # A cancelled running task: dirt stops it and records the end of that attempt, once.
    cancelled = docs["cancelled"]
    assert cancelled["state"] == "cancelled" and "results" not in cancelled and "lease" not in cancelled
    for key in ("node", "started", "attempt"):
        assert cancelled[key] == before[key], key
    last = cancelled["attempts"][-1]
    assert last["outcome"] == "cancelled" and last["ended"] >= before["started"] and cancelled["completed"]
    assert cancelled["reason"] == last["reason"]
    assert docs["skipped"]["reason"] == "fails failed" and "attempts" not in docs["skipped"]
    keeps = section("Task states")
    keeps = keeps[keeps.index("``cancelled``"):]
    for word in ("attempts", "ended", "outcome", "reason", "node", "started", "attempt", "completed", "lease",
                 "results"):
        assert f"``{word}``" in keeps, word
