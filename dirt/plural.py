"""Counts in messages: ``1 node``, ``2 nodes``, never ``1 nodes``."""
from __future__ import annotations


def plural(count: object, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless ``count`` is 1 (``plural_noun`` for irregular ones).

    A count that is not a number (a ``?`` standing in for one) keeps the plural.
    """
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"
