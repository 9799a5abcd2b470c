#!/usr/bin/env python3
"""A git post-commit hook: store a record for the new commit, and its tasks.

Install as .git/hooks/post-commit (executable) in the repository to test.
The server and database come from DIRT_COUCHDB_HOST and DIRT_COUCHDB_DBNAME;
the login, as for dirt, from the URL, else DIRT_COUCHDB_USER and
DIRT_COUCHDB_PASSWORD, else COUCHDB_USER and COUCHDB_PASSWORD, else ~/.netrc.
The revision comes from DIRT_REVISION and DIRT_SUBJECT if set, else from git;
the repository (for commit statuses) from DIRT_REPOSITORY, else the remote
"origin".
"""
import base64
import json
import netrc
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TASKS = ["examples.simple", "examples.compile_hello"]   # task modules to run on each commit

server = os.environ.get("DIRT_COUCHDB_HOST", "http://localhost:5984").rstrip("/")
database = os.environ.get("DIRT_COUCHDB_DBNAME", "builder")


def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def without_login(url):
    """``url`` without any user and password in it (so neither is stored nor printed)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    host = parts.hostname + (":%d" % parts.port if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def login(url):
    """(user, password) for the server at ``url``, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        return urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    for prefix in ("DIRT_COUCHDB_", "COUCHDB_"):
        user, password = os.environ.get(prefix + "USER"), os.environ.get(prefix + "PASSWORD")
        if user and password is not None:
            return user, password
    try:
        entry = netrc.netrc(os.environ.get("NETRC") or None).authenticators(parts.hostname)
    except (OSError, netrc.NetrcParseError):
        entry = None
    return (entry[0], entry[2] or "") if entry and entry[0] else None


def repository():
    """The repository's URL, or None: DIRT_REPOSITORY, else the remote "origin"."""
    try:
        url = os.environ.get("DIRT_REPOSITORY") or git("remote", "get-url", "origin")
    except subprocess.CalledProcessError:
        return None
    return without_login(url) if url else None


sha = os.environ.get("DIRT_REVISION") or git("rev-parse", "HEAD")
subject = os.environ.get("DIRT_SUBJECT") or git("log", "-1", "--format=%s", sha)
author = git("log", "-1", "--format=%an", sha)
branch = git("rev-parse", "--abbrev-ref", "HEAD")   # "HEAD" when detached
now = time.time()

record = {"_id": sha, "type": "record", "description": subject, "sha": sha, "created": now,
          "author": author, "branch": branch}
repo = repository()
if repo:
    record["repository"] = repo
tasks = [{"_id": sha + "-" + name, "type": "task", "record_id": sha, "name": name, "created": now}
         for name in TASKS]

headers = {"Content-Type": "application/json"}
user_password = login(server)
if user_password:
    token = base64.b64encode(("%s:%s" % user_password).encode()).decode()
    headers["Authorization"] = "Basic " + token
request = urllib.request.Request(
    without_login(server) + "/" + database + "/_bulk_docs",
    data=json.dumps({"docs": [record] + tasks}).encode(), headers=headers, method="POST")
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        rows = json.load(response)
except urllib.error.HTTPError as exc:
    hint = " (give a login: see the top of this hook)" if exc.code in (401, 403) else ""
    sys.exit("dirt: could not store revision %s: HTTP %d %s%s" % (sha, exc.code, exc.reason, hint))
except (urllib.error.URLError, OSError) as exc:
    sys.exit("dirt: could not store revision %s: %s" % (sha, getattr(exc, "reason", exc)))
for row in rows:
    print("dirt:", row["id"], "stored" if "rev" in row else "not stored: %s" % row.get("reason"))
