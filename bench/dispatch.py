#!/usr/bin/env python3
"""Dispatch benchmark for dirt: the real path, start latency, start-up with history, SSH.

Everything is measured as a user runs it: ``dirt serve`` as a process (the CLI),
one node ``localhost`` with its cpu_count slots, tasks POSTed with
``_bulk_docs``. One run starts its own servers (pouchdb-server, and Apache
CouchDB 3.5 from ../shared/couchdb where it exists), measures dirt against a
baseline measured in the same run on the same server, prints one table, and
stops everything it started.

    python bench/dispatch.py                       # 1,000 tasks; history of 50,000 and 500,000 tasks
    python bench/dispatch.py --quick               # small numbers (a smoke run, a minute or two)
    python bench/dispatch.py --history 50000       # only that history size
    python bench/dispatch.py --dirt /path/to/old   # measure another checkout's dirt (before/after)

Figures, per server (see bench/README.md):

1. throughput: N no-op tasks inserted with one ``_bulk_docs`` into a database
   whose only node is ``localhost``; timed from just before the insert to the
   last ``completed`` time written. Floor: the same module run N times by raw
   execnet over cpu_count already-open popen gateways, each result written
   back with one PUT. Target: dirt <= 1.3 x floor.
2. start latency: single tasks PUT one at a time to a running ``dirt serve``
   whose node is connected and idle; the task's own ``time.time()`` at its
   start minus the time the PUT returned (the document is written). Target:
   median <= 10 ms. Shown too: the same counting the PUT itself.
3. start-up: a database holding H finished tasks (H = 50,000 and 500,000).
   ``dirt serve`` is started once (the first run on that database: it reads
   the history, and builds dirt's view in the background; both costs are
   shown), stopped once the view is built, then started again, and a task is
   written as it starts: the time from starting the process to that task
   starting. Target: <= 1 s.
   The server's memory (RSS) once idle is shown for each H.
4. printing: the throughput run again with tasks that print 100 lines each,
   against the no-op run on the same server. Target: <= 1.05x. And long
   tasks printing a line every 10 ms: how many log writes reach the
   database per running task per second. Target: <= 1.
5. ssh: per-task cost of a fresh SSH gateway per task (the 2012 original)
   against dirt's on one kept connection. Target: dirt >= 10x cheaper.

Exit status is 0 whether or not targets are met: this is a measurement.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import execnet  # noqa: E402
import httpx  # noqa: E402

from servers import PouchServer, SshHost  # noqa: E402  (tests/servers.py)

from dirt.create import create_project  # noqa: E402
from dirt.nodes import gateway_spec  # noqa: E402
from dirt.runner import NodeConnection, Shipment  # noqa: E402
from dirt.settings import load_project  # noqa: E402

TASK_NAME = "bench_noop"
COUCHDB3 = REPO.parent / "shared" / "couchdb" / "couchdb-server"

# The no-op task: records when it started, sends success. Also what the
# floor and the 2012-style SSH baseline run, byte for byte.
NOOP = """\
import time
_t_start = time.time()
if __name__ == '__channelexec__':
    channel.send({"success": True, "t_start": _t_start})
"""

# The same, printing 100 lines (what a build or test runner does, in miniature).
PRINTER = """\
import time
_t_start = time.time()
if __name__ == '__channelexec__':
    for i in range(100):
        print('output line %d of a task that talks' % i)
    channel.send({"success": True, "t_start": _t_start})
"""
# Prints a line every 10 ms for `seconds`: what a long, chatty build streams.
CHATTY = """\
import time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    end = time.time() + kwargs['seconds']
    while time.time() < end:
        print('still building %.3f' % time.time(), flush=True)
        time.sleep(0.01)
    channel.send({"success": True})
