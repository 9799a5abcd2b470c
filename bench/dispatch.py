#!/usr/bin/env python3
"""Dispatch benchmark for dirt: throughput, latency and SSH per-task cost.

One run starts its own pouchdb-server (and, for the SSH figures, its own sshd),
measures dirt against a baseline measured in the same run, prints a table with
the target and PASS/FAIL for each figure, and stops every server it started.

    python bench/dispatch.py            # default: 1,000 tasks (a few minutes at most)
    python bench/dispatch.py --quick    # smoke run with small numbers
    python bench/dispatch.py --tasks 300 --profile /tmp/dirt.prof

Figures (see bench/README.md):

1. throughput: N no-op tasks, inserted with one ``_bulk_docs``, run by an
   in-process ``Scheduler`` on two local nodes (``localhost`` and
   ``popen//python=python3``, cpu_count slots each), timed from just before
   the bulk insert to the last ``completed`` time written. Floor: the same
   module run N times by raw execnet over already-open popen gateways (one
   thread and one gateway per dirt slot), each result PUT into the same
   CouchDB. Target: dirt <= 2.5 x floor.
2. latency: sequential single tasks written to a live server (Scheduler
   looping in a thread, node connected and idle); latency is the task's own
   ``time.time()`` at its start minus the time just before the PUT of its
   document. Target: median <= 100 ms.
3. SSH: per-task cost of a fresh SSH gateway per task (the 2012 original:
   makegateway + remote_exec + receive + exit) against dirt's per-task cost
   on an SSH node (``NodeConnection.run_task`` over one kept connection,
   sequential). Target (this benchmark's own; design.md section 6 says a task
   never pays an SSH handshake): dirt at least 10x cheaper. Also shown for
   information: the same no-op tasks through the Scheduler on the SSH node.

Exit status is 0 whether or not targets are met: this is a measurement.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import queue
import shutil
import signal
import statistics
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

from servers import PouchServer, SshHost, descendants  # noqa: E402  (tests/servers.py)

from dirt.couch import Database  # noqa: E402
from dirt.create import create_project  # noqa: E402
from dirt.nodes import gateway_spec, update_nodes  # noqa: E402
from dirt.runner import NodeConnection  # noqa: E402
from dirt.scheduler import Scheduler  # noqa: E402
from dirt.settings import load_project  # noqa: E402

LOCAL_NODES = ["localhost", "popen//python=python3"]
TASK_NAME = "bench_noop"

# The no-op task: records when it started, sends success. Also what the
# floor and the 2012-style SSH baseline run, byte for byte.
NOOP = """\
import time
_t_start = time.time()
if __name__ == '__channelexec__':
    channel.send({"success": True, "t_start": _t_start})
