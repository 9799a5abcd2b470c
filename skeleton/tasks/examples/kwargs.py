"""A task that takes keyword arguments from the task document's "kwargs".

Task document: {"type": "task", "name": "examples.kwargs", "kwargs": {"foo": 42, "bar": "baz"}, ...}
"""


def execute(foo, bar='default'):
    """Return the arguments it was given."""
    return {'success': True, 'foo': foo, 'bar': bar}


if __name__ == '__channelexec__':
    kwargs = channel.receive()  # noqa: F821 (provided by execnet)
    channel.send(execute(**kwargs))  # noqa: F821

if __name__ == '__main__':
    print(execute(42, 'baz'))