"""

THROUGHPUT_TARGET = 1.3     # dirt time <= this x floor time
LATENCY_TARGET = 0.010      # median seconds from write to task start
STARTUP_TARGET = 1.0        # seconds from `dirt serve` starting to a new task starting
PRINTING_TARGET = 1.05     # tasks printing 100 lines: <= this x dirt's own no-op time
WRITES_TARGET = 1.0        # log writes per running task per second
SSH_TARGET = 10.0           # fresh-gateway per-task cost >= this x dirt's
FINAL = ("passed", "failed", "error", "cancelled", "skipped")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(roots: list[int], descend: bool = True) -> float:
    """CPU seconds used so far by these processes and (``descend``) everything they
    started, alive or reaped; without ``descend``, the processes' own time only."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based from state
        stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15 if descend else 13]) / ticks)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        if descend:
            todo += children.get(pid, [])
    return total


class CouchDB3:
    """Apache CouchDB 3.5 from ../shared/couchdb, single node, with an admin."""

    admin = ("admin", "bench-pw")

    def __init__(self, workdir: Path):
        self.workdir = workdir
        import random
        self.port = random.randrange(15000, 25000)     # CouchDB also takes PORT+10000 and PORT+20000
        while any(not _port_free(self.port + k) for k in (0, 10000, 20000)):
            self.port = random.randrange(15000, 25000)
        self.url = ""

    def start(self) -> "CouchDB3":
        done = subprocess.run([str(COUCHDB3), "start", "--dir", str(self.workdir), "--port", str(self.port),
                               "--admin", ":".join(self.admin)], capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"couchdb-server start failed: {done.stderr[-2000:]}")
        self.url = done.stdout.strip().splitlines()[-1]
        return self

    def stop(self) -> None:
        subprocess.run([str(COUCHDB3), "stop", "--dir", str(self.workdir)], capture_output=True, timeout=120)

    def pids(self) -> list[int]:
        """The server's processes (found by their data directory on their command line)."""
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if str(self.workdir).encode() in f.read():
                        found.append(int(entry))
            except (OSError, ValueError):
                continue
        return found


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Backend:
    """One CouchDB-API server under test: its name, URL with credentials, a client."""

    def __init__(self, name: str, server, base: str, auth: tuple[str, str] | None):
        self.name, self.server, self.base, self.auth = name, server, base, auth
        self.client = httpx.Client(auth=auth, timeout=httpx.Timeout(600, connect=10),
                                   headers={"Content-Type": "application/json"},
                                   limits=httpx.Limits(max_keepalive_connections=32, max_connections=64))

    @property
    def url(self) -> str:
        """The server's URL with its credentials, for dirt's settings (never printed)."""
        if not self.auth:
            return self.base
        return self.base.replace("://", f"://{self.auth[0]}:{self.auth[1]}@", 1)

    def pids(self) -> list[int]:
        """The database server's processes, for its CPU time."""
        if hasattr(self.server, "pids"):
            return self.server.pids()
        proc = getattr(self.server, "proc", None)
        return [proc.pid] if proc is not None else []

    def new_db(self, what: str) -> str:
        name = f"bench-{what}-{uuid.uuid4().hex[:8]}"
        self.client.put(f"{self.base}/{name}").raise_for_status()
        self.client.put(f"{self.base}/{name}/r1", content=dumps(
            {"type": "record", "description": "benchmark record", "created": time.time()})).raise_for_status()
        return name

    def bulk(self, db: str, docs: list[dict]) -> list[dict]:
        resp = self.client.post(f"{self.base}/{db}/_bulk_docs", content=dumps({"docs": docs}),
                                headers={"Content-Type": "application/json"})
        resp.raise_for_status()
        return resp.json()

    def fetch(self, db: str, ids: list[str]) -> list[dict]:
        resp = self.client.post(f"{self.base}/{db}/_all_docs", params={"include_docs": "true"},
                                content=dumps({"keys": ids}), headers={"Content-Type": "application/json"})
        resp.raise_for_status()
        return [row.get("doc") or {} for row in resp.json()["rows"]]

    def get(self, db: str, doc_id: str) -> dict:
        return self.client.get(f"{self.base}/{db}/{doc_id}").json()


