"""A build that makes a file and attaches it, for the tasks that run after it.

Task document: {"_id": "r2-build", "type": "task", "name": "examples.build", ...}

It writes a small program (the "build output"), checks that it compiles, and
returns it as an attachment, with its version in the results. A task whose
document says "after": ["examples.build"] runs once this one passed, and
finds the file's URL and these results in its DIRT_AFTER environment
variable (see examples/use_build.py).
"""
import py_compile
import tempfile
import os

VERSION = '1.0'
PROGRAM = "import sys\nprint('hello, world (version %s)' % sys.argv[1] if len(sys.argv) > 1 else 'hello, world')\n"


def execute():
    """Build hello.py in a scratch directory and return it as an attachment."""
    work = tempfile.mkdtemp()
    path = os.path.join(work, 'hello.py')
    with open(path, 'w') as f:
        f.write(PROGRAM)
    try:
        py_compile.compile(path, doraise=True)
    except py_compile.PyCompileError as exc:
        return {'success': False, 'reason': 'hello.py does not compile: %s' % exc.msg}
    return {
        'success': True,
        'version': VERSION,
        'artifact': 'hello.py',
        'attachments': [{'filename': 'hello.py', 'contents': PROGRAM, 'link_name': 'Build output'}],
    }


if __name__ == '__channelexec__':
    channel.send(execute())  # noqa: F821 (provided by execnet)

if __name__ == '__main__':
    print(execute())
