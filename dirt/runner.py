"""Running code on a node with execnet: the only module that touches execnet.

A :class:`NodeConnection` holds one *master* gateway per node (an SSH
connection, or a local process for ``localhost``/``popen``), opened once and
kept. Tasks never run in the master: each runs in a *worker* process that the
master starts on the node (an execnet ``popen//via=master`` gateway), so no
task pays an SSH handshake and two tasks running at once never share a process.

A worker runs one task at a time and is kept for later ones. It runs a small
resident loop (:mod:`dirt.remote_worker`): dirt sends it one message per task
(the module's source the first time it is seen, then only its sha256; the
kwargs; the environment) and it answers with one message, so a task costs one
round trip, as little as a bare ``remote_exec``. Before each task the worker
gets back its original working directory, environment and ``sys.path`` and
makes a fresh temporary directory (removed before the next task and at exit).

The module runs as the 2012 docs describe, with ``__name__ ==
'__channelexec__'`` and a ``channel`` whose ``receive()`` gives the task its
kwargs and whose ``send()`` gives dirt its result. While it runs, file
descriptors 1 and 2 go to a pipe, so what the task prints (and what programs
it starts print) is captured, in order, and passed to ``on_output`` in
timestamped chunks as it comes; outside tasks they go to /dev/null.

A worker is a process group leader: a task that timed out or was killed dies
with every process it started, and its worker is replaced.

Failures are exceptions carrying what a person needs: :class:`TaskRaised`
(the traceback, with the task's own file and lines), :class:`TaskTimedOut`,
:class:`NoResult` (the module never sent one), :class:`TaskCrashed` (the
worker died, the node is fine) and :class:`~dirt.errors.NodeUnreachable` (the
node or its connection is gone).
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import signal
import subprocess
import threading
import time
from importlib import resources
from dataclasses import dataclass, field
from typing import Any, Callable

import execnet

from .errors import DirtError, NodeUnreachable

log = logging.getLogger(__name__)

OutputSink = Callable[[list[tuple[float, str]]], None]


class TaskRaised(DirtError):
    """The task's code raised; ``traceback`` is the remote traceback text."""

    def __init__(self, traceback: str):
        self.traceback = traceback.strip()
        last = self.traceback.splitlines()[-1] if self.traceback else "unknown error"
        super().__init__(f"the task raised {last}")


class TaskTimedOut(DirtError):
    """The task ran longer than its timeout and was killed."""

    def __init__(self, seconds: float):
        super().__init__(f"the task ran longer than its timeout of {seconds:g} s and was killed")
        self.seconds = seconds


class NoResult(DirtError):
    """The task's module ran to its end without sending a result."""

    def __init__(self) -> None:
        super().__init__("the task module ran to its end without sending a result: a task must end with "
                         "channel.send({'success': True or False, ...}) when __name__ == '__channelexec__' "
                         "(see docs/tasks.rst)")


class TaskCrashed(DirtError):
    """The worker process died while running the task (the node itself answers)."""


def _worker_loop() -> str:
    """The worker's resident loop (:mod:`dirt.remote_worker`), as source to ship."""
    return resources.files("dirt").joinpath("remote_worker.py").read_text(encoding="utf-8")


_KILL_GROUP = """
import os, signal, time
pid = channel.receive()
for kill in (getattr(os, "killpg", None), os.kill):
    if kill is None:
        continue
    try:
        kill(pid, signal.SIGKILL)
        break
    except OSError:
        pass
for _ in range(50):
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
    except OSError:
        break
    time.sleep(0.02)
channel.send(True)
"""

_PING = "channel.send(True)"


@dataclass
class WorkerInfo:
    """What a worker says about itself when it starts: provenance of the runs it makes."""

    pid: int
    python: str
    platform: str


class Worker:
    """One worker process on a node, reached through the node's master gateway."""

    def __init__(self, gateway: execnet.Gateway, channel: Any, info: WorkerInfo):
        self.gateway = gateway
        self.channel = channel
        self.info = info
        self.seen: set[str] = set()       # sha256 of the sources this worker has compiled


