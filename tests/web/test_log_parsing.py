"""The log viewer's parts that need no browser, run in Node: the ANSI parser (web/_attachments/js/ansi.js)
and the rows a log becomes (js/logmodel.js), from chunk documents and from the attached file."""
from __future__ import annotations

import shutil

import pytest

from dirt.create import web_dir
from jsrun import run_node

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node (it runs pouchdb-server too)")

JS = web_dir() / "_attachments" / "js"
LOAD = f"var ansi = require({str(JS / 'ansi.js')!r}); var LogModel = require({str(JS / 'logmodel.js')!r});\n"
ESC = "\x1b"


def parse(lines: list[str]) -> list[list[list]]:
    """Each line's segments as [text, fg, bg, bold], the style carried from line to line."""
    return run_node(LOAD + """
        var state = null;
        out(DATA.map(function (line) {
          var p = ansi.parse(line, state);
          state = p.state;
          return p.segments.map(function (s) {
            return [s.text, s.style && s.style.fg, s.style && s.style.bg, !!(s.style && s.style.bold)];
          });
        }));""", lines)


def test_sgr_colours_bold_and_reset():
    assert parse([f"{ESC}[31mred{ESC}[0m plain", f"{ESC}[1;92;44mbright{ESC}[22m thin{ESC}[39;49m x",
                  f"{ESC}[38;5;208ma{ESC}[48;2;1;2;3mb{ESC}[m"]) == [
        [["red", 1, None, False], [" plain", None, None, False]],
        [["bright", 10, 4, True], [" thin", 10, 4, False], [" x", None, None, False]],
        [["a", 208, None, False], ["b", 208, [1, 2, 3], False]],
    ]


def test_a_style_carries_to_the_next_line_until_reset():
    assert parse([f"{ESC}[33mwarning: one", "two", f"three{ESC}[0m four"]) == [
        [["warning: one", 3, None, False]], [["two", 3, None, False]],
        [["three", 3, None, False], [" four", None, None, False]],
    ]


def test_other_escapes_are_dropped_and_controls_made_visible():
    assert parse([f"{ESC}]0;a title{ESC}\\{ESC}]8;;https://x.test{ESC}\\link{ESC}]8;;{ESC}\\ {ESC}[2K{ESC}[1Adone",
                  "a\x00b\x07c\x7f", f"half {ESC}[", f"{ESC}[38;9mnot a colour"]) == [
        [["link", None, None, False], [" ", None, None, False], ["done", None, None, False]],
        [["a\u2400b\u2407c\u2421", None, None, False]],
        [["half ", None, None, False]],                     # an escape cut off at the end: dropped
        [["not a colour", None, None, False]],
    ]


def test_a_carriage_return_starts_the_line_over():
    assert parse(["10%\r50%\r100%", f"{ESC}[32m10%\r{ESC}[32m20%", "done\r"]) == [
        [["100%", None, None, False]], [["20%", 2, None, False]], [["done", 2, None, False]],
    ]


def rows(script: str, data) -> dict:
    return run_node(LOAD + "var m = (function () {" + script + "}());\n"
                    "out({text: m.text, num: m.num, kind: m.kind, time: m.time, lines: m.lines, cut: m.cutLines});",
                    data)


def test_chunks_in_order_with_the_cut_between_head_and_tail():
    chunks = [  # as _all_docs gives them, by id; a tail chunk whose older neighbour was deleted
        {"seq": 7, "tail": True, "first_line": 900, "lines": [[9.0, "t900"], [9.1, "t901"]]},
        {"seq": 1, "tail": False, "first_line": 1, "lines": [[1.0, "h1"], [1.5, "h2"]]},
        {"seq": 2, "tail": False, "first_line": 3, "lines": [[2.0, "h3"]]},
    ]
    got = rows("return LogModel.fromChunks(DATA);", chunks)
    assert got["text"] == ["h1", "h2", "h3", "... 896 lines cut ...", "t900", "t901"]
    assert got["num"] == [1, 2, 3, 0, 900, 901] and got["kind"] == [0, 0, 0, 1, 0, 0]
    assert got["time"] == [1.0, 1.5, 2.0, None, 9.0, 9.1]
    assert (got["lines"], got["cut"]) == (5, 896)


