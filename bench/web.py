#!/usr/bin/env python3
"""Web app benchmark: how fast the pages render over a big database, in headless Chromium.

One run starts its own pouchdb-server, pushes the web app of a fresh project
(`dirt create`), loads records and tasks with `_bulk_docs`, builds the views,
then times pages in Debian's headless Chromium and prints a table with the
target and PASS/FAIL of each figure. It stops every server it started.

    python bench/web.py             # 10,000 records, 100,000 tasks, a record with 1,000 (~10 min)
    python bench/web.py --quick     # 1,000 records, 10,000 tasks, a record with 1,000 (~1-2 min)

Figures (see bench/README.md):

1. load: storing the documents, 1,000 per `_bulk_docs` request (info).
2. view build: the first query of each of the app's views after the load;
   pouchdb-server builds each view on its own, Apache CouchDB builds all the
   views of a design document in one pass (info).
3. overview: the first page of index.html, from navigation start until the
   page has drawn its data (records, counts, bars, summary) and the browser
   has painted. The first load (empty browser cache) and the median of the
   next loads. Target: under 1 s once the views are built.
4. big record: record.html of the record with 1,000 tasks, measured the same
   way. Target: under 2 s.
5. CI pages, each under 1 s: the overview filtered by branch (main), the
   branches page, a task's trend page (test.unit: charts of its last 200 runs
   and the newest 50 listed) and the flaky tasks (from the newest 2,000 runs).
6. also measured (info): an overview page deep in the past (keyset paging),
   other filters (a feature branch with failures, a task name that failed,
   running tasks), a trend over 1,000 runs, a test's history, the nodes and
   waiting pages, and the task names (the newest runs, and every name ever).
7. task logs (log.html): a finished task's 5 MiB log (its attached file,
   about 100,000 coloured lines), target under 1 s; and (info) a running
   task's 4 MiB log from 1,000 chunk documents, searching the 5 MiB log,
   finding its first error, and how soon a new chunk's lines show on a page
   that follows the log. ``--logs-only`` measures these alone (~30 s).

Exit status is 0 whether or not targets are met: this is a measurement.
"""
from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "web"))

import httpx  # noqa: E402

from servers import PouchServer  # noqa: E402  (tests/servers.py)
from logdocs import build_log, chunk_id, finish_attempt, running_task  # noqa: E402  (tests/web/logdocs.py)
from webtools import Browser, push_app  # noqa: E402  (tests/web/webtools.py)

from dirt.couch import Database  # noqa: E402
from dirt.create import create_project  # noqa: E402

OVERVIEW_TARGET = 1.0
LOG_TARGET = 1.0
LOG_BYTES = 5 * 1024 * 1024
BIG_RECORD_TARGET = 2.0
BATCH = 1000
TASK_NAMES = ["build.linux", "build.osx", "test.unit", "test.integration", "lint", "docs", "package",
              "bench.cpu", "bench.io", "deploy.staging"]
NODES = [f"node{i}" for i in range(1, 9)]
LOG = base64.b64encode(b"compiling...\nlinking...\ndone\n").decode()


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


BRANCHES = ["main"] * 12 + ["release/2.x"] * 2 + [f"feature/{w}" for w in
                                                   ("arm", "parser", "docs", "cache", "io", "ui")]
AUTHORS = ["ann", "bob", "chen", "dara"]
FLAKY = "test.integration"        # fails now and then, whatever the commit
TESTED = ("test.unit", "test.integration")