def task_docs(n: int, tag: str, name: str = TASK_NAME, **extra) -> list[dict]:
    now = time.time()
    return [{"_id": f"{tag}-{i:07d}", "type": "task", "record_id": "r1", "name": name, "created": now, **extra}
            for i in range(n)]


class Serve:
    """``dirt serve`` as a process (the CLI), in a project pointed at one database."""

    def __init__(self, bench: "Bench", backend: Backend, db: str, log: Path):
        self.bench = bench
        self.log = log
        env = dict(os.environ, DIRT_COUCHDB_HOST=backend.url, DIRT_COUCHDB_DBNAME=db,
                   PYTHONPATH=str(bench.dirt_path))
        self.t_start = time.time()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "dirt", "serve"], cwd=bench.project_root, env=env,
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dirt serve never said {text!r}:\n{self.output()[-3000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="dirt-bench-"))
        self.dirt_path = Path(args.dirt).resolve() if args.dirt else REPO
        self.servers: list = []
        self.backends: list[Backend] = []
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.notes: list[str] = []
        self.project_root: Path | None = None
        self.ssh: SshHost | None = None
        self.noop: dict[str, float] = {}
        self.ratios: dict[tuple[str, str, float | None], list[float]] = {}   # (server, figure, target): per run

    # -- setup ---------------------------------------------------------------------------------
    def start(self) -> None:
        say("starting pouchdb-server")
        pouch = PouchServer(self.tmp / "pouchdb").start()
        self.servers.append(pouch)
        self.backends.append(Backend("pouchdb-server", pouch, pouch.url, None))
        if COUCHDB3.exists() and not self.args.skip_couchdb3:
            say("starting Apache CouchDB 3.5")
            couch = CouchDB3(self.tmp / "couchdb3").start()
            self.servers.append(couch)
            self.backends.append(Backend("CouchDB 3.5", couch, couch.url, couch.admin))
        elif not self.args.skip_couchdb3:
            self.notes.append(f"Apache CouchDB 3.5 not measured: {COUCHDB3} is absent")
        self.project_root = create_project(self.tmp / "proj", "bench")
        with open(self.project_root / "settings.py", "a") as f:
            f.write("\nlog_file = None\n")
        (self.project_root / "tasks" / f"{TASK_NAME}.py").write_text(NOOP)
        (self.project_root / "tasks" / "bench_printer.py").write_text(PRINTER)
        (self.project_root / "tasks" / "bench_chatty.py").write_text(CHATTY)

    def add_localhost(self, backend: Backend, db: str) -> int:
        env = dict(os.environ, DIRT_COUCHDB_HOST=backend.url, DIRT_COUCHDB_DBNAME=db,
                   PYTHONPATH=str(self.dirt_path))
        done = subprocess.run([sys.executable, "-m", "dirt", "updatenodes", "localhost"], cwd=self.project_root,
                              env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"updatenodes failed: {done.stderr}")
        return backend.get(db, "node:localhost")["sys_info"]["cpu_count"]

    def stop(self) -> None:
        for server in [self.ssh, *self.servers]:
            try:
                if server:
                    server.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                print(f"could not stop {server}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- 1. throughput on the real path ------------------------------------------------------------
    def throughput(self, backend: Backend) -> None:
        n = self.args.tasks
        db = backend.new_db("dirt")
        slots = self.add_localhost(backend, db)
        serve = Serve(self, backend, db, self.tmp / f"serve-{db}.log")
        try:
            serve.wait_for("node localhost connected", timeout=120)
            self.run_until_final(backend, db, task_docs(4 * slots, "warm"))
            res = self.run_until_final(backend, db, task_docs(n, "t"), cpu_of=serve)
        finally:
            serve.stop()
        self.cpu_row(backend, "no-op", n, res)
        self.noop[backend.name] = res["elapsed"]
        floor = self.floor(backend, n, slots)
        ratio = res["elapsed"] / floor
        say(f"  {backend.name}: dirt {n} tasks in {res['elapsed']:.2f}s {res['states']}; floor {floor:.2f}s")
        ok = ratio <= THROUGHPUT_TARGET and res["states"].get("passed") == n
        self.rows.append((f"{backend.name}: throughput, {n} no-op tasks, {slots} slots",
                          f"{res['elapsed']:.2f} s ({n / res['elapsed']:.0f}/s)",
                          f"raw execnet + PUT: {floor:.2f} s ({n / floor:.0f}/s)",
                          f"{ratio:.2f}x floor (<= {THROUGHPUT_TARGET}x)",
                          self.verdict(backend, "throughput vs floor", THROUGHPUT_TARGET, ratio, ok)))
        if res["states"].get("passed") != n:
            self.notes.append(f"{backend.name} throughput: not every task passed: {res['states']}")

    def printing(self, backend: Backend) -> None:
        """Tasks that print 100 lines each, against the no-op run just before on the same server."""
        n = self.args.tasks
        db = backend.new_db("printing")
        slots = self.add_localhost(backend, db)
        serve = Serve(self, backend, db, self.tmp / f"serve-{db}.log")
        try:
            serve.wait_for("node localhost connected", timeout=120)
            self.run_until_final(backend, db, task_docs(4 * slots, "warm", name="bench_printer"))
            res = self.run_until_final(backend, db, task_docs(n, "p", name="bench_printer"), cpu_of=serve)
            # a few long chatty tasks: how often their output is written
            seconds = 3.0 if self.args.quick else 6.0
            docs = task_docs(slots, "c", name="bench_chatty", kwargs={"seconds": seconds})
            backend.bulk(db, docs)
            seen: set[str] = set()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                rows = backend.client.get(f"{backend.base}/{db}/_all_docs",
                                          params={"startkey": '"log:c-"', "endkey": '"log:c-\ufff0"'}).json()["rows"]
                seen.update(row["id"] for row in rows)
                if all(d.get("state") in FINAL for d in backend.fetch(db, [d["_id"] for d in docs])):
                    break
                time.sleep(0.05)
        finally:
            serve.stop()
        noop = self.noop.get(backend.name)
        ratio = res["elapsed"] / noop if noop else float("nan")
        rate = len(seen) / (slots * seconds)
        say(f"  {backend.name}: printing {n} tasks in {res['elapsed']:.2f}s vs no-op {noop}; "
            f"{len(seen)} log writes for {slots} tasks over {seconds:g} s")
        self.rows.append((f"{backend.name}: throughput, tasks printing 100 lines",
                          f"{res['elapsed']:.2f} s ({n / res['elapsed']:.0f}/s)",
                          f"no-op tasks: {noop:.2f} s" if noop else "-",
                          f"{ratio:.2f}x no-op (<= {PRINTING_TARGET}x)",
                          self.verdict(backend, "printing 100 lines vs no-op", PRINTING_TARGET, ratio,
                                       ratio <= PRINTING_TARGET and res["states"].get("passed") == n)))
        self.cpu_row(backend, "printing", n, res)
        printed = "".join("output line %d of a task that talks\n" % i for i in range(100)).encode()
        floor_noop = self.floor(backend, n, slots)
        floor_log = self.floor(backend, n, slots, attach=printed)
        self.rows.append((f"  (info) {backend.name}: the floor, storing the same log with each result",
                          f"{floor_log / floor_noop:.2f}x the floor without it",
                          f"raw execnet + PUT: {floor_noop:.2f} s, with the log: {floor_log:.2f} s", "-", "info"))
        self.ratios.setdefault((backend.name, "(info) the floor storing the same log vs without", None), []).append(
            floor_log / floor_noop)
        self.rows.append((f"{backend.name}: log writes while tasks print every 10 ms",
                          f"{rate:.2f} per task per second", "-", f"<= {WRITES_TARGET:g}",
                          "PASS" if rate <= WRITES_TARGET else "FAIL"))

    def verdict(self, backend: Backend, figure: str, target: float, ratio: float, ok: bool) -> str:
        """PASS/FAIL of one run; with --repeat, "run k" (the median of the runs is judged)."""
        runs = self.ratios.setdefault((backend.name, figure, target), [])
        runs.append(ratio if ok or ratio > target else float("inf"))    # a run that lost tasks never passes
        return ("PASS" if ok else "FAIL") if self.args.repeat == 1 else f"run {len(runs)}"

    def cpu_row(self, backend: Backend, what: str, n: int, res: dict) -> None:
        if "cpu_dirt" in res:
            self.rows.append((f"  (info) {backend.name}: CPU, {what} run",
                              f"dirt serve + workers {res['cpu_dirt']:.2f} s (serve {res['cpu_serve']:.2f} s)",
                              f"database {res['cpu_db']:.2f} s", "-", "info"))

    def run_until_final(self, backend: Backend, db: str, docs: list[dict], timeout: float = 600,
                        cpu_of: "Serve | None" = None) -> dict:
        """Insert ``docs`` and wait for every one to be final. The elapsed time is read
        from the ``completed`` times dirt wrote, so how often this looks does not
        change it; it looks seldom, and only at tasks not yet seen final, because
        every look is work for the same server dirt is measured on (the floor has
        no observer at all)."""
        cpu0 = (cpu_seconds([cpu_of.proc.pid]), cpu_seconds(backend.pids()),
                cpu_seconds([cpu_of.proc.pid], descend=False)) if cpu_of is not None else None
        t0 = time.time()
        backend.bulk(db, docs)
        deadline = time.monotonic() + timeout
        pending = [d["_id"] for d in docs]
        final: list[dict] = []
        while pending and time.monotonic() < deadline:
            time.sleep(1.0)
            seen = backend.fetch(db, pending)
            final += [d for d in seen if d.get("state") in FINAL]
            pending = [d.get("_id") for d in seen if d.get("state") not in FINAL]
        final += backend.fetch(db, pending) if pending else []
        cpu = {}
        if cpu0 is not None:
            cpu = {"cpu_dirt": cpu_seconds([cpu_of.proc.pid]) - cpu0[0], "cpu_db": cpu_seconds(backend.pids()) - cpu0[1],
                   "cpu_serve": cpu_seconds([cpu_of.proc.pid], descend=False) - cpu0[2]}
        states: dict[str, int] = {}
        for d in final:
            states[d.get("state")] = states.get(d.get("state"), 0) + 1
        last = max((d.get("completed") or 0) for d in final)
        return {"elapsed": last - t0, "states": states, **cpu}

    def floor(self, backend: Backend, n: int, parallel: int, attach: bytes | None = None) -> float:
        """The same no-op run n times over ``parallel`` already-open popen gateways, each result
        PUT (with ``attach`` as an inline attachment, if given: what storing a log costs)."""
        db = backend.new_db("floor")
        gateways = [execnet.makegateway("popen//python=python3") for _ in range(parallel)]
        try:
            for gw in gateways:   # warm: every gateway has run the module once
                gw.remote_exec(NOOP).receive(30)
            docs = task_docs(n, "f")
            work: "queue.Queue[dict]" = queue.Queue()
            completed: list[float] = []
            errors: list[str] = []

            def worker(gw: execnet.Gateway) -> None:
                while True:
                    try:
                        doc = work.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        result = gw.remote_exec(NOOP).receive(30)
                        done = time.time()
                        doc.update(state="passed", results=result, completed=done)
                        if attach is not None:
                            doc["_attachments"] = {"log-1.txt": {"content_type": "text/plain; charset=utf-8",
                                                                 "data": base64.b64encode(attach).decode()}}
                        backend.client.put(f"{backend.base}/{db}/{doc['_id']}", content=dumps(doc),
                                           headers={"Content-Type": "application/json"}).raise_for_status()
                        completed.append(done)
                    except Exception as exc:  # noqa: BLE001 - report, keep measuring
                        errors.append(repr(exc))

            t0 = time.time()
            revs = {row["id"]: row["rev"] for row in backend.bulk(db, docs)}
            for doc in docs:
                doc["_rev"] = revs[doc["_id"]]
                work.put(doc)
            threads = [threading.Thread(target=worker, args=(gw,)) for gw in gateways]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                self.notes.append(f"floor: {len(errors)} errors, first: {errors[0]}")
            return max(completed) - t0
        finally:
            for gw in gateways:
                try:
                    gw.exit()
                except Exception:
                    pass

    # -- 2. start latency --------------------------------------------------------------------------
    def latency(self, backend: Backend) -> None:
        count = self.args.latency_tasks
        db = backend.new_db("latency")
        self.add_localhost(backend, db)
        serve = Serve(self, backend, db, self.tmp / f"serve-{db}.log")
        lat: list[float] = []
        with_put: list[float] = []
        try:
            serve.wait_for("node localhost connected", timeout=120)
            for i in range(3 + count):  # 3 warm-up tasks (the node's worker processes start)
                doc = {"type": "task", "record_id": "r1", "name": TASK_NAME, "created": time.time()}
                t_put = time.time()
                backend.client.put(f"{backend.base}/{db}/l-{i:04d}", content=dumps(doc)).raise_for_status()
                t_written = time.time()
                got = self.wait_final(backend, db, f"l-{i:04d}")
                if i >= 3:
                    lat.append(got["results"]["t_start"] - t_written)
                    with_put.append(got["results"]["t_start"] - t_put)
                time.sleep(0.05)   # the node is idle again before the next write
        finally:
            serve.stop()
        med, p90 = statistics.median(lat), pct(lat, 0.9)
        say(f"  {backend.name}: written->start median {med * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms")
        self.rows.append((f"{backend.name}: start latency, {count} tasks",
                          f"median {med * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms", "-",
                          f"median <= {LATENCY_TARGET * 1000:.0f} ms", "PASS" if med <= LATENCY_TARGET else "FAIL"))
        self.rows.append((f"  (info) {backend.name}: the same, counting the PUT itself",
                          f"median {statistics.median(with_put) * 1000:.1f} ms", "-", "-", "info"))

    @staticmethod
    def wait_final(backend: Backend, db: str, doc_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            got = backend.get(db, doc_id)
            if got.get("state") in FINAL:
                if got["state"] != "passed":
                    raise RuntimeError(f"task {doc_id} ended {got['state']}: {got.get('reason')}")
                return got
            if time.monotonic() > deadline:
                raise RuntimeError(f"task {doc_id} did not finish: {got}")
            time.sleep(0.005)

    # -- 3. start-up with history -------------------------------------------------------------------
    def startup(self, backend: Backend) -> None:
        for history in self.args.history:
            db = backend.new_db(f"history{history}")
            self.add_localhost(backend, db)
            say(f"  {backend.name}: storing {history:,} finished tasks")
            t = time.time()
            for start in range(0, history, 1000):
                docs = task_docs(min(1000, history - start), f"h{start}", state="passed", started=1.0,
                                 completed=2.0, results={"success": True}, node="localhost")
                for i, doc in enumerate(docs):
                    doc["_id"] = f"h-{start + i:07d}"
                backend.bulk(db, docs)
            say(f"    stored in {time.time() - t:.0f} s")
            first = self.start_and_run_one(backend, db, "first", keep_serving_until_built=True)
            second = self.start_and_run_one(backend, db, "second")
            say(f"  {backend.name}, {history:,} finished: first run {first['start']:.2f} s (view built after "
                f"{first['built'] or 0:.0f} s), then {second['start']:.2f} s; RSS {second['rss']:.0f} MiB")
            built = f", its view built in {first['built']:.0f} s" if first["built"] is not None else ""
            self.rows.append((f"{backend.name}: start-up, {history:,} finished tasks",
                              f"{second['start']:.2f} s (RSS {second['rss']:.0f} MiB)",
                              f"first run: {first['start']:.1f} s{built}",
                              f"<= {STARTUP_TARGET:g} s", "PASS" if second["start"] <= STARTUP_TARGET else "FAIL"))

    def start_and_run_one(self, backend: Backend, db: str, tag: str, keep_serving_until_built: bool = False) -> dict:
        """Start dirt serve, write one task at once: seconds from start to the task starting.

        With ``keep_serving_until_built`` (a first run), the server keeps running
        until dirt's view of unfinished tasks is built (``_local/dirt-serve``),
        as a real first run would; that time is shown too.
        """
        serve = Serve(self, backend, db, self.tmp / f"serve-{db}-{tag}.log")
        doc_id = f"new-{tag}"
        built = None
        try:
            backend.client.put(f"{backend.base}/{db}/{doc_id}", content=dumps(
                {"type": "task", "record_id": "r1", "name": TASK_NAME, "created": time.time()})).raise_for_status()
            got = self.wait_final(backend, db, doc_id, timeout=1800)
            time.sleep(1.0)
            rss = rss_mib(serve.proc.pid)
            if keep_serving_until_built and (self.dirt_path / "dirt" / "snapshot.py").exists():
                # (a checkout from before dirt's view, measured for a before/after, builds none)
                deadline = time.monotonic() + 7200
                while backend.client.get(f"{backend.base}/{db}/_local/dirt-serve").status_code != 200:
                    if time.monotonic() > deadline or serve.proc.poll() is not None:
                        raise RuntimeError(f"dirt's view was never built:\n{serve.output()[-2000:]}")
                    time.sleep(0.5)
                built = time.time() - serve.t_start
        finally:
            serve.stop()
        return {"start": got["results"]["t_start"] - serve.t_start, "rss": rss, "built": built}

    # -- 4. SSH -----------------------------------------------------------------------------------------
    def ssh_costs(self) -> None:
        say("starting sshd")
        self.ssh = SshHost(self.tmp / "sshd", ["node1"]).start()
        os.environ["DIRT_SSH_CONFIG"] = str(self.ssh.ssh_config)
        spec = gateway_spec("node1", load_project(self.project_root).settings)
        fresh: list[float] = []
        for _ in range(self.args.ssh_fresh):
            group = execnet.Group()
            t = time.perf_counter()
            gw = group.makegateway(spec)
            gw.remote_exec(NOOP).receive(60)
            gw.exit()
            fresh.append(time.perf_counter() - t)
            group.terminate(timeout=5)   # reap, untimed
        conn = NodeConnection("node1", spec)
        code = Shipment.of(NOOP, "tasks/bench_noop.py")
        per: list[float] = []
        try:
            conn.open()
            conn.run_task("warm", code, None, 60)
            for i in range(self.args.ssh_tasks):
                t = time.perf_counter()
                conn.run_task(f"x{i}", code, None, 60, {"DIRT_TASK_ID": f"x{i}"})
                per.append(time.perf_counter() - t)
        finally:
            conn.close()
        fresh_mean, dirt_mean = statistics.mean(fresh), statistics.mean(per)
        ratio = fresh_mean / dirt_mean
        say(f"ssh: fresh gateway {fresh_mean * 1000:.0f} ms/task, dirt {dirt_mean * 1000:.2f} ms/task")
        self.rows.append((f"ssh: per task, dirt run_task x{len(per)}", f"{dirt_mean * 1000:.2f} ms",
                          f"fresh gateway x{len(fresh)}: {fresh_mean * 1000:.0f} ms",
                          f"{ratio:.0f}x cheaper (>= {SSH_TARGET:.0f}x)", "PASS" if ratio >= SSH_TARGET else "FAIL"))

    # -- report -------------------------------------------------------------------------------------
    def report(self) -> None:
        for (server, figure, target), runs in self.ratios.items():
            if self.args.repeat > 1 and runs:
                median = statistics.median(runs)
                judged = target is not None
                self.rows.append((f"{server}: {figure}, median of {len(runs)} runs", f"{median:.2f}x",
                                  "runs: " + ", ".join(f"{r:.2f}x" for r in runs),
                                  f"<= {target}x" if judged else "-",
                                  ("PASS" if median <= target else "FAIL") if judged else "info"))
        headers = ("figure", "dirt", "baseline", "vs target", "result")
        widths = [max(len(str(r[i])) for r in [headers, *self.rows]) for i in range(5)]
        line = "  ".join("-" * w for w in widths)
        print()
        print(f"dirt dispatch benchmark ({os.cpu_count()} cpus, Python {sys.version.split()[0]}, "
              f"execnet {execnet.__version__}, dirt from {self.dirt_path})")
        print(line)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
        print(line)
        for row in self.rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        print(line)
        for note in self.notes:
            print("note:", note)
        missed = [r[0] for r in self.rows if r[4] == "FAIL"]
        print("targets missed: " + (", ".join(m.strip() for m in missed) if missed else "none"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=None, help="tasks in the throughput run (default 1000)")
    parser.add_argument("--history", default=None,
                        help="finished tasks in the start-up runs, comma-separated (default 50000,500000)")
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--skip-ssh", action="store_true", help="leave out the SSH figures")
    parser.add_argument("--skip-couchdb3", action="store_true", help="measure on pouchdb-server only")
    parser.add_argument("--skip-startup", action="store_true", help="leave out the start-up figures")
    parser.add_argument("--only", choices=("throughput", "printing", "latency", "startup", "ssh"), action="append",
                        help="measure only these figures (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the throughput and printing figures N times in turn and judge their medians "
                             "(these machines are noisy)")
    parser.add_argument("--dirt", metavar="CHECKOUT", help="run `dirt serve` from this checkout (before/after)")
    args = parser.parse_args(argv)
    if args.tasks is None:
        args.tasks = 300 if args.quick else 1000
    history = args.history or ("5000" if args.quick else "50000,500000")
    args.history = [int(h) for h in history.split(",") if h]
    args.latency_tasks = 15 if args.quick else 50
    args.ssh_fresh = 5 if args.quick else 20
    args.ssh_tasks = 50 if args.quick else 200

    bench = Bench(args)

    def on_term(signum, frame):   # a killed benchmark still stops its servers
        say("terminated: stopping servers")
        bench.stop()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        bench.start()
        phases = [(phase, b) for b in bench.backends for _ in range(args.repeat)
                  for phase in (bench.throughput, bench.printing)]
        phases += [(bench.latency, b) for b in bench.backends]
        if not args.skip_startup:
            phases += [(bench.startup, b) for b in bench.backends]
        if not args.skip_ssh:
            phases.append((bench.ssh_costs, None))
        if args.only:
            phases = [(p, b) for p, b in phases if p.__name__.replace("_costs", "") in args.only]
        for phase, backend in phases:
            say(f"{phase.__name__}" + (f" on {backend.name}" if backend else ""))
            try:
                phase(backend) if backend else phase()
            except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
                traceback.print_exc()
                bench.notes.append(f"{phase.__name__} failed: {exc!r}")
    except KeyboardInterrupt:
        bench.notes.append("interrupted")
    finally:
        say("stopping servers")
        bench.stop()
    bench.report()
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
