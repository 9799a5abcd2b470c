"""The seed's "Example Project", followed as a user would, with real processes.

`dirt create builder`, `egret push`, `dirt updatenodes localhost`, the seed's
compile_hello task (cloning a local git repository instead of GitHub),
`dirt serve`, and the record and task POSTed to `_bulk_docs` as with curl.
Run against pouchdb-server and against a server with an admin password.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from dirt_run import wait_for

COMPILE_HELLO = '''
import os
import subprocess

def system(cmd, wd=None):
    """a wrapper for subprocess.call, which executes cmd in working directory
    wd in a bash shell, returning the exit code."""
    if wd:
        cmd = ('cd %s && ' % wd) + cmd
    return subprocess.call([cmd], executable='/bin/bash', shell=True)

def execute():
    results = {'success': True, 'attachments': []}
    wd = 'builder_stuff'
    if not os.path.exists(wd):
        os.mkdir(wd)
    url = REPO_URL
    cmd = 'git clone ' + url
    ret = system(cmd, wd)
    if ret != 0:
        results['success'] = False
        results['reason'] = 'git clone failed'
        return results
    cmd = 'cd hello-world/c && g++ -v -o hello c++.cpp &> build.log'
    ret = system(cmd, wd)
    if ret != 0:
        results['success'] = False
        results['reason'] = 'g++ failed'
        return results
    logfile = {}
    with open(wd + '/hello-world/c/build.log','r') as f:
        logfile = {'filename': 'build.log', 'contents': f.read(), 'link_name': 'Build log'}
    results['attachments'].append(logfile)
    return results

if __name__ == '__channelexec__':
    results = execute()
    channel.send(results)

if __name__ == '__main__':
    print(execute())
'''

R123 = {"docs": [
    {"_id": "r123", "type": "record", "description": "this is revision one two three", "created": 1315347385},
    {"_id": "2e3dabbff38ca7f6fa05c5a0cbbc95a5", "type": "task", "record_id": "r123", "name": "compile_hello",
     "platform": "linux", "created": 1315347385},
]}


@pytest.fixture(scope="module")
def hello_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repos") / "hello-world"
    (repo / "c").mkdir(parents=True)
    (repo / "c" / "c++.cpp").write_text('#include <iostream>\nint main() { std::cout << "Hello World" << std::endl; }\n')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "hello"]):
        subprocess.run(git + cmd, cwd=repo, check=True)
    return repo


def run(args, cwd, env, **kwargs):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.mark.parametrize("server", ["couch", "secure_couch"])
def test_seed_example_project(server, request, tmp_path, hello_repo):
    couch = request.getfixturevalue(server)
    dbname = f"builder{int(time.time() * 1000) % 10**8}"
    env = dict(os.environ, DIRT_COUCHDB_HOST=couch.auth_url, DIRT_COUCHDB_DBNAME=dbname)
    secret = couch.admin[1] if couch.admin else None

    out = run(["dirt", "create", "builder", dbname], tmp_path, env)
    assert out.returncode == 0 and "Created new dirt project in builder" in out.stdout
    project = tmp_path / "builder"
    (project / "tasks" / "compile_hello.py").write_text(
        COMPILE_HELLO.replace("REPO_URL", repr(str(hello_repo))))

    pushed = run(["egret", "push", f"{couch.auth_url}/{dbname}"], project / "web", env)
    assert pushed.returncode == 0, pushed.stderr
    assert f"/{dbname}/_design/builder/index.html" in pushed.stdout

    nodes = run(["dirt", "updatenodes", "localhost"], project, env)
    assert nodes.returncode == 0, nodes.stderr
    assert "updated localhost" in nodes.stdout

    serve = subprocess.Popen([sys.executable, "-m", "dirt", "serve"], cwd=project, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        auth = couch.admin
        resp = httpx.post(f"{couch.url}/{dbname}/_bulk_docs", json=R123, auth=auth, timeout=30)
        assert resp.status_code == 201, resp.text
        task_url = f"{couch.url}/{dbname}/2e3dabbff38ca7f6fa05c5a0cbbc95a5"
        doc = wait_for(lambda: (d := httpx.get(task_url, auth=auth).json()).get("state") in
                       ("passed", "failed", "error") and d, timeout=90, what="compile_hello to finish")
    finally:
        serve.terminate()
        output = serve.communicate(timeout=30)[0]
    assert doc["state"] == "passed", (doc.get("results"), output)
    assert doc["node"] == "localhost" and doc["results"]["success"] is True
    assert doc["attach_links"] == [{"id": "build.log", "name": "Build log"}]
    log = httpx.get(f"{task_url}/build.log", auth=couch.admin).text
    assert "g++" in log or "gcc version" in log
    for line in ("Connected to db at", "2e3dabbff38ca7f6fa05c5a0cbbc95a5 -> localhost",
                 "Task 2e3dabbff38ca7f6fa05c5a0cbbc95a5 pushed to db",
                 "Task 2e3dabbff38ca7f6fa05c5a0cbbc95a5: file build.log attached"):
        assert line in output, output
    log_file = (project / "dirt.log").read_text()
    assert "pushed to db" in log_file
    if secret:
        for text in (output, log_file, pushed.stdout, pushed.stderr, nodes.stdout, nodes.stderr):
            assert secret not in text
