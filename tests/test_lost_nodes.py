"""A node whose link is cut mid-task, with no ssh keepalives: found by dirt's own pings.

The node is an sshd in a network namespace; cutting its veth link drops
packets without resetting the connection, as a dead network does. The user's
ssh sends no keepalives (``ssh_keepalive`` is set to an hour), so only dirt's
pings of busy nodes (``busy_ping_interval``, ``ping_timeout``) can notice.
"""
from __future__ import annotations

import time

import pytest

import netns
from dirt_run import BackgroundServer, add_nodes, wait_for

WHY_NOT = netns.available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"no network namespaces here: {WHY_NOT}")

SLOW = """
import os, time
if __name__ == '__channelexec__':
    kwargs = channel.receive()
    open(kwargs['started'], 'a').write(os.environ['DIRT_TASK_ID'] + '\\n')
    time.sleep(120)
    channel.send({'success': True})
"""


def test_a_cut_link_is_noticed_and_its_task_requeued_within_10_s(project, tmp_path, monkeypatch):
    host = netns.NetnsHost(tmp_path / "cutnode", "cutnode").start()
    try:
        monkeypatch.setenv("DIRT_SSH_CONFIG", str(host.ssh_config))
        project.set(ssh_keepalive=3600)
        add_nodes(project, "cutnode")
        project.write_task("slow", SLOW)
        started = tmp_path / "started"
        task = project.add_task("slow", kwargs={"started": str(started)})
        with BackgroundServer(project):
            wait_for(lambda: started.exists() and project.task(task).get("state") == "running", timeout=60,
                     what="the task to start on the namespaced node")
            cut = time.monotonic()
            host.cut()
            doc = wait_for(lambda: (lambda d: d if d.get("state") == "waiting" else None)(project.task(task)),
                           timeout=30, interval=0.1, what="the task to go back to waiting")
            noticed = time.monotonic() - cut
        lost = doc["attempts"][-1]
        assert lost["outcome"] == "node_lost" and lost["reason"].startswith(
            "node cutnode was lost: stopped answering (no reply to a ping within 5 s)")
        assert doc["reason"].startswith(("every matching node is down: cutnode", "node cutnode was lost"))
        assert noticed <= 10.0, f"the cut link was noticed after {noticed:.1f} s"
        node = project.db.get("node:cutnode")
        assert node["status"] == "down"
    finally:
        host.kill()
