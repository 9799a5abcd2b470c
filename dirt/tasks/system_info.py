"""Returns useful system information from os, sys, platform and socket.

Run on a node by ``dirt updatenodes``; the dict it sends back becomes the
node document's ``sys_info``, which task ``requires`` rules are read against.
Environment values whose names look secret (tokens, passwords, keys) are
replaced by ``"<hidden>"`` here, on the node, so they never travel or get
stored; the names stay, so ``"AWS_SECRET_KEY in environ"`` still works.
"""
import multiprocessing
import os
import platform
import re
import socket
import sys

SECRET_NAME = re.compile(r"(PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE)", re.I)


def execute():
    """Get some basic system information."""
    environ = {}
    for name, value in os.environ.items():
        environ[name] = "<hidden>" if SECRET_NAME.search(name) else value
    fqdn = socket.getfqdn()
    try:
        ip = socket.gethostbyname(fqdn)
    except OSError:
        ip = ""
    return {
        "success": True,
        "cpu_count": multiprocessing.cpu_count(),
        "platform": platform.platform(),
        "sys_platform": sys.platform,
        "architecture": platform.machine(),
        "environ": environ,
        "path": os.environ.get("PATH", "").split(os.path.pathsep),
        "version_info": ".".join(str(part) for part in sys.version_info),
        "python": sys.executable,
        "pythonpath": list(sys.path),
        "hostname": socket.gethostname(),
        "fqdn": fqdn,
        "ip": ip,
    }


if __name__ == "__channelexec__":
    channel.send(execute())  # noqa: F821 (execnet provides channel)

if __name__ == "__main__":
    print(execute())
