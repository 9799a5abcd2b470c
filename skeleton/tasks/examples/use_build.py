"""A test that runs after examples.build and uses the file the build made.

Task document: {"type": "task", "name": "examples.use_build", "after": ["examples.build"], ...}

dirt runs it only once every task of the record named examples.build has
passed, and puts what they returned in the environment variable DIRT_AFTER:
a JSON list with, for each, its "id", "name", "state", "results" and "files"
(each attached file's URL). The URLs never hold a password. If the database
needs a login to read, give the node's account its own read-only CouchDB
user in ~/.netrc on the node ("machine HOST login USER password PASSWORD",
readable by that account only); fetch() below sends it.
"""
import base64
import json
import netrc
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request


def fetch(url):
    """GET ``url``, logging in with the node's own ~/.netrc entry for its host, if there is one."""
    request = urllib.request.Request(url)
    try:
        login = netrc.netrc().authenticators(urllib.parse.urlsplit(url).hostname)
    except (OSError, netrc.NetrcParseError):
        login = None
    if login:
        user, _, password = login
        token = base64.b64encode(('%s:%s' % (user, password)).encode('utf-8')).decode('ascii')
        request.add_header('Authorization', 'Basic ' + token)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.read()


def execute(after):
    """Fetch the build's hello.py, run it, and check what it prints."""
    builds = [t for t in after if t.get('name') == 'examples.build']
    if not builds:
        return {'success': False, 'reason': 'no examples.build among the tasks this one runs after '
                                            '(its task document needs "after": ["examples.build"])'}
    build = builds[0]
    url = build['files'].get('hello.py')
    if url is None:
        return {'success': False, 'reason': 'the build %s attached no hello.py' % build['id']}
    path = os.path.join(tempfile.mkdtemp(), 'hello.py')
    with open(path, 'wb') as f:
        f.write(fetch(url))
    version = build['results']['version']
    done = subprocess.run([sys.executable, path, version], capture_output=True, text=True, timeout=60)
    expected = 'hello, world (version %s)' % version
    ok = done.returncode == 0 and done.stdout.strip() == expected
    return {'success': ok, 'tested': build['id'], 'version': version, 'output': done.stdout.strip(),
            'reason': None if ok else 'expected %r, got %r' % (expected, done.stdout.strip() or done.stderr)}


if __name__ == '__channelexec__':
    channel.send(execute(json.loads(os.environ.get('DIRT_AFTER', '[]'))))  # noqa: F821 (provided by execnet)

if __name__ == '__main__':
    # By hand: DIRT_AFTER='[...]' python tasks/examples/use_build.py (as a follower sees it)
    print(execute(json.loads(os.environ.get('DIRT_AFTER', '[]'))))