def make_docs(records: int, tasks: int, big: int, seed: int = 7):
    """Records, tasks and nodes like a busy CI project's; yields lists of BATCH documents.

    Records are on branches (mostly main), by four authors, each with a sha
    (now and then built twice). A task fails while its branch is broken for
    it (a breakage lasts a few records), except test.integration, which is
    flaky. The test tasks carry JUnit-style test counts. The newest record
    has ``big`` tasks; the newest records still have running and waiting ones.
    """
    rng = random.Random(seed)
    start = time.time() - records * 600
    batch: list[dict] = []

    def add(doc):
        batch.append(doc)
        if len(batch) == BATCH:
            out = list(batch)
            batch.clear()
            return out
        return None

    for i, name in enumerate(NODES):
        add({"_id": f"node:{name}", "type": "node", "name": name, "fqdn": f"{name}.example.org",
             "enabled": i != 7, "status": "down" if i == 6 else "up",
             "down_reason": "ssh: connect to host node7.example.org port 22: Connection refused" if i == 6 else None,
             "last_seen": time.time() - 30, "sys_info": {
                 "cpu_count": 8, "platform": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36", "sys_platform": "linux",
                 "architecture": "x86_64", "version_info": "3.11.2.final.0", "hostname": name}})
    big_id = f"r{records - 1:05d}"
    running = [6 * 8 - 6]          # free slots left on the six enabled, up nodes
    rest = tasks - big
    per_record = rest / (records - 1)
    assigned = 0
    broken: dict[str, dict[str, int]] = {}     # branch -> task name -> records it stays broken
    last_sha: dict[str, str] = {}
    for r in range(records):
        rid = f"r{r:05d}"
        created = start + r * 600
        branch = rng.choice(BRANCHES)
        sha = last_sha[branch] if branch in last_sha and rng.random() < 0.03 else "%040x" % rng.getrandbits(160)
        last_sha[branch] = sha
        state = broken.setdefault(branch, {})
        for name in list(state):
            state[name] -= 1
            if state[name] <= 0:
                del state[name]
        if rng.random() < 0.04:
            state[rng.choice(TASK_NAMES[:6])] = rng.randint(2, 8)
        out = add({"_id": rid, "type": "record", "description": f"revision {r}: {rng.choice(WORDS)}",
                   "created": created, "branch": branch, "author": rng.choice(AUTHORS), "sha": sha})
        if out:
            yield out
        n = big if rid == big_id else int((r + 1) * per_record) - assigned
        if rid != big_id:
            assigned += n
        recent = r >= records - 3
        for t in range(n):
            out = add(task_doc(rng, rid, t, created, recent, running, state))
            if out:
                yield out
    if batch:
        yield list(batch)


WORDS = ["faster scheduler", "fix leak in parser", "new ARM builds", "update docs", "refactor runner",
         "bump dependencies", "add sparc64 target", "retry flaky test", "speed up I/O", "clean up logging"]


def task_doc(rng: random.Random, rid: str, t: int, created: float, recent: bool, running: list[int],
             broken: dict[str, int]) -> dict:
    base = TASK_NAMES[t % len(TASK_NAMES)]
    name = base if t < len(TASK_NAMES) else f"{base}.{t}"
    doc = {"_id": f"{rid}-t{t:04d}", "type": "task", "record_id": rid, "name": name, "created": created}
    if base == "build.linux":
        doc["kwargs"] = {"compiler": "gcc" if int(rid[1:]) % 2 else "clang"}
    roll = rng.random()
    if recent and roll < 0.3:
        doc.update(state="waiting", reason=rng.choice([
            "", "no enabled node can run it: node1: architecture is 'x86_64' (requires architecture is sparc64)"]))
        return doc
    if recent and roll < 0.4:
        if running[0] > 0:
            running[0] -= 1
            doc.update(state="running", node=NODES[running[0] % 6], started=time.time() - rng.uniform(1, 300))
        else:
            doc.update(state="waiting")
        return doc
    started = created + rng.uniform(1, 60)
    took = rng.lognormvariate(3, 1)
    fails = name in broken or (name == FLAKY and rng.random() < 0.2)
    state = "error" if rng.random() < 0.01 else ("failed" if fails else "passed")
    doc.update(state=state, node=rng.choice(NODES[:6]), started=started, completed=started + took,
               attempts=[{"attempt": 1, "node": "node1", "started": started, "ended": started + took,
                          "outcome": state}])
    if state == "error":
        doc["reason"] = "gave up after 3 attempts lost their node or server; last: node node3 was lost"
        doc["results"] = {"success": False, "reason": doc["reason"]}
    else:
        doc["results"] = {"success": state == "passed", "warnings": rng.randint(0, 5), "attach_links": []}
        if name in TESTED:
            total = 400 if name == "test.unit" else 60
            failures = [{"test": f"tests.test_{name.split('.')[1]}.test_case_{rng.randint(1, 6)}",
                         "kind": "failure", "message": "AssertionError: expected 200, got 503", "detail": ""}
                        ] if state == "failed" else []
            doc["results"]["tests"] = {"total": total, "passed": total - len(failures) - 3, "failed": len(failures),
                                       "errors": 0, "skipped": 3, "time": took, "failures": failures,
                                       "files": ["junit.xml"]}
        if state == "failed":
            doc["reason"] = doc["results"]["reason"] = "1 test failed" if name in TESTED else "exit status 2"
    if t % 10 == 0:
        doc["_attachments"] = {"build.log": {"content_type": "text/plain; charset=utf-8", "data": LOG}}
        doc["results"]["attach_links"] = [{"id": "build.log", "name": "Build log"}]
    return doc


