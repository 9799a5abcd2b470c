"""Nodes over real SSH: `dirt updatenodes` against a real sshd, tasks run
through it, and one SSH connection per node, opened once and reused.

node1..node3 are aliases (in a generated ssh config named by DIRT_SSH_CONFIG)
for the session's sshd on a loopback port; tests that count connections or
need a host that refuses start their own.
"""
from __future__ import annotations

import re

import pytest

from dirt_run import BackgroundServer, add_nodes, run_dirt, serve_until_idle, wait_for
from servers import SshHost, free_port


def node_docs(project) -> dict[str, dict]:
    rows = project.db.all_docs(include_docs=True)["rows"]
    return {r["id"]: r["doc"] for r in rows if r["doc"].get("type") == "node"}


def test_updatenodes_over_ssh_makes_one_document_per_host_and_never_duplicates(project, ssh_env):
    done = run_dirt("updatenodes", "node1", "node2", cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "updated node1" in done.stdout and "updated node2" in done.stdout
    first = node_docs(project)
    assert set(first) == {"node:node1", "node:node2"}
    for name in ("node1", "node2"):
        doc = first[f"node:{name}"]
        assert doc["name"] == name and doc["enabled"] is True and doc["status"] == "up"
        assert doc["spec"].startswith("ssh=") and f" {name}//python=python3" in doc["spec"]
        info = doc["sys_info"]
        assert info["cpu_count"] >= 1 and info["hostname"] and info["version_info"].startswith("3.")
        assert {"platform", "architecture", "environ", "path", "pythonpath", "fqdn", "ip"} <= set(info)

    again = run_dirt("updatenodes", "node2", "node1", cwd=project.root)
    assert again.returncode == 0, again.stderr
    second = node_docs(project)
    assert set(second) == set(first)
    for doc_id, doc in second.items():
        assert doc["_rev"] != first[doc_id]["_rev"] and doc["created"] == first[doc_id]["created"]


def test_unreachable_hosts_get_one_line_each_and_the_others_are_still_updated(project, ssh_hosts, tmp_path,
                                                                              monkeypatch):
    closed = free_port()
    config = tmp_path / "ssh_config"
    config.write_text(ssh_hosts.ssh_config.read_text() +
                      ssh_hosts.config_block("deadnode").replace(f"Port {ssh_hosts.port}", f"Port {closed}"))
    monkeypatch.setenv("DIRT_SSH_CONFIG", str(config))

    done = run_dirt("updatenodes", "node1", "nosuchhost.invalid", "deadnode", "node2", cwd=project.root)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, done.stderr
    (dns,) = [line for line in errors if "nosuchhost.invalid" in line]
    assert "Could not resolve hostname" in dns
    (refused,) = [line for line in errors if "deadnode" in line]
    assert "Connection refused" in refused and str(closed) in refused
    assert "2 of 4 nodes could not be updated: nosuchhost.invalid, deadnode" in done.stderr
    assert "updated node1" in done.stdout and "updated node2" in done.stdout
    assert set(node_docs(project)) == {"node:node1", "node:node2"}


def test_tasks_run_on_ssh_nodes_and_their_results_land(project, ssh_env):
    add_nodes(project, "node1", "node2")
    project.write_task("where", """
        import os, socket
        if __name__ == '__channelexec__':
            channel.send({'success': True, 'task': os.environ['DIRT_TASK_ID'], 'cwd': os.getcwd(),
                          'ssh': os.environ.get('SSH_CONNECTION', '')})
    """)
    with BackgroundServer(project) as scheduler:
        wait_for(lambda: all(n.ready for n in scheduler.pool.nodes.values()) and len(scheduler.pool.nodes) == 2,
                 what="both nodes to connect")
        plain = [project.add_task("examples.simple") for _ in range(6)]
        kwargs = project.add_task("examples.kwargs", kwargs={"foo": 1, "bar": "x"})
        files = project.add_task("examples.attachments")
        where = project.add_task("where")
        ids = plain + [kwargs, files, where]
        wait_for(lambda: all(project.task(t).get("state") == "passed" for t in ids), timeout=60,
                 interval=0.2, what="every task to pass")

    docs = [project.task(t) for t in plain]
    assert all(d["state"] == "passed" and d["results"]["sum"] == 4 for d in docs)
    assert {d["node"] for d in docs} == {"node1", "node2"}        # round robin spreads them
    assert project.task(kwargs)["results"]["foo"] == 1
    doc = project.task(files)
    assert doc["state"] == "passed" and set(doc["_attachments"]) == {"report.txt", "data.csv"}
    assert project.db.get_attachment(files, "data.csv") == b"x,y\n1,2\n3,4\n"
    doc = project.task(where)
    assert doc["results"]["task"] == where
    assert doc["results"]["ssh"].startswith("127.0.0.1 ")          # it really ran through sshd
    assert doc["results"]["cwd"].rsplit("/", 1)[-1].startswith("dirt-task-")


@pytest.fixture
def counted_host(tmp_path, ssh_hosts, monkeypatch):
    """A fresh sshd (alias "counted") that logs every accepted connection."""
    host = SshHost(tmp_path / "sshd-counted", ["counted"])
    host.sshd_config.write_text(host.sshd_config.read_text().replace("LogLevel ERROR", "LogLevel INFO"))
    host.start()
    config = tmp_path / "ssh_config"
    config.write_text(ssh_hosts.ssh_config.read_text() + host.ssh_config.read_text())
    monkeypatch.setenv("DIRT_SSH_CONFIG", str(config))
    yield host
    host.kill()


def accepted(host: SshHost) -> int:
    """How many SSH connections the host's sshd has accepted so far."""
    return len(re.findall(r"^Accepted publickey for ", (host.workdir / "sshd.log").read_text(), re.M))


def test_one_ssh_connection_per_node_is_opened_once_and_reused(project, counted_host):
    add_nodes(project, "counted")
    assert accepted(counted_host) == 1            # updatenodes' probe
    project.write_task("pid", """
        import os
        if __name__ == '__channelexec__':
            channel.send({'success': True, 'pid': os.getpid(), 'ppid': os.getppid()})
    """)
    first = [project.add_task("pid") for _ in range(10)]
    serve_until_idle(project)
    second = [project.add_task("pid") for _ in range(10)]
    serve_until_idle(project)
    docs = [project.task(t) for t in first + second]
    assert all(d["state"] == "passed" and d["node"] == "counted" for d in docs)
    # Twenty tasks, two `dirt serve` runs: one connection each, not one per task.
    assert accepted(counted_host) == 3
    # Each run's workers hang off the one master process its connection
    # started, and are reused: at most one per slot, not one per task.
    slots = project.db.get("node:counted")["sys_info"]["cpu_count"]
    for docs_of_run in (docs[:10], docs[10:]):
        assert len({d["results"]["ppid"] for d in docs_of_run}) == 1
        assert len({d["results"]["pid"] for d in docs_of_run}) <= slots


def test_execnet_spec_strings_are_accepted_as_given(project, ssh_env):
    done = run_dirt("updatenodes", "ssh=node1//python=python3", "popen//python=python3", cwd=project.root)
    assert done.returncode == 0, done.stderr
    docs = node_docs(project)
    assert set(docs) == {"node:ssh=node1//python=python3", "node:popen//python=python3"}
    assert docs["node:popen//python=python3"]["spec"] == "popen//python=python3"
    ssh_spec = docs["node:ssh=node1//python=python3"]["spec"]
    assert ssh_spec.startswith("ssh=") and "node1//python=python3" in ssh_spec
    assert "ServerAliveInterval=1" in ssh_spec              # a dead link is noticed, not waited on forever

    again = run_dirt("updatenodes", "popen//python=python3", cwd=project.root)
    assert again.returncode == 0 and len(node_docs(project)) == 2

    # Each runs tasks (the other one disabled meanwhile).
    names = ["ssh=node1//python=python3", "popen//python=python3"]
    for name, other in (names, names[::-1]):
        for node_name, enabled in ((name, True), (other, False)):
            doc = project.db.get(f"node:{node_name}")
            doc["enabled"] = enabled
            project.db.save(doc)
        tasks = [project.add_task("examples.simple") for _ in range(2)]
        serve_until_idle(project)
        for task in tasks:
            doc = project.task(task)
            assert doc["state"] == "passed" and doc["node"] == name
