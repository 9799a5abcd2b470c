#!/usr/bin/env python3
"""A git post-commit hook: store a record for the new commit, and its tasks.

Install as .git/hooks/post-commit (executable) in the repository to test.
The server and database come from DIRT_COUCHDB_HOST and DIRT_COUCHDB_DBNAME;
the revision from DIRT_REVISION and DIRT_SUBJECT if set, else from git.
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

TASKS = ["examples.simple", "examples.compile_hello"]   # task modules to run on each commit

server = os.environ.get("DIRT_COUCHDB_HOST", "http://localhost:5984").rstrip("/")
database = os.environ.get("DIRT_COUCHDB_DBNAME", "builder")


def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


sha = os.environ.get("DIRT_REVISION") or git("rev-parse", "HEAD")
subject = os.environ.get("DIRT_SUBJECT") or git("log", "-1", "--format=%s", sha)
author = git("log", "-1", "--format=%an", sha)
branch = git("rev-parse", "--abbrev-ref", "HEAD")   # "HEAD" when detached
now = time.time()

record = {"_id": sha, "type": "record", "description": subject, "sha": sha, "created": now,
          "author": author, "branch": branch}
tasks = [{"_id": sha + "-" + name, "type": "task", "record_id": sha, "name": name, "created": now}
         for name in TASKS]

request = urllib.request.Request(
    server + "/" + database + "/_bulk_docs",
    data=json.dumps({"docs": [record] + tasks}).encode(),
    headers={"Content-Type": "application/json"}, method="POST")
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        rows = json.load(response)
except (urllib.error.URLError, OSError) as exc:
    sys.exit("dirt: could not store revision %s: %s" % (sha, exc))
for row in rows:
    print("dirt:", row["id"], "stored" if "rev" in row else "not stored: %s" % row.get("reason"))
