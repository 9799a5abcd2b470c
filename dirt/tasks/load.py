"""Returns a node's load: its 1, 5 and 15 minute load averages and cpu count.

Used by the ``load`` balancer to skip nodes that are busy with other work.
"""
import multiprocessing
import os


def execute():
    """The node's load averages (zeros where the OS has none) and cpu count."""
    try:
        averages = list(os.getloadavg())
    except (AttributeError, OSError):
        averages = [0.0, 0.0, 0.0]
    return {"success": True, "loadavg": averages, "cpu_count": multiprocessing.cpu_count()}


if __name__ == "__channelexec__":
    channel.send(execute())  # noqa: F821 (execnet provides channel)

if __name__ == "__main__":
    print(execute())
