"""A special task that returns only a boolean, not a dictionary.

dirt uses it to confirm that a node's connection still answers.
"""

if __name__ == "__channelexec__":
    channel.send(True)  # noqa: F821 (execnet provides channel)

if __name__ == "__main__":
    print(True)
