"""An attempt's log as dirt builds it from the pieces a worker sends: lines, times, the
cap, marks. No servers: :class:`dirt.output.AttemptLog` on its own."""
from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from dirt.output import AttemptLog, log_name, times_name


def contents(written):
    """An attempt log's ``final()`` as plain values: (log text, times or None, summary)."""
    if written is None:
        return None
    attachments, summary = written
    text = base64.b64decode(attachments[log_name(1)]["data"]).decode("utf-8")
    times = attachments.get(times_name(1))
    return text, json.loads(base64.b64decode(times["data"])) if times else None, summary


# Pieces as a worker sends them: texts that split lines anywhere, at times that go forward.
texts = st.text(alphabet=st.sampled_from(list("ab\n\r é")), max_size=12)
pieces = st.lists(st.tuples(st.floats(0, 0.3), texts), max_size=12).map(
    lambda gaps: [(100.0 + sum(g for g, _ in gaps[:i + 1]), text) for i, (_, text) in enumerate(gaps)])


@settings(max_examples=400, deadline=None)
@given(pieces, st.sampled_from([None, "timeout"]))
def test_a_log_under_the_cap_is_what_was_printed_in_order_and_its_times_go_forward(given_pieces, cut_short):
    """However a worker's pieces split lines, the attached log is their text as printed
    (Windows line ends as \\n, a last line without one ended), the summary counts it, and
    the times file numbers lines in order, forward in time."""
    log = AttemptLog("t", "r", 1, "n", 1 << 20)
    log.add(given_pieces)
    printed = "".join(text for _, text in given_pieces).replace("\r\n", "\n") if given_pieces else ""
    written = contents(log.final(cut_short))
    if not printed and not cut_short:
        assert written is None
        return
    text, times, summary = written
    expected = printed + ("\n" if printed and not printed.endswith("\n") else "")
    if cut_short:
        expected += f"[dirt: the log ends here: {cut_short}]\n"
    lines = expected.count("\n") - (1 if cut_short else 0)
    assert text == expected
    assert summary["lines"] == lines and summary["cut_lines"] == 0
    assert summary["bytes"] == len((printed + ("\n" if printed and not printed.endswith("\n") else "")).encode())
    for (n1, t1), (n2, t2) in zip(times or [], (times or [])[1:]):
        assert n1 < n2 <= lines and t2 - t1 >= 0.1 - 1e-9


def test_output_over_the_cap_is_cut_in_the_middle_even_when_it_came_in_one_piece():
    log = AttemptLog("t", "r", 1, "n", 1000)
    log.add([(1.0, "".join(f"line {i}\n" for i in range(1000)))])
    text, _, summary = contents(log.final())
    lines = text.splitlines()
    assert lines[0] == "line 0" and lines[-1] == "line 999" and summary["lines"] == 1000
    assert any(line.startswith("... ") and line.endswith(" lines cut ...") for line in lines)
    assert len(text.encode()) < 1100


def test_a_task_that_printed_nothing_has_no_log_unless_it_was_cut_short():
    assert AttemptLog("t", "r", 1, "n", 1000).final() is None
    text, _, summary = contents(AttemptLog("t", "r", 1, "n", 1000).final("node lost"))
    assert text == "[dirt: the log ends here: node lost]\n" and summary["lines"] == 0


def test_output_that_came_at_one_moment_gets_no_times_file_and_output_over_time_does():
    """A short task's output (many writes within a moment) is one attachment, not two:
    the times file says when lines came only where that tells more than the attempt's own times."""
    burst = AttemptLog("t1", "r1", 1, "localhost", 1 << 20)
    burst.add([(100.0 + i * 0.0001, f"line {i}\n") for i in range(100)])     # 100 writes in 10 ms
    attachments, summary = burst.final()
    assert list(attachments) == ["log-1.txt"] and summary["lines"] == 100

    slow = AttemptLog("t2", "r1", 1, "localhost", 1 << 20)
    slow.add([(100.0, "a\n"), (100.05, "b\n"), (100.3, "c\n"), (101.0, "d\ne\n")])
    attachments, _ = slow.final()
    times = json.loads(base64.b64decode(attachments[times_name(1)]["data"]))
    assert times == [[1, 100.0], [3, 100.3], [4, 101.0]]     # b shares a's time; d and e came together

