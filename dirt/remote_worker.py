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

import codecs, io, linecache, os, platform, shutil, sys, tempfile, threading, time, traceback

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
    """fds 1 and 2 into a pipe while a task runs. What comes is sent on `output` every
    0.25 s (by the one ticker of this process), and what came last goes with the task's
    reply (one message fewer for a short task).

    Cheap per line: the task's `sys.stdout`/`sys.stderr` are line-buffered while it
    runs (execnet starts workers with `python -u`, which makes every `print` two
    writes), and the reader lets a trickle of small writes gather before it reads
    again, so a burst of prints is a few reads, not one wake-up per line."""

    GATHER = 0.01     # seconds the reader waits after a small read for more to come

    def __init__(self, task_id):
        self.task_id = task_id
        self.read_fd, write_fd = os.pipe()
        self.streams = sys.stdout, sys.stderr
        for stream in self.streams:
            try:
                stream.flush()
            except Exception:
                pass
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        sys.stdout, sys.stderr = [line_buffered(fd, stream) for fd, stream in ((1, self.streams[0]),
                                                                              (2, self.streams[1]))]
        self.pending = []
        self.closed = False
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.thread = threading.Thread(target=self.read)
        self.thread.daemon = True
        self.thread.start()
        current[0] = self
        capturing.set()

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
                return
            if len(data) < 4096:
                self.stopping.wait(self.GATHER)

    def flush(self):
        with self.lock:
            chunks, self.pending = self.pending, []
            if chunks and not self.closed:
                try:
                    output.send((self.task_id, chunks))
                except Exception:
                    pass

    def stop(self):
        """Stop capturing; return what was captured and not sent yet, for the reply."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        sys.stdout, sys.stderr = self.streams
        self.stopping.set()
        os.dup2(devnull, 1)   # the task's (and its children's) last writer closes: EOF on the pipe
        os.dup2(devnull, 2)
        self.thread.join(5.0)
        if not self.thread.is_alive():   # else a process the task left behind holds the pipe: leave it be
            os.close(self.read_fd)
        current[0] = None
        capturing.clear()
        with self.lock:
            self.closed = True           # no flush can go out after the reply
            chunks, self.pending = self.pending, []
        return chunks


def line_buffered(fd, like):
    """A text stream on `fd` that writes at each end of line, encoding as `like` does."""
    return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)),   # writes all, even if cut short
                            encoding=getattr(like, "encoding", None) or "utf-8",
                            errors=getattr(like, "errors", None) or "backslashreplace", line_buffering=True)


current = [None]               # the capture of the task running now, if any
capturing = threading.Event()  # set while there is one: an idle worker's ticker sleeps


def tick():
    while True:
        capturing.wait()
        time.sleep(0.25)
        capture = current[0]
        if capture is not None:
            capture.flush()


ticker = threading.Thread(target=tick)
ticker.daemon = True
ticker.start()


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
