"""Build a C++ "hello, world" and attach the build log (the 2012 example, made safe to copy).

The 2012 example cloned a repository from GitHub; this one clones
``kwargs['repo']`` if given (any git URL or path), else writes the source
itself, so it works without network access. Needs git (for a repo) and g++.

Whatever comes from a task document is data, never a command: it is checked
first, and every program runs from an argument list, without a shell, so a
``repo`` of ``"x; rm -rf ~"`` is one odd repository name that git fails to
clone, not a second command. The work happens in a temporary directory,
removed at the end, so running this file by hand leaves nothing behind.
"""
import os
import shutil
import subprocess
import tempfile

HELLO = '#include <iostream>\nint main() { std::cout << "Hello, world!" << std::endl; return 0; }\n'
SOURCE_SUFFIXES = ('.cpp', '.cc', '.cxx')


def check_arguments(repo, source):
    """Why ``repo`` or ``source`` cannot be used, or None if both can."""
    if repo is not None and (not isinstance(repo, str) or not repo.strip() or repo.startswith('-')):
        return 'repo must be a git URL or path (and not start with "-")'
    if not isinstance(source, str) or not source.endswith(SOURCE_SUFFIXES):
        return 'source must be the name of a C++ file (%s)' % ', '.join(SOURCE_SUFFIXES)
    parts = source.replace('\\', '/').split('/')
    if source.startswith(('/', '-')) or '..' in parts:
        return 'source must be a path inside the repository, not %r' % source
    return None


def run(args, cwd, log):
    """Run the program ``args[0]`` with the arguments ``args[1:]``; its output goes to ``log``."""
    try:
        return subprocess.run(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode
    except FileNotFoundError:
        log.write(('%s is not installed on this node\n' % args[0]).encode())
        return 127


def execute(repo=None, source='hello.cpp'):
    problem = check_arguments(repo, source)
    if problem:
        return {'success': False, 'reason': 'bad kwargs: ' + problem}
    results = {'success': True, 'attachments': []}
    work = tempfile.mkdtemp(prefix='compile_hello-')
    try:
        log_path = os.path.join(work, 'build.log')
        with open(log_path, 'wb') as log:
            if repo:
                code = os.path.join(work, 'hello-world')
                if run(['git', 'clone', '-q', '--', repo, code], work, log) != 0:
                    results.update(success=False, reason='git clone failed')
            else:
                code = work
                with open(os.path.join(code, source), 'w') as f:
                    f.write(HELLO)
            if results['success'] and run(['g++', '-v', '-o', 'hello', source], code, log) != 0:
                results.update(success=False, reason='g++ failed')
        with open(log_path, errors='replace') as f:
            results['attachments'].append({'filename': 'build.log', 'contents': f.read(), 'link_name': 'Build log'})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == '__channelexec__':
    kwargs = channel.receive()  # noqa: F821 (provided by execnet)
    channel.send(execute(**kwargs))  # noqa: F821

if __name__ == '__main__':
    result = execute()
    print({key: value for key, value in result.items() if key != 'attachments'})
