"""Run a task module by hand, the way dirt serve does, and print its result.

Usage, from a project directory: PYTHONPATH=. python run_task.py [HOST]
Without HOST the task runs in a local Python process; with one, over SSH.
"""
import sys

import execnet

from tasks.examples import kwargs, simple

spec = f"ssh={sys.argv[1]}//python=python3" if len(sys.argv) > 1 else "popen"
gateway = execnet.makegateway(spec)
try:
    channel = gateway.remote_exec(simple)
    print("simple:", channel.receive())

    channel = gateway.remote_exec(kwargs)
    channel.send({"foo": 42, "bar": "baz"})
    print("kwargs:", channel.receive())
finally:
    gateway.exit()
