"""Running code on a node with execnet: the only module that touches execnet.

A :class:`NodeConnection` holds one *master* gateway per node (an SSH
connection, or a local process for ``localhost``/``popen``), opened once and
kept. Tasks never run in the master: each runs in a *worker* process that the
master starts on the node (an execnet ``popen//via=master`` gateway), so no
task pays an SSH handshake and two tasks running at once never share a process.
A worker runs one task at a time and is reused for later ones: before each
task it gets back its original working directory, environment and
``sys.path``, and each task runs in a fresh temporary directory, removed when
the worker starts its next task or exits. A
worker whose task timed out or crashed is killed (with any processes the task
started) and replaced.

Failures are reported as exceptions carrying what a person needs:
:class:`TaskRaised` (the remote traceback), :class:`TaskTimedOut`,
:class:`TaskCrashed` (the worker died, the node is fine) and
:class:`~dirt.errors.NodeUnreachable` (the node or its connection is gone).
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import re
import signal
import subprocess
import threading
from typing import Any

import execnet

from .errors import DirtError, NodeUnreachable

log = logging.getLogger(__name__)


class TaskRaised(DirtError):
    """The task's code raised; ``traceback`` is the remote traceback text."""

    def __init__(self, traceback: str, source: str | None = None, filename: str | None = None):
        self.traceback = readable_traceback(traceback, source, filename)
        last = self.traceback.splitlines()[-1] if self.traceback else "unknown error"
        super().__init__(f"the task raised {last}")


class TaskTimedOut(DirtError):
    """The task ran longer than its timeout and was killed."""

    def __init__(self, seconds: float):
        super().__init__(f"the task ran longer than its timeout of {seconds:g} s and was killed")
        self.seconds = seconds


class TaskCrashed(DirtError):
    """The worker process died while running the task (the node itself answers)."""


# Runs once in every new worker: remember what to restore between tasks, and
# become a process group leader so a timed-out task's children die with it.
_WORKER_INIT = """
import atexit, os, shutil, sys, types
state = types.ModuleType("_dirt_worker")
state.cwd = os.getcwd()
state.environ = dict(os.environ)
state.path = list(sys.path)
state.workdir = None
sys.modules["_dirt_worker"] = state
atexit.register(lambda: state.workdir and shutil.rmtree(state.workdir, ignore_errors=True))
try:
    os.setsid()
except (AttributeError, OSError):
    pass
# A task's (and its programs') stray stderr must not land in dirt serve's terminal.
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 2)
os.close(devnull)
channel.send(os.getpid())
"""

# Before each task: put back what the previous task changed (working
# directory, environment, sys.path) and remove its directory, then make a
# fresh directory and set the task's environment. Doing the clean-up here,
# not after each task, saves a round trip per task.
_TASK_SETUP = """
import os, shutil, sys, tempfile, _dirt_worker as state
env = channel.receive()
if state.workdir:
    os.chdir(state.cwd)
    os.environ.clear()
    os.environ.update(state.environ)
    sys.path[:] = state.path
    shutil.rmtree(state.workdir, ignore_errors=True)
state.workdir = tempfile.mkdtemp(prefix="dirt-task-")
os.chdir(state.workdir)
os.environ.update(env)
channel.send(state.workdir)
"""

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


class Worker:
    """One worker process on a node, reached through the node's master gateway."""

    def __init__(self, gateway: execnet.Gateway, pid: int):
        self.gateway = gateway
        self.pid = pid


