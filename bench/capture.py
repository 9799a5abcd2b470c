"""What capturing a task's output costs on the node, without the noise of a whole run.

The worker loop (``dirt/remote_worker.py``, as shipped to nodes) runs here in
a process of its own (started with ``python -u``, as execnet starts workers),
with a stand-in for execnet's channel, for N no-op tasks and N tasks that print
100 lines each: the CPU time per task, the extra of a printing task, and how
many pieces its output reached dirt in. The baseline is the same 100 prints
run bare (a line-buffered stream to /dev/null, no capture): what the task's
own printing costs, which no capture can save. Then dirt serve's share: the
CPU its :class:`dirt.output.AttemptLog` spends making those 100 lines into the
task's attachment. ``--against CHECKOUT`` runs a
second checkout's worker loop in the same run, side by side (before/after).

    python bench/capture.py                          # this checkout
    python bench/capture.py --against /path/to/old   # and another, side by side

Like dispatch.py it measures and exits 0; read the ratios, not the absolute
times (medians of ``--rounds`` runs).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from dispatch import NOOP, PRINTER  # noqa: E402  (the same task modules as the dispatch benchmark)


class _Output:
    """Stands in for the channel captured output goes out on."""

    def send(self, item) -> None:
        pass


class _Channel:
    """Stands in for the worker's execnet channel: hands out jobs, keeps replies."""

    def __init__(self, jobs: list) -> None:
        self.jobs, self.replies, self.gateway = jobs, [], None

    def receive(self):
        return self.jobs.pop(0) if self.jobs else None

    def send(self, item) -> None:
        self.replies.append(item)


def child(worker: str, kind: str, n: int, report: int) -> None:
    """In the measuring process: run ``n`` tasks of ``kind`` and write the figures to fd ``report``."""
    task = NOOP if kind == "noop" else PRINTER
    if worker == "bare":
        import io
        code = compile(task, "tasks/bench_printer.py", "exec")
        stream = io.TextIOWrapper(io.FileIO(os.open(os.devnull, os.O_WRONLY), "w"), line_buffering=True)
        real = sys.stdout
        sent: list = []
        channel = type("C", (), {"send": lambda self, item: sent.append(item), "receive": lambda self: {}})()
        t0 = time.process_time()
        sys.stdout = stream
        for _ in range(n):
            exec(code, {"__name__": "__channelexec__", "channel": channel})
        sys.stdout = real
        figures = {"cpu_us": (time.process_time() - t0) / n * 1e6, "pieces": 0}
    else:
        sha = hashlib.sha256(task.encode()).hexdigest()
        jobs: list = [_Output()] + [{"id": f"t{i}", "sha": sha, "filename": "tasks/bench_printer.py", "kwargs": {},
                                     "env": {}, "capture": True, "source": task if i == 0 else None}
                                    for i in range(n)]
        channel = _Channel(jobs)
        source = Path(worker).read_text()
        t0 = time.process_time()
        exec(compile(source, worker, "exec"), {"__name__": "__channelexec__", "channel": channel})
        cpu = time.process_time() - t0
        replies = channel.replies[1:]
        assert len(replies) == n and all(r.get("op") == "done" for r in replies), replies[-1:]
        pieces = [len(r.get("output") or []) for r in replies]
        figures = {"cpu_us": cpu / n * 1e6, "pieces": statistics.median(pieces)}
    os.write(report, json.dumps(figures).encode())


def serve_child(checkout: str, n: int, report: int) -> None:
    """In the measuring process: what that checkout's dirt serve spends turning a printing
    task's output (100 lines, in the two pieces a worker sends them in) into its attachment."""
    sys.path.insert(0, checkout)
    from dirt.output import AttemptLog
    lines = "".join("output line %d of a task that talks\n" % i for i in range(100))
    pieces = [(1000.0, lines[:len(lines) // 2]), (1000.001, lines[len(lines) // 2:])]
    t0 = time.process_time()
    for i in range(n):
        log = AttemptLog(f"t{i}", "r1", 1, "localhost", 4 << 20)
        log.add(pieces)
        log.final()
    os.write(report, json.dumps({"cpu_us": (time.process_time() - t0) / n * 1e6}).encode())


def measure(worker: str, kind: str, n: int) -> dict:
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-u", __file__, "--child", worker, kind, str(n), str(write)],
                            pass_fds=(write,), stdin=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    if proc.wait(600) != 0 or not data:
        raise RuntimeError(f"the measuring process for {worker} ({kind}) failed")
    return json.loads(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, the median is shown (default 3)")
    parser.add_argument("--against", metavar="CHECKOUT", help="also measure this checkout's worker loop")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        worker, kind, n, report = args.child
        if kind == "serve":
            serve_child(worker, int(n), int(report))
        else:
            child(worker, kind, int(n), int(report))
        return 0
    workers = [("this checkout", str(REPO / "dirt" / "remote_worker.py"))]
    if args.against:
        workers.append((args.against, str(Path(args.against).resolve() / "dirt" / "remote_worker.py")))
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):                       # in turn, so a noisy moment hits all alike
        for name, worker in [("bare prints (baseline)", "bare")] + workers:
            for kind in ("noop", "print"):
                runs.setdefault((name, kind), []).append(measure(worker, kind, args.tasks))
            if worker != "bare":
                runs.setdefault((name, "serve"), []).append(
                    measure(str(Path(worker).parent.parent), "serve", args.tasks))
    print(f"\ncapture cost per task ({args.tasks} tasks, median of {args.rounds} runs, {os.cpu_count()} cpus, "
          f"Python {sys.version.split()[0]})")
    headers = ("worker loop", "no-op task", "task printing 100 lines", "printing extra", "vs bare prints' own",
               "output pieces")
    bare = statistics.median(r["cpu_us"] for r in runs[("bare prints (baseline)", "print")]) - \
        statistics.median(r["cpu_us"] for r in runs[("bare prints (baseline)", "noop")])
    rows = []
    for name, _ in [("bare prints (baseline)", "bare")] + workers:
        noop = statistics.median(r["cpu_us"] for r in runs[(name, "noop")])
        printing = statistics.median(r["cpu_us"] for r in runs[(name, "print")])
        pieces = statistics.median(r["pieces"] for r in runs[(name, "print")])
        extra = printing - noop
        rows.append((name, f"{noop:.0f} us", f"{printing:.0f} us", f"+{extra:.0f} us",
                     f"{extra / bare:.2f}x" if bare > 0 else "-", f"{pieces:g}"))
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(line)
    print("\ndirt serve's share: the log of a printing task (100 lines in 2 pieces) made into its attachment")
    for name, _ in workers:
        print(f"  {name}: {statistics.median(r['cpu_us'] for r in runs[(name, 'serve')]):.0f} us per task")
    return 0


if __name__ == "__main__":
    sys.exit(main())