"""

THROUGHPUT_TARGET = 2.5     # dirt time <= this x floor time
LATENCY_TARGET = 0.100      # median seconds from write to task start
SSH_TARGET = 10.0           # fresh-gateway per-task cost >= this x dirt's


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def task_docs(n: int, tag: str) -> list[dict]:
    now = time.time()
    return [{"_id": f"{tag}-{i:06d}", "type": "task", "record_id": "r1", "name": TASK_NAME,
             "created": now} for i in range(n)]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="dirt-bench-"))
        self.pouch: PouchServer | None = None
        self.ssh: SshHost | None = None
        self.project_root: Path | None = None
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.notes: list[str] = []
        self.dbs: list[Database] = []

    # -- setup -----------------------------------------------------------------------------
    def start(self) -> None:
        say("starting pouchdb-server")
        self.pouch = PouchServer(self.tmp / "pouchdb").start()
        self.project_root = create_project(self.tmp / "proj", "bench")
        with open(self.project_root / "settings.py", "a") as f:
            f.write(f"\ncouchdb_host = {self.pouch.url!r}\ncouchdb_dbname = 'bench'\nlog_file = None\n")
        (self.project_root / "tasks" / f"{TASK_NAME}.py").write_text(NOOP)

    def project(self):
        return load_project(self.project_root)

    def new_db(self, what: str) -> Database:
        db = Database.from_url(self.pouch.url, f"bench-{what}-{uuid.uuid4().hex[:8]}")
        db.create()
        db.save({"_id": "r1", "type": "record", "description": "benchmark record", "created": time.time()})
        self.dbs.append(db)
        return db

    def add_nodes(self, db: Database, hosts: list[str]) -> int:
        results = update_nodes(db, hosts, self.project().settings)
        failed = [r.message for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"could not add nodes: {failed}")
        return sum(db.get(f"node:{h}")["sys_info"]["cpu_count"] for h in hosts)

    def stop(self, quick: bool = False) -> None:
        """Stop sshd and pouchdb-server, remove the work directory, close gateways.

        Database clients are left open: a stopped Scheduler's changes follower
        may still be in a long poll on one; it ends when pouchdb-server goes away.
        """
        for server in (self.ssh, self.pouch):
            try:
                if server:
                    server.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                print(f"could not stop {server}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if not quick:
            try:
                execnet.default_group.terminate(timeout=5)
            except Exception:  # noqa: BLE001
                pass

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: pouchdb-server, this process, and its other children (execnet workers)."""
        pouch = self.pouch.proc.pid if self.pouch and self.pouch.proc else -1
        pouch_tree = {pouch, *descendants(pouch)} if pouch > 0 else set()
        ssh_tree = set()
        if self.ssh and self.ssh.proc:
            ssh_tree = {self.ssh.proc.pid, *descendants(self.ssh.proc.pid)}
        others = [p for p in descendants(os.getpid()) if p not in pouch_tree]
        return {"pouchdb": sum(proc_cpu(p) for p in pouch_tree), "bench": time.process_time(),
                "workers": sum(proc_cpu(p) for p in others if p not in ssh_tree)}

    @staticmethod
    def count_requests(db: Database) -> dict[str, int]:
        """Count the HTTP requests made through ``db``'s client, by kind (filled in as they go)."""
        counts: dict[str, int] = {}

        def hook(request: httpx.Request) -> None:
            path = request.url.path.rsplit("/", 1)[-1]
            kind = f"{request.method} {path if path.startswith('_') else 'doc'}"
            if path == "_changes":
                kind += " " + request.url.params.get("feed", "normal")
            counts[kind] = counts.get(kind, 0) + 1

        db.server.client.event_hooks["request"].append(hook)
        return counts

    @staticmethod
    def cpu_delta(before: dict, after: dict) -> str:
        return ", ".join(f"{k} {after[k] - before[k]:.1f}" for k in before)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def wait_nodes_ready(sched: Scheduler, names: list[str], timeout: float = 60.0, drive: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if drive:
                sched.step(timeout=0.05)
            if all(n in sched.nodes and sched.nodes[n].ready for n in names):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"nodes {names} not connected after {timeout}s")
            if not drive:
                time.sleep(0.02)

    @staticmethod
    def fetch(db: Database, ids: list[str]) -> list[dict]:
        answer = db.server.request("POST", f"{db.path}/_all_docs", params={"include_docs": "true"},
                                   content=httpx_json({"keys": ids}),
                                   headers={"Content-Type": "application/json"})
        return [row.get("doc") or {} for row in answer["rows"]]

    def run_batch(self, sched: Scheduler, db: Database, n: int, tag: str,
                  profiler: cProfile.Profile | None = None) -> dict:
        """Bulk-insert n no-op tasks and drive ``sched`` in this thread until all are final."""
        docs = task_docs(n, tag)
        ids = [d["_id"] for d in docs]
        own = Database.from_url(self.pouch.url, db.name)   # the bench's own client, not the scheduler's
        if profiler:
            profiler.enable()
        t0 = time.time()
        own.bulk_docs(docs)
        t_inserted = time.time()
        checks = 0
        while True:
            sched.run(until_idle=True, idle_timeout=600)
            checks += 1
            final = self.fetch(own, ids)
            if all(d.get("state") in ("passed", "failed", "error", "cancelled") for d in final):
                break
        t_seen = time.time()
        if profiler:
            profiler.disable()
        own.server.close()
        states: dict[str, int] = {}
        for d in final:
            states[d.get("state")] = states.get(d.get("state"), 0) + 1
        last = max(d.get("completed") or 0 for d in final)
        first_start = min(d.get("started") or t_seen for d in final)
        nodes: dict[str, int] = {}
        for d in final:
            nodes[d.get("node")] = nodes.get(d.get("node"), 0) + 1
        return {"elapsed": last - t0, "insert": t_inserted - t0, "first_start": first_start - t0,
                "seen": t_seen - t0, "states": states, "nodes": nodes, "checks": checks}

    # -- 1. throughput -----------------------------------------------------------------------
    def throughput(self) -> None:
        n = self.args.tasks
        db = self.new_db("dirt")
        slots = self.add_nodes(db, LOCAL_NODES)
        say(f"throughput: {len(LOCAL_NODES)} local nodes, {slots} slots in all")
        sched = Scheduler(db, self.project())
        try:
            sched.start()
            self.wait_nodes_ready(sched, LOCAL_NODES)
            warm = self.run_batch(sched, db, 4 * slots, "warm")
            say(f"  dirt warm-up of {4 * slots} tasks: {warm['elapsed']:.2f}s {warm['states']}")
            profiler = cProfile.Profile() if self.args.profile else None
            requests = self.count_requests(db)
            cpu0 = self.cpu()
            res = self.run_batch(sched, db, n, "t", profiler)
            cpu1 = self.cpu()
            res["cpu"] = self.cpu_delta(cpu0, cpu1)
            res["pouch_cpu"] = cpu1["pouchdb"] - cpu0["pouchdb"]
            res["requests"] = dict(requests)
            if profiler:
                profiler.dump_stats(self.args.profile)
                say(f"  cProfile of the scheduler loop thread written to {self.args.profile}")
        finally:
            sched.close()
        say(f"  dirt: {n} tasks in {res['elapsed']:.2f}s (bulk insert {res['insert'] * 1000:.0f} ms, "
            f"first start after {res['first_start'] * 1000:.0f} ms, states {res['states']}, "
            f"per node {res['nodes']}, idle checks {res['checks']})")
        say(f"    CPU seconds used meanwhile: {res['cpu']}")
        say(f"    dirt's requests to CouchDB: {res['requests']}")

        floor, (floor_cpu, floor_pouch) = self.floor(n, slots)
        say(f"  floor: {n} tasks in {floor:.2f}s over {slots} open gateways")
        say(f"    CPU seconds used meanwhile: {floor_cpu}")
        ratio = res["elapsed"] / floor
        ok = ratio <= THROUGHPUT_TARGET and res["states"].get("passed") == n
        self.rows.append((
            f"throughput: {n} no-op tasks, {slots} slots",
            f"{res['elapsed']:.2f} s ({n / res['elapsed']:.0f}/s)",
            f"raw execnet + PUT: {floor:.2f} s ({n / floor:.0f}/s)",
            f"{ratio:.2f}x floor (<= {THROUGHPUT_TARGET}x)",
            "PASS" if ok else "FAIL"))
        reqs = res["requests"]
        per_task = sum(reqs.values()) / n
        detail = ", ".join(f"{v / n:.2f} {k}" for k, v in sorted(reqs.items()))
        self.rows.append((
            "  (info) CouchDB requests per task",
            f"{per_task:.2f} ({detail})",
            "1 (PUT)", "-", "info"))
        self.rows.append((
            "  (info) pouchdb-server CPU during the run",
            f"{res['pouch_cpu']:.1f} s",
            f"{floor_pouch:.1f} s", "-", "info"))
        if res["states"].get("passed") != n:
            self.notes.append(f"throughput: not every task passed: {res['states']}")

    def floor(self, n: int, parallel: int) -> tuple[float, str]:
        """The same no-op run n times over `parallel` already-open popen gateways, each result PUT."""
        db = self.new_db("floor")
        gateways = [execnet.makegateway("popen//python=python3") for _ in range(parallel)]
        try:
            for gw in gateways:   # warm: every gateway has run the module once
                gw.remote_exec(NOOP).receive(30)
            client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=32, max_connections=64),
                                  timeout=30)
            base = f"{db.url}/"
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
                        client.put(base + doc["_id"], content=httpx_json(doc),
                                   headers={"Content-Type": "application/json"}).raise_for_status()
                        completed.append(done)
                    except Exception as exc:  # noqa: BLE001 - report, keep measuring
                        errors.append(repr(exc))

            cpu0 = self.cpu()
            t0 = time.time()
            answer = client.post(f"{db.url}/_bulk_docs", content=httpx_json({"docs": docs}),
                                 headers={"Content-Type": "application/json"}).json()
            revs = {row["id"]: row["rev"] for row in answer}
            for doc in docs:
                doc["_rev"] = revs[doc["_id"]]
                work.put(doc)
            threads = [threading.Thread(target=worker, args=(gw,)) for gw in gateways]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu1 = self.cpu()
            cpu = (self.cpu_delta(cpu0, cpu1), cpu1["pouchdb"] - cpu0["pouchdb"])
            client.close()
            if errors:
                self.notes.append(f"floor: {len(errors)} errors, first: {errors[0]}")
            return max(completed) - t0, cpu
        finally:
            for gw in gateways:
                try:
                    gw.exit()
                except Exception:
                    pass

    # -- 2. latency ----------------------------------------------------------------------------
    def latency(self) -> None:
        count = self.args.latency_tasks
        db = self.new_db("latency")
        self.add_nodes(db, ["localhost"])
        sched = Scheduler(db, self.project())
        stop = threading.Event()
        thread = threading.Thread(target=sched.run, kwargs={"stop": stop}, daemon=True, name="bench-loop")
        probe = Database.from_url(self.pouch.url, db.name)   # our own client, not the scheduler's
        lat: list[float] = []
        done_lat: list[float] = []
        try:
            thread.start()
            self.wait_nodes_ready(sched, ["localhost"], drive=False)
            for i in range(3 + count):  # 3 warm-up tasks (the node's worker process starts)
                doc = {"_id": f"l-{i:04d}", "type": "task", "record_id": "r1", "name": TASK_NAME,
                       "created": time.time()}
                t_write = time.time()
                probe.save(doc)
                deadline = time.monotonic() + 30
                while True:
                    got = probe.get(doc["_id"])
                    if got.get("state") in ("passed", "failed", "error"):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"latency task {doc['_id']} did not finish: {got}")
                    time.sleep(0.005)
                if got.get("state") != "passed":
                    raise RuntimeError(f"latency task {doc['_id']} ended {got.get('state')}: {got.get('reason')}")
                if i >= 3:
                    lat.append(got["results"]["t_start"] - t_write)
                    done_lat.append(got["completed"] - t_write)
                time.sleep(0.05)   # the node is idle again before the next write
        finally:
            stop.set()
            thread.join(10)
            sched.close()
            probe.server.close()
        med, p90 = statistics.median(lat), pct(lat, 0.9)
        say(f"latency: {count} tasks: write->start median {med * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
            f"max {max(lat) * 1000:.1f} ms; write->completed median {statistics.median(done_lat) * 1000:.1f} ms")
        self.rows.append((
            f"latency: write -> task start, {count} tasks",
            f"median {med * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms",
            "-",
            f"median <= {LATENCY_TARGET * 1000:.0f} ms",
            "PASS" if med <= LATENCY_TARGET else "FAIL"))
        self.rows.append((
            "  (info) write -> completed written",
            f"median {statistics.median(done_lat) * 1000:.1f} ms, p90 {pct(done_lat, 0.9) * 1000:.1f} ms",
            "-", "-", "info"))

    # -- 3. SSH ----------------------------------------------------------------------------------
    def ssh_costs(self) -> None:
        say("starting sshd")
        self.ssh = SshHost(self.tmp / "sshd", ["node1"]).start()
        os.environ["DIRT_SSH_CONFIG"] = str(self.ssh.ssh_config)
        settings = self.project().settings
        spec = gateway_spec("node1", settings)

        # The 2012 original: a fresh SSH gateway for every task.
        fresh: list[float] = []
        for _ in range(self.args.ssh_fresh):
            group = execnet.Group()
            t = time.perf_counter()
            gw = group.makegateway(spec)
            gw.remote_exec(NOOP).receive(60)
            gw.exit()
            fresh.append(time.perf_counter() - t)
            group.terminate(timeout=5)   # reap, untimed
        fresh_mean = statistics.mean(fresh)
        say(f"ssh: fresh gateway per task: mean {fresh_mean * 1000:.0f} ms, median "
            f"{statistics.median(fresh) * 1000:.0f} ms over {len(fresh)} tasks")

        # dirt: one kept connection, a reused worker process per slot.
        conn = NodeConnection("node1", spec)
        per: list[float] = []
        try:
            t = time.perf_counter()
            conn.open()
            t_open = time.perf_counter() - t
            t = time.perf_counter()
            conn.run_task(NOOP, None, 60, {"DIRT_TASK_ID": "warm"})
            t_first = time.perf_counter() - t
            env = {"DIRT_TASK_ID": "x", "DIRT_RECORD_ID": "r1", "DIRT_PROJECT": settings.project_name}
            for _ in range(self.args.ssh_tasks):
                t = time.perf_counter()
                conn.run_task(NOOP, None, 60, env)
                per.append(time.perf_counter() - t)
        finally:
            conn.close()
        dirt_mean = statistics.mean(per)
        ratio = fresh_mean / dirt_mean
        say(f"ssh: dirt run_task: mean {dirt_mean * 1000:.2f} ms, median {statistics.median(per) * 1000:.2f} ms "
            f"over {len(per)} tasks (one-time: connect {t_open * 1000:.0f} ms, first task + worker start "
            f"{t_first * 1000:.0f} ms)")
        self.rows.append((
            f"ssh: per task, dirt run_task x{len(per)}",
            f"{dirt_mean * 1000:.2f} ms",
            f"fresh gateway x{len(fresh)}: {fresh_mean * 1000:.0f} ms",
            f"{ratio:.0f}x cheaper (>= {SSH_TARGET:.0f}x)",
            "PASS" if ratio >= SSH_TARGET else "FAIL"))

        # The same through the Scheduler on the SSH node (end to end, with CouchDB).
        n = self.args.ssh_sched_tasks
        db = self.new_db("ssh")
        slots = self.add_nodes(db, ["node1"])
        sched = Scheduler(db, self.project())
        try:
            sched.start()
            self.wait_nodes_ready(sched, ["node1"])
            self.run_batch(sched, db, 2 * slots, "warm")
            res = self.run_batch(sched, db, n, "s")
        finally:
            sched.close()
        per_task = res["elapsed"] / n
        say(f"ssh: scheduler on node1 ({slots} slots): {n} tasks in {res['elapsed']:.2f}s, states {res['states']}")
        self.rows.append((
            f"  (info) ssh via Scheduler, {n} tasks, {slots} slots",
            f"{per_task * 1000:.1f} ms/task ({res['elapsed']:.2f} s)",
            f"fresh gateway: {fresh_mean * 1000:.0f} ms/task",
            f"{fresh_mean / per_task:.0f}x cheaper", "info"))

    # -- report ------------------------------------------------------------------------------------
    def report(self) -> None:
        headers = ("figure", "dirt", "baseline", "vs target", "result")
        widths = [max(len(str(r[i])) for r in [headers, *self.rows]) for i in range(5)]
        line = "  ".join("-" * w for w in widths)
        print()
        print("dirt dispatch benchmark  (" + f"{os.cpu_count()} cpus, Python {sys.version.split()[0]}, "
              f"execnet {execnet.__version__})")
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


def httpx_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=None, help="tasks in the throughput run (default 1000)")
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the scheduler loop during the throughput run")
    parser.add_argument("--skip-ssh", action="store_true", help="leave out the SSH figures")
    args = parser.parse_args(argv)
    if args.tasks is None:
        args.tasks = 200 if args.quick else 1000
    args.latency_tasks = 15 if args.quick else 50
    args.ssh_fresh = 5 if args.quick else 20
    args.ssh_tasks = 50 if args.quick else 200
    args.ssh_sched_tasks = 50 if args.quick else 200

    bench = Bench(args)

    def on_term(signum, frame):   # a killed benchmark still stops its servers
        say("terminated: stopping servers")
        bench.stop(quick=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        bench.start()
        phases = [bench.throughput, bench.latency] + ([] if args.skip_ssh else [bench.ssh_costs])
        for phase in phases:
            try:
                phase()
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
