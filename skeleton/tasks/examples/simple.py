"""The simplest task: do some work, report success and a value."""


def execute():
    """Add two and two, and say whether that made four."""
    total = 2 + 2
    return {'success': total == 4, 'sum': total}


if __name__ == '__channelexec__':
    channel.send(execute())  # noqa: F821 (provided by execnet)

if __name__ == '__main__':
    print(execute())
