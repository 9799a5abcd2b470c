"""A record's verdict: what its tasks add up to, in one word.

The same rule as ``recordVerdict`` in ``web/lib/state.js`` (the web app's
pages and views); a test checks that the two agree. The first entry whose
states any task is in decides, so a record with a failed task is ``failed``
even while others still run: it cannot pass any more. A new task state joins
one of the lists.
"""
from __future__ import annotations

from typing import Mapping

VERDICTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("failed", ("failed", "error")),
    ("running", ("running",)),
    ("waiting", ("waiting",)),
    ("passed", ("passed",)),
    ("cancelled", ("cancelled",)),
    ("skipped", ("skipped",)),       # did not run: a task it runs after did not pass
)
NONE = "none"                    # no tasks at all
DECIDED = ("passed", "failed")   # verdicts that say whether a branch is green or red


def record_verdict(counts: Mapping[str, int]) -> str:
    """The verdict of a record whose tasks are ``counts`` (state -> number of tasks)."""
    for verdict, states in VERDICTS:
        if any((counts.get(state) or 0) > 0 for state in states):
            return verdict
    return NONE