def test_a_chunk_read_twice_adds_nothing():
    got = rows("var m = new LogModel(); DATA.forEach(function (c) { m.addChunk(c); }); return m;", [
        {"seq": 1, "first_line": 1, "lines": [[1, "a"], [1, "b"]]},
        {"seq": 1, "first_line": 1, "lines": [[1, "a"], [1, "b"]]},
        {"seq": 2, "first_line": 2, "lines": [[2, "b"], [2, "c"]]},
    ])
    assert got["text"] == ["a", "b", "c"] and got["num"] == [1, 2, 3]


def test_the_file_with_its_cut_mark_end_note_and_times():
    text = "h1\nh2\n... 5 lines cut ...\nt8\nt9\n[dirt: the log ends here: timed out after 60 s]\n"
    got = rows("return LogModel.fromText(DATA[0], DATA[1], DATA[2]);",
               [text, {"cut_lines": 5, "cut_short": "timed out after 60 s"}, [[1, 10.0], [2, 11.0], [8, 20.0]]])
    assert got["text"][2:] == ["... 5 lines cut ...", "t8", "t9", "[dirt: the log ends here: timed out after 60 s]"]
    assert got["num"] == [1, 2, 0, 8, 9, 0] and got["kind"] == [0, 0, 1, 0, 0, 2]
    assert got["time"] == [10.0, 11.0, None, 20.0, 20.0, None]


def test_several_cuts_and_one_line_cut():
    """dirt writes a mark wherever line numbers jump (a log rebuilt from the chunks a dead server left)."""
    text = "a\n... 1 line cut ...\nc\n... 3 lines cut ...\ng\n"
    got = rows("return LogModel.fromText(DATA, {cut_lines: 4}, null, 5.0);", text)
    assert got["num"] == [1, 0, 3, 0, 7] and got["kind"] == [0, 1, 0, 1, 0]
    assert got["time"] == [5.0, None, 5.0, None, 5.0]          # no times file: the attempt's start


def test_a_task_printing_dirts_marks_is_shown_as_it_printed_them():
    """Only the attempt's own log entry makes a line a cut mark or the end note."""
    text = "... 5 lines cut ...\n[dirt: the log ends here: fake]\n"
    got = rows("return LogModel.fromText(DATA, {cut_lines: 0, lines: 2});", text)
    assert got["kind"] == [0, 0] and got["num"] == [1, 2]
    got = rows("return LogModel.fromText(DATA, {cut_lines: 4});", text)    # more than were cut: not a mark
    assert got["kind"] == [0, 0]


def test_error_looking_lines_search_and_line_lookup():
    lines = ["cc -Werror -c a.c", "0 errors, 0 failures", "src/a.c:3: error: expected ';'", "ok",
             f"{ESC}[31mFAILED{ESC}[0m tests/test_io.py::test_read", "Traceback (most recent call last):",
             "KeyError: 'x'", "terrorism.txt copied"]
    got = run_node(LOAD + """
        var m = new LogModel();
        DATA.forEach(function (t) { m.addLine(t, null); });
        m.addCut(10);
        m.addLine('after the cut', null);
        out({errors: DATA.map(function (_, i) { return m.isError(i); }), first: m.nextError(0),
             search: m.search('A.C'), colourless: m.search('failed tests'),
             rows: [m.rowOfLine(3), m.rowOfLine(9), m.rowOfLine(12), m.rowOfLine(19)]});""", lines)
    assert got["errors"] == [False, False, True, False, True, True, True, False]
    assert got["first"] == 2
    assert got["search"] == [0, 2] and got["colourless"] == [4]
    assert got["rows"] == [2, 8, 8, 9]       # line 12 was cut: its row is the mark; 19 is the line after