@dataclass
class RunHandle:
    """Shared between the thread running a task and whoever may stop it.

    The runner sets ``started`` once the task is on its way to the worker and
    ``worker`` (its provenance); :meth:`kill` kills the task's process group
    from any thread (the run then ends in TaskCrashed, with ``killed`` set).
    """

    started: float | None = None
    worker: WorkerInfo | None = None
    killed: bool = False
    _killer: Callable[[], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def kill(self) -> None:
        with self._lock:
            self.killed = True
            killer = self._killer
        if killer is not None:
            killer()

    def _arm(self, killer: Callable[[], None]) -> bool:
        """Install the killer; False if a kill came first (then nothing should start)."""
        with self._lock:
            self._killer = killer
            return not self.killed

    def _disarm(self) -> None:
        """The task is over: a late kill must not reach the worker (it may run the next task)."""
        with self._lock:
            self._killer = None


@dataclass
class Shipment:
    """A task's code as shipped to a node: its source, a file name for tracebacks, its sha256."""

    source: str
    filename: str
    sha256: str

    @classmethod
    def of(cls, source: str, filename: str) -> "Shipment":
        return cls(source, filename, hashlib.sha256(source.encode("utf-8")).hexdigest())


class NodeConnection:
    """The execnet connection to one node and its pool of worker processes.

    ``spec`` is an execnet spec (``ssh=host//python=python3``, ``popen``).
    Thread-safe: several threads may call :meth:`run_task` at once.
    """

    def __init__(self, name: str, spec: str, connect_timeout: float = 30.0):
        self.name = name
        self.spec = spec
        self.connect_timeout = connect_timeout
        self.group = _new_group()
        self.master: execnet.Gateway | None = None
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._lost_because: str | None = None   # why close() was called on a live connection
        self._lock = threading.Lock()
        self._sinks: dict[str, OutputSink] = {}

    def __repr__(self) -> str:
        return f"<NodeConnection {self.name}>"

    # -- the master connection -------------------------------------------------------
    def open(self) -> "NodeConnection":
        """Connect (if not connected); NodeUnreachable says why it failed."""
        if self.master is not None:
            return self
        try:
            with _no_sigint():
                self.master = self.group.makegateway(self.spec)
            self._lost_because = None
        except (execnet.HostNotFound, OSError, EOFError, ValueError) as exc:
            if execnet.XSpec(self.spec).ssh:
                # ssh's own words say why (its output is quiet during the real try).
                raise NodeUnreachable(self.name, f"cannot connect over SSH: {ssh_diagnosis(self.spec)}") from None
            raise NodeUnreachable(self.name, f"could not start a Python there: {exc or type(exc).__name__}") from None
        return self

    @property
    def connected(self) -> bool:
        return self.master is not None

    def run_here(self, source: str, kwargs: Any = None, timeout: float = 60.0) -> Any:
        """Run a short module in the master process and return what it sends.

        Used for dirt's own probes (system_info, load, ping), never for user tasks.
        """
        self.open()
        try:
            channel = self.master.remote_exec(source)
            if kwargs is not None:
                try:
                    channel.send(kwargs)
                except OSError:
                    pass   # finished without reading kwargs
            return channel.receive(timeout)
        except execnet.RemoteError as exc:
            raise TaskRaised(exc.formatted) from None
        except execnet.TimeoutError:
            self.close(f"did not answer within {timeout:g} s")
            raise NodeUnreachable(self.name, f"did not answer within {timeout:g} s") from None
        except (OSError, EOFError, AttributeError) as exc:
            self.close(f"connection lost ({exc or type(exc).__name__})")
            raise NodeUnreachable(self.name, f"connection lost ({exc or type(exc).__name__})") from None

    def ping(self, timeout: float = 10.0) -> bool:
        """True if the master still answers within ``timeout`` seconds (the
        connection is left as it is either way: the caller decides)."""
        master = self.master
        if master is None:
            return False
        try:
            return master.remote_exec(_PING).receive(timeout) is True
        except Exception:   # a dead link fails in many ways; all mean "no answer"
            return False

    def close(self, reason: str | None = None) -> None:
        """Drop the connection and every worker (nothing raised). Runs waiting on
        the node end at once, in NodeUnreachable (saying ``reason``, if given)."""
        with self._lock:
            if reason:
                self._lost_because = reason
            self._idle.clear()
            master, self.master = self.master, None
            busy, self._busy = list(self._busy), set()
        for worker in busy:
            # A worker reached through a dead master is never told its link is
            # gone: end the wait of whoever waits on it now.
            _wake(worker.channel)
        if master is not None:
            group, self.group = self.group, _new_group()
            try:
                group.terminate(timeout=2.0)
            except Exception:  # a dead link can fail in many ways; we are closing anyway
                log.debug("closing %s", self.name, exc_info=True)

    # -- workers ---------------------------------------------------------------------
    def _take_worker(self) -> Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            master, group = self.master, self.group
        if master is None:
            raise NodeUnreachable(self.name, self._lost_because or "not connected")
        try:
            gateway = group.makegateway(f"popen//via={master.id}")
            channel = gateway.remote_exec(_worker_loop())
            output = gateway.newchannel()
            output.setcallback(self._on_output)
            channel.send(output)
            info = channel.receive(self.connect_timeout)
        except Exception as exc:  # execnet fails in many ways when the link dies mid-start
            raise self._lost_or_crashed(f"could not start a worker process: {type(exc).__name__}: {exc}")
        return Worker(gateway, channel, WorkerInfo(info["pid"], info["python"], info["platform"]))

    def _on_output(self, message: Any) -> None:
        """In execnet's receiver thread: captured output of a running task."""
        try:
            task_id, chunks = message
        except (TypeError, ValueError):
            log.warning("%s: a worker sent output dirt cannot read: %r", self.name, message)
            return
        sink = self._sinks.get(task_id)
        if sink is not None:
            self._pass_on(sink, chunks)

    def _pass_on(self, sink: OutputSink, chunks: Any) -> None:
        try:
            sink(chunks)
        except Exception:   # a sink's bug must not kill execnet's receiver thread, nor the run
            log.exception("%s: could not pass on a task's output", self.name)

    def _give_back(self, worker: Worker) -> None:
        with self._lock:
            if self.master is not None:
                self._idle.append(worker)
                return
        self._discard(worker)

    def _discard(self, worker: Worker, kill: bool = False) -> None:
        """Forget a worker; with ``kill``, kill its process group on the node first."""
        if kill and self.master is not None:
            try:
                channel = self.master.remote_exec(_KILL_GROUP)
                channel.send(worker.info.pid)
                channel.receive(10)
            except Exception:
                log.debug("killing worker %s on %s", worker.info.pid, self.name, exc_info=True)
        threading.Thread(target=_quiet_exit, args=(worker.gateway,), daemon=True).start()

    def _lost_or_crashed(self, what: str) -> DirtError:
        """After a worker failed: is the node gone, or only the worker?"""
        if self.master is None and self._lost_because:
            return NodeUnreachable(self.name, self._lost_because)
        if self.ping(timeout=10.0):
            return TaskCrashed(f"{what}; the node still answers")
        self.close()
        return NodeUnreachable(self.name, f"connection lost ({what})")

    def run_task(self, task_id: str, code: Shipment, kwargs: Any, timeout: float,
                 env: dict[str, str] | None = None, handle: RunHandle | None = None,
                 on_output: OutputSink | None = None) -> Any:
        """Run a task in a worker and return the object its module sent.

        ``kwargs`` (a dict) is what the module's ``channel.receive()`` gives;
        modules that take no arguments never ask. ``on_output``, if given,
        receives the task's captured stdout and stderr as ``[(time, text)]``
        chunks while it runs (in execnet's receiver thread: it must not block),
        all of them before this returns. Raises TaskRaised, TaskTimedOut,
        NoResult, TaskCrashed or NodeUnreachable.
        """
        handle = handle or RunHandle()
        worker = self._take_worker()
        if not handle._arm(lambda: self._discard(worker, kill=True)):
            self._give_back(worker)
            raise TaskCrashed("the task was stopped before it started")
        job = {"id": task_id, "sha": code.sha256, "filename": code.filename, "kwargs": kwargs or {},
               "env": env or {}, "capture": on_output is not None,
               "source": None if code.sha256 in worker.seen else code.source}
        if on_output is not None:
            self._sinks[task_id] = on_output
        handle.worker = worker.info
        handle.started = time.time()
        with self._lock:
            self._busy.add(worker)
        try:
            worker.channel.send(job)
            worker.seen.add(code.sha256)
            reply = worker.channel.receive(timeout)
        except execnet.TimeoutError:
            self._discard(worker, kill=True)
            raise TaskTimedOut(timeout) from None
        except (OSError, EOFError, execnet.RemoteError) as exc:
            self._discard(worker, kill=True)
            if handle.killed:
                raise TaskCrashed("the task was killed") from None
            raise self._lost_or_crashed(f"the worker process ended without a result ({exc or type(exc).__name__})")
        finally:
            handle._disarm()
            self._sinks.pop(task_id, None)
            with self._lock:
                self._busy.discard(worker)
        self._give_back(worker)
        if isinstance(reply, dict) and reply.get("output") and on_output is not None:
            self._pass_on(on_output, reply["output"])   # what it printed last came with the reply
        op = reply.get("op") if isinstance(reply, dict) else None
        if op == "done":
            return reply.get("result")
        if op == "raised":
            raise TaskRaised(reply.get("traceback") or "")
        if op == "no_result":
            raise NoResult()
        if op == "unsendable":
            raise TaskRaised(f"the task sent back a {reply.get('kind')}, which cannot be sent from the node "
                             f"(send dicts, lists, strings, numbers, booleans, None or bytes): {reply.get('error')}")
        raise TaskCrashed(f"the worker answered {reply!r}")


@contextlib.contextmanager
def _no_sigint():
    """Start child processes with SIGINT blocked.

    Ctrl-C in a terminal signals the whole process group; without this the
    node's gateway process (the local Python, or the ssh client) would die
    with it and take running tasks along, while ``dirt serve`` itself wants
    to let them finish.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _new_group() -> execnet.Group:
    """An execnet group that dirt terminates itself (:meth:`NodeConnection.close`).

    execnet would terminate it again at exit, and for a link that died, fail
    noisily on stderr; at exit the node's processes end anyway, when their
    connection closes.
    """
    group = execnet.Group()
    atexit.unregister(group._cleanup_atexit)
    return group


def _wake(channel: Any) -> None:
    """Make a pending ``receive`` on ``channel`` end in EOFError, as when its gateway ends."""
    try:
        channel.gateway._channelfactory._local_close(channel.id)
    except Exception:
        log.debug("could not wake %r", channel, exc_info=True)


def _quiet_exit(gateway: execnet.Gateway) -> None:
    try:
        gateway.exit()
    except Exception:
        pass


def ssh_diagnosis(spec: str) -> str:
    """Why ssh fails for ``spec``, in ssh's own words (a second, captured try)."""
    xspec = execnet.XSpec(spec)
    if not xspec.ssh:
        return "the gateway could not start"
    args = ["ssh"] + (["-F", str(xspec.ssh_config)] if xspec.ssh_config else [])
    args += xspec.ssh.replace("-o LogLevel=QUIET", "").split() + ["exit"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"ssh did not run: {exc}"
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == 0:
        return "ssh works, but Python could not be started there (is the node's python installed?)"
    return (lines[-1] if lines else f"ssh exited with status {done.returncode}") + \
        " (check the host name, your ssh config and keys)"
