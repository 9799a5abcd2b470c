"""A node on a network of its own: sshd in a Linux network namespace, reached over a veth pair.

Cutting the link (:meth:`NetnsHost.cut`) drops every packet without a reset,
as a pulled cable or a dead router does, which a loopback sshd cannot show:
killing a loopback sshd resets its connections at once. Needs root and
iproute2 (``ip netns``), as CI has; :func:`available` says whether this
machine can.
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from pathlib import Path

from servers import SshHost

_counter = itertools.count(1)


def available() -> str | None:
    """None if network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "iproute2 (the ip command) is not installed"
    probe = f"dirtprobe{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"ip netns add failed: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class NetnsHost(SshHost):
    """An sshd inside namespace ``dirtN``, at 10.77.N.2, aliased as ``alias`` in ``ssh_config``."""

    def __init__(self, workdir: Path, alias: str):
        self.index = next(_counter)
        tag = f"{os.getpid() % 100000}x{self.index}"
        self.ns = f"dirt{tag}"
        self.host_if, self.ns_if = f"vh{tag}", f"vn{tag}"        # at most 15 characters
        self.subnet = f"10.{77 + (os.getpid() % 100)}.{self.index % 250}"
        super().__init__(workdir, [alias], port=22)
        config = self.sshd_config.read_text().replace("ListenAddress 127.0.0.1", f"ListenAddress {self.subnet}.2")
        self.sshd_config.write_text(config)
        self.ssh_config.write_text(self.config_block(alias).replace("HostName 127.0.0.1",
                                                                      f"HostName {self.subnet}.2"))

    def start(self) -> "NetnsHost":
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.ns)
        _ip("addr", "add", f"{self.subnet}.1/30", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("netns", "exec", self.ns, "ip", "addr", "add", f"{self.subnet}.2/30", "dev", self.ns_if)
        _ip("netns", "exec", self.ns, "ip", "link", "set", self.ns_if, "up")
        _ip("netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, sshd, "-D", "-e", "-f", str(self.sshd_config)],
                                     stdout=open(self.workdir / "sshd.log", "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while subprocess.run(["ip", "netns", "exec", self.ns, "bash", "-c", f"exec 3<>/dev/tcp/{self.subnet}.2/22"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd in {self.ns} did not start: {(self.workdir / 'sshd.log').read_text()}")
            time.sleep(0.05)
        return self

    def cut(self) -> None:
        """Drop the link: packets vanish, no connection is reset."""
        _ip("link", "set", self.host_if, "down")

    def kill(self) -> None:
        super().kill()
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    stop = kill
