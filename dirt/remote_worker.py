"""A dirt worker: the resident loop of a worker process on a node.

This file is shipped to nodes as source (by :mod:`dirt.runner`, which reads
it as text) and runs there under execnet, once per worker process, with
``channel`` given by execnet; it is never imported by dirt itself. It runs
one task per message: it restores the working directory, environment and
``sys.path`` the process started with, makes a fresh temporary directory,
captures file descriptors 1 and 2 into a pipe (sending what comes on the
output channel every 0.25 s), runs the task module as the 2012 docs describe
(``__name__ == '__channelexec__'``, a ``channel`` whose ``receive()`` gives
the kwargs and whose ``send()`` gives dirt the result), and answers with one
message. Only the standard library is used: nodes need nothing but Python.
"""
# flake8: noqa: F821  (``channel`` is provided by execnet)
if __name__ != "__channelexec__":
    raise ImportError("dirt.remote_worker runs in worker processes on nodes, under execnet; it is not imported")

import codecs, hashlib, linecache, os, platform, shutil, sys, tempfile, threading, time, traceback

orig_cwd, orig_env, orig_path = os.getcwd(), dict(os.environ), list(sys.path)
workdir = [None]
try:
    os.setsid()   # a process group of its own: killing it kills what the task started
except (AttributeError, OSError):
    pass
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 1)   # outside a task, stray output goes nowhere (never to dirt serve's terminal)
os.dup2(devnull, 2)


def clean():
    if workdir[0]:
        os.chdir(orig_cwd)
        shutil.rmtree(workdir[0], ignore_errors=True)
        workdir[0] = None


import atexit
atexit.register(clean)
output = channel.receive()   # the channel that carries captured output back
channel.send({"pid": os.getpid(), "python": platform.python_version(), "platform": platform.platform()})


class TaskChannel(object):
    """The `channel` a task module sees: receive() gives its kwargs, send() its result."""

    def __init__(self, kwargs, gateway):
        self.gateway = gateway
        self._kwargs = [kwargs]
        self.results = []

    def receive(self, timeout=None):
        if not self._kwargs:
            raise EOFError("dirt sends a task one message: its kwargs")
        return self._kwargs.pop()

    def send(self, item):
        self.results.append(item)

    def isclosed(self):
        return False

    def close(self, error=None):
        pass


class Capture(object):
    """fds 1 and 2 into a pipe while a task runs; what comes is sent on `output` every 0.25 s,
    and what came last goes with the task's reply (one message fewer for a short task)."""

    def __init__(self, task_id):
        self.task_id = task_id
        self.read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.pending = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.thread = threading.Thread(target=self.read)
        self.thread.daemon = True
        self.thread.start()
        self.ticker = threading.Thread(target=self.tick)
        self.ticker.daemon = True
        self.ticker.start()

    def read(self):
        while True:
            try:
                data = os.read(self.read_fd, 65536)
            except OSError:
                data = b""
            text = self.decoder.decode(data, final=not data)
            with self.lock:
                if text:
                    self.pending.append((time.time(), text))
            if not data:
                self.done.set()
                return

    def tick(self):
        while not self.done.wait(0.25):
            self.flush()

    def flush(self):
        with self.lock:
            chunks, self.pending = self.pending, []
            if chunks:
                try:
                    output.send((self.task_id, chunks))
                except Exception:
                    pass

    def stop(self):
        """Stop capturing; return what was captured and not sent yet, for the reply."""
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os.dup2(devnull, 1)   # the task's (and its children's) last writer closes: EOF on the pipe
        os.dup2(devnull, 2)
        self.thread.join(5.0)
        if not self.thread.is_alive():   # else a process the task left behind holds the pipe: leave it be
            os.close(self.read_fd)
        self.done.set()
        self.ticker.join(1.0)            # no flush can go out after the reply
        with self.lock:
            chunks, self.pending = self.pending, []
        return chunks


codes = {}
while True:
    try:
        job = channel.receive()
    except EOFError:
        break
    if job is None:
        break
    clean()
    os.environ.clear()
    os.environ.update(orig_env)
    sys.path[:] = orig_path
    workdir[0] = tempfile.mkdtemp(prefix="dirt-task-")
    os.chdir(workdir[0])
    for key, value in job["env"].items():
        os.environ[key] = value.replace("\0", "")   # an environment cannot hold NUL
    task_channel = TaskChannel(job["kwargs"], channel.gateway)
    capture = Capture(job["id"]) if job.get("capture") else None
    reply, rest = None, []
    try:
        if job.get("source") is not None:
            source = job["source"]
            linecache.cache[job["filename"]] = (len(source), None, source.splitlines(True), job["filename"])
            codes[job["sha"]] = compile(source, job["filename"], "exec")
        exec(codes[job["sha"]], {"__name__": "__channelexec__", "channel": task_channel})
    except BaseException:
        kind, value, tb = sys.exc_info()
        reply = {"op": "raised", "traceback": "".join(traceback.format_exception(kind, value, tb.tb_next))}
    finally:
        if capture is not None:
            rest = capture.stop()
    if reply is None:
        reply = {"op": "done", "result": task_channel.results[0]} if task_channel.results else {"op": "no_result"}
    if rest:
        reply["output"] = rest
    try:
        channel.send(reply)
    except Exception as exc:
        channel.send({"op": "unsendable", "error": "%s: %s" % (type(exc).__name__, exc),
                      "kind": type(task_channel.results[0]).__name__})
