"""Core tasks dirt ships to nodes itself: system_info, ping and load.

Each module is self-contained (standard library only) because execnet sends
its source to the node and runs it there with ``__name__ == '__channelexec__'``.
"""
