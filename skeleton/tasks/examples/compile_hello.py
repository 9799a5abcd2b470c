"""Build a C++ "hello, world" and attach the build log (the seed's example, offline).

The 2012 example cloned a repository from GitHub; this one clones
``kwargs['repo']`` if given (any git URL or path), else writes the source
itself, so it works without network access. Needs git (for a repo) and g++.
"""
import os
import subprocess

HELLO = '#include <iostream>\nint main() { std::cout << "Hello, world!" << std::endl; return 0; }\n'


def system(cmd, wd=None):
    """Run cmd in bash in directory wd; return its exit code."""
    return subprocess.call(cmd, shell=True, executable='/bin/bash', cwd=wd)


def execute(repo=None, source='hello.cpp'):
    results = {'success': True, 'attachments': []}
    wd = 'builder_stuff'
    os.makedirs(wd, exist_ok=True)
    if repo:
        if system('git clone -q %s hello-world' % repo, wd) != 0:
            results.update(success=False, reason='git clone failed')
            return results
        build_dir = os.path.join(wd, 'hello-world')
    else:
        build_dir = wd
        with open(os.path.join(build_dir, source), 'w') as f:
            f.write(HELLO)
    if system('g++ -v -o hello %s > build.log 2>&1' % source, build_dir) != 0:
        results.update(success=False, reason='g++ failed')
    with open(os.path.join(build_dir, 'build.log')) as f:
        results['attachments'].append({'filename': 'build.log', 'contents': f.read(), 'link_name': 'Build log'})
    return results


if __name__ == '__channelexec__':
    kwargs = channel.receive()  # noqa: F821 (provided by execnet)
    channel.send(execute(**kwargs))  # noqa: F821

if __name__ == '__main__':
    print(execute())