class NodeConnection:
    """The execnet connection to one node and its pool of worker processes.

    ``spec`` is an execnet spec (``ssh=host//python=python3``, ``popen``).
    Thread-safe: several runner threads may call :meth:`run_task` at once.
    """

    def __init__(self, name: str, spec: str, connect_timeout: float = 30.0):
        self.name = name
        self.spec = spec
        self.connect_timeout = connect_timeout
        self.group = execnet.Group()
        self.master: execnet.Gateway | None = None
        self._idle: list[Worker] = []
        self._lock = threading.Lock()

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

        Used for dirt's own probes (system_info, load), never for user tasks.
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
            self.close()
            raise NodeUnreachable(self.name, f"did not answer within {timeout:g} s") from None
        except (OSError, EOFError) as exc:
            self.close()
            raise NodeUnreachable(self.name, f"connection lost ({exc or type(exc).__name__})") from None

    def ping(self, timeout: float = 10.0) -> bool:
        """True if the master still answers within ``timeout`` seconds."""
        if self.master is None:
            return False
        try:
            return self.run_here(_PING, timeout=timeout) is True
        except DirtError:
            return False

    def close(self) -> None:
        """Drop the connection and every worker (nothing raised)."""
        with self._lock:
            self._idle.clear()
            master, self.master = self.master, None
        if master is not None:
            group, self.group = self.group, execnet.Group()
            try:
                group.terminate(timeout=2.0)
            except Exception:  # a dead link can fail in many ways; we are closing anyway
                log.debug("closing %s", self.name, exc_info=True)
            # Done with it: execnet would try (and, for a dead link, fail
            # noisily) to terminate it again at exit.
            atexit.unregister(group._cleanup_atexit)

    # -- workers ---------------------------------------------------------------------
    def _take_worker(self) -> Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            master = self.master
        if master is None:
            raise NodeUnreachable(self.name, "not connected")
        try:
            gateway = self.group.makegateway(f"popen//via={master.id}")
            pid = gateway.remote_exec(_WORKER_INIT).receive(self.connect_timeout)
        except Exception as exc:  # execnet fails in many ways when the link dies mid-start
            raise self._lost_or_crashed(f"could not start a worker process: {type(exc).__name__}: {exc}")
        return Worker(gateway, pid)

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
                channel.send(worker.pid)
                channel.receive(10)
            except Exception:
                log.debug("killing worker %s on %s", worker.pid, self.name, exc_info=True)
        threading.Thread(target=_quiet_exit, args=(worker.gateway,), daemon=True).start()

    def _lost_or_crashed(self, what: str) -> DirtError:
        """After a worker failed: is the node gone, or only the worker?"""
        if self.ping(timeout=10.0):
            return TaskCrashed(f"{what}; the node still answers")
        self.close()
        return NodeUnreachable(self.name, f"connection lost ({what})")

    def run_task(self, source: str, kwargs: Any, timeout: float, env: dict[str, str] | None = None,
                 handle: Any = None, filename: str = "<task>") -> Any:
        """Run task ``source`` in a worker and return the object it sends back.

        ``kwargs`` (a dict, sent to the task before it runs) is what the
        seed's kwargs contract receives; tasks that take no arguments ignore
        it. Raises TaskRaised, TaskTimedOut, TaskCrashed or NodeUnreachable.
        ``handle``, if given, gets ``started = True`` once the task's code is
        sent, and a ``killer`` that kills the task's worker from another thread
        (the task then ends in TaskCrashed). ``filename`` names the task's
        file in tracebacks.
        """
        worker = self._take_worker()
        if handle is not None:
            handle.killer = lambda: self._discard(worker, kill=True)
        try:
            setup = worker.gateway.remote_exec(_TASK_SETUP)
            setup.send(env or {})
            setup.receive(self.connect_timeout)
            channel = worker.gateway.remote_exec(source)
            if handle is not None:
                handle.started = True
            try:
                channel.send(kwargs if kwargs is not None else {})
            except OSError:
                pass   # the task finished without reading kwargs; its result is queued
            result = channel.receive(timeout)
        except execnet.RemoteError as exc:
            self._give_back(worker)
            raise TaskRaised(exc.formatted, source, filename) from None
        except execnet.TimeoutError:
            self._discard(worker, kill=True)
            raise TaskTimedOut(timeout) from None
        except (OSError, EOFError) as exc:
            self._discard(worker, kill=True)
            raise self._lost_or_crashed(f"the worker process ended without a result ({exc or type(exc).__name__})")
        self._give_back(worker)
        return result


def readable_traceback(text: str, source: str | None, filename: str | None) -> str:
    """A remote traceback with execnet's own frame removed and the task's
    frames naming its file and showing its source lines."""
    lines = source.splitlines() if source else []
    out = []
    skip_next = False
    for line in text.strip().splitlines():
        if skip_next:
            skip_next = False
            if line.startswith("    "):
                continue
        match = _FRAME.match(line)
        if match and match.group(1) == "<string>" and "executetask" in line:
            skip_next = True
            continue
        if match and match.group(1) == "<remote exec>" and filename:
            out.append(line.replace('"<remote exec>"', f'"{filename}"'))
            number = int(match.group(2))
            if 0 < number <= len(lines):
                out.append("    " + lines[number - 1].strip())
            continue
        out.append(line)
    return "\n".join(out)


_FRAME = re.compile(r'\s*File "([^"]+)", line (\d+)')


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