class WebBench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="dirt-webbench-"))
        self.pouch: PouchServer | None = None
        self.browser: Browser | None = None
        self.rows: list[tuple[str, str, str, str]] = []

    def run(self) -> None:
        args = self.args
        say("starting pouchdb-server")
        self.pouch = PouchServer(self.tmp / "pouchdb").start()
        root = create_project(self.tmp / "proj", "bench")
        db_url = f"{self.pouch.url}/bench"
        app = push_app(root / "web", db_url)
        http = httpx.Client(timeout=600)
        if args.logs_only:
            say("starting Chromium")
            self.browser = Browser(Path(args.screenshots or self.tmp))
            self.logs(app, db_url)
            return

        say(f"loading {args.records:,} records and {args.tasks:,} tasks ({args.big:,} on the newest record)")
        t0 = time.monotonic()
        count = 0
        for batch in make_docs(args.records, args.tasks, args.big):
            answer = http.post(f"{db_url}/_bulk_docs", json={"docs": batch})
            answer.raise_for_status()
            bad = [r for r in answer.json() if not r.get("ok")]
            assert not bad, bad[:3]
            count += len(batch)
        load = time.monotonic() - t0
        self.rows.append(("load", f"{count:,} docs in {load:.1f} s ({count / load:,.0f} docs/s)", "", "info"))

        views = sorted(http.get(f"{db_url}/_design/proj").json()["views"])
        total = 0.0
        for name in views:
            say(f"building view {name}")
            t0 = time.monotonic()
            http.get(f"{app}_view/{name}", params={"limit": 1, "reduce": "false"}).raise_for_status()
            took = time.monotonic() - t0
            total += took
            self.rows.append((f"view build: {name}", f"{took:.1f} s", "", "info"))
        self.rows.append(("view build: all views", f"{total:.1f} s", "", "info"))

        say("starting Chromium")
        self.browser = Browser(Path(args.screenshots or self.tmp))
        big_id = f"r{args.records - 1:05d}"
        self.page("overview, first page", app + "index.html", OVERVIEW_TARGET,
                  check=lambda: len(self.browser.texts("#records tbody tr")) == 25, shot="bench-overview")
        self.page(f"record with {args.big:,} tasks", app + f"record.html?id={big_id}", BIG_RECORD_TARGET,
                  check=lambda: len(self.browser.texts("#tasks tbody tr.task")) == args.big, shot="bench-record")
        middle = args.records // 2
        after = http.get(f"{db_url}/r{middle:05d}").json()["created"]
        self.page(f"overview, the page after record {middle:,}",
                  app + "index.html?after=" + quote(json.dumps([after, f"r{middle:05d}"]), safe=""), None,
                  check=lambda: len(self.browser.texts("#records tbody tr")) == 25)
        b = self.browser
        self.page("overview, branch main", app + "index.html?branch=main", OVERVIEW_TARGET,
                  check=lambda: len(b.texts("#records tbody tr")) == 25, shot="bench-overview-main")
        self.page("overview, branch release/2.x and a task failed",
                  app + "index.html?" + urlencode({"branch": "release/2.x", "state": "failed"}), None,
                  check=lambda: b.texts("#records tbody tr"))
        self.page("overview, records where test.integration failed",
                  app + "index.html?" + urlencode({"task": FLAKY, "state": "failed"}), None,
                  check=lambda: b.texts("#records tbody tr"))
        self.page("overview, a task is running", app + "index.html?state=running", None,
                  check=lambda: b.texts("#records tbody tr"))
        self.page("branches", app + "branches.html", OVERVIEW_TARGET,
                  check=lambda: len(b.texts("#branches tbody tr")) == len(set(BRANCHES)), shot="bench-branches")
        runs = args.tasks // len(TASK_NAMES)
        self.page(f"trend: test.unit, last 200 of {runs:,}+ runs", app + "task.html?name=test.unit", OVERVIEW_TARGET,
                  check=lambda: len(b.texts("#runs tbody tr")) == 50, shot="bench-task-history")
        self.page("trend: build.linux, last 1,000 runs (two variants)",
                  app + "task.html?name=build.linux&runs=1000", None,
                  check=lambda: len(b.texts("#variants .chip")) == 3)
        self.page("flaky tasks (newest 2,000 runs)", app + "flaky.html", OVERVIEW_TARGET,
                  check=lambda: FLAKY in b.text("#flaky"), shot="bench-flaky")
        self.page("test history (test.unit, one test)",
                  app + "test.html?" + urlencode({"task": "test.unit", "test": "tests.test_unit.test_case_1"}), None,
                  check=lambda: b.texts("#test-runs tbody tr"))
        self.page("nodes", app + "nodes.html", None, check=lambda: len(b.texts("#nodes tbody tr")) == 8,
                  shot="bench-nodes")
        self.page("waiting", app + "waiting.html", None, check=lambda: b.texts("#groups .group"),
                  shot="bench-waiting")
        self.page("task names (newest 2,000 runs)", app + "task.html", None,
                  check=lambda: b.texts("#names tbody tr"))
        self.page("every task name (group_level=1 over every task)", app + "task.html?all=1", None,
                  check=lambda: b.texts("#names tbody tr"), repeat=1)
        self.logs(app, db_url)

    def logs(self, app: str, db_url: str) -> None:
        """The log page: a finished 5 MiB log, a running 4 MiB one in chunks, search, first error, live lines."""
        b = self.browser
        db = Database.from_url(db_url)
        lines = LOG_BYTES // 52
        text, marks = build_log(lines)
        while len(text.encode()) < LOG_BYTES:          # top up to exactly 5 MiB or just over
            lines += 1000
            text, marks = build_log(lines)
        say(f"storing a finished task with a {len(text) / 1024 / 1024:.1f} MiB log ({lines:,} lines)")
        running_task(db, "bench-log", record_id="bench-logs", name="build.big")
        finish_attempt(db, "bench-log", text, state="failed", results={"success": False})
        mib = len(text.encode()) / 1024 / 1024
        self.page(f"log of {mib:.1f} MiB ({lines:,} lines), finished: its file", app + "log.html?task=bench-log",
                  LOG_TARGET, check=lambda: b.js("return document.body.getAttribute('data-log')") == f"file:{lines}",
                  shot="bench-log")

        took = b.js("""
            var view = document.getElementById('log-search'), t0 = performance.now();
            view.value = 'needle';
            view.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
            var t1 = performance.now();
            document.getElementById('log-first-error').click();
            return [t1 - t0, performance.now() - t1, document.getElementById('log-search-count').textContent];""")
        assert took[2].endswith("3 lines"), took
        self.rows.append(("log: search the 5 MiB log (first time, then cached)", f"{took[0]:,.0f} ms", "", "info"))
        self.rows.append(("log: jump to its first error (line %s)" % f"{marks['error']:,}", f"{took[1]:,.0f} ms", "",
                          "info"))

        say("storing a running task's 4 MiB log as 1,000 chunk documents")
        running_task(db, "bench-live", record_id="bench-logs", name="build.live")
        per = 80
        t0 = time.time() - 1800
        docs = []
        for seq in range(1, 1001):
            first = (seq - 1) * per + 1
            docs.append({"_id": chunk_id("bench-live", 1, seq), "type": "log", "task_id": "bench-live",
                         "record_id": "bench-logs", "attempt": 1, "seq": seq, "node": "node1", "first_line": first,
                         "tail": False, "lines": [[t0 + seq * 1.8, f"[{n:6d}] \x1b[32mok\x1b[0m compiling module_"
                                                                  f"{n % 977}.c -O2 -g"] for n in range(first, first + per)]})
        for start in range(0, len(docs), 200):
            db.bulk_docs(docs[start:start + 200])
        total = per * 1000
        self.page(f"log while running: {total:,} lines in 1,000 chunk documents", app + "log.html?task=bench-live",
                  None, check=lambda: b.js("return document.body.getAttribute('data-log')") == f"chunks:{total}")

        say("timing new lines on a page that follows the log")
        waits = []
        for seq in range(1001, 1006):
            first = (seq - 1) * per + 1
            doc = {"_id": chunk_id("bench-live", 1, seq), "type": "log", "task_id": "bench-live",
                   "record_id": "bench-logs", "attempt": 1, "seq": seq, "node": "node1", "first_line": first,
                   "tail": False, "lines": [[time.time(), f"new line {first}"]]}
            start = time.monotonic()
            db.save(doc)
            b.wait(f"return !!document.querySelector('#log-view .log-row[data-line=\"{first}\"]')", timeout=30,
                   what="the new line")
            waits.append(time.monotonic() - start)
        self.rows.append(("log: a new chunk's lines on screen (page polls every 1.5 s)",
                          f"median {statistics.median(waits) * 1000:,.0f} ms, max {max(waits) * 1000:,.0f} ms of 5",
                          "", "info"))

    def render_time(self, url: str) -> float:
        """Seconds from navigation start until the page drew its data and the browser painted it."""
        b = self.browser
        b.open(url, timeout=600)
        painted = b.driver.execute_async_script("""
            var done = arguments[arguments.length - 1];
            requestAnimationFrame(function () { setTimeout(function () { done(performance.now()); }, 0); });
        """)
        first = float(b.js("return document.body.getAttribute('data-first-render-ms')"))
        return max(painted, first) / 1000.0

    def page(self, label: str, url: str, target: float | None, check, shot: str | None = None,
             repeat: int | None = None) -> None:
        say(f"timing {label}")
        first = self.render_time(url)
        assert check(), f"{label}: the page does not show what was expected"
        if shot and self.args.screenshots:
            self.browser.screenshot(shot, max_height=1600)
        again = [self.render_time(url) for _ in range(self.args.repeat if repeat is None else repeat)]
        median = statistics.median(again)
        value = f"first {first * 1000:,.0f} ms, then median {median * 1000:,.0f} ms of {len(again)}"
        if target is None:
            self.rows.append((label, value, "", "info"))
        else:
            verdict = "PASS" if max(first, median) < target else "FAIL"
            self.rows.append((label, value, f"< {target:g} s", verdict))

    def stop(self) -> None:
        if self.browser:
            self.browser.close()
        if self.pouch:
            self.pouch.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def report(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        vwidth = max(len(r[1]) for r in self.rows)
        print()
        print(f"{'figure':<{width}}  {'value':<{vwidth}}  {'target':<8}  result")
        for label, value, target, verdict in self.rows:
            print(f"{label:<{width}}  {value:<{vwidth}}  {target:<8}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000, help="tasks of the newest record")
    parser.add_argument("--repeat", type=int, default=5, help="loads of each page after the first")
    parser.add_argument("--quick", action="store_true", help="1,000 records and 10,000 tasks")
    parser.add_argument("--screenshots", metavar="DIR", help="save a screenshot of each page there")
    parser.add_argument("--logs-only", action="store_true", help="only the log page's figures (no big database)")
    args = parser.parse_args()
    if args.quick:
        args.records, args.tasks = 1_000, 10_000
    bench = WebBench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        bench.run()
    finally:
        bench.stop()
        if bench.rows:
            bench.report()


if __name__ == "__main__":
    main()
