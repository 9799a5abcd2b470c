"""Test reports in JUnit XML, as pytest (``--junitxml``), ctest (``--output-junit``),
JUnit/Maven Surefire and most other test runners write them.

A task that attaches such a file gets its tests counted into its results
(``results.tests``), so the web app can show how many tests passed, which
failed and with what message, and follow one test across records. The files
come from tasks, so they are treated as hostile:

* parsed by expat as a stream, and any document type declaration is refused:
  no entity can be declared, so none is expanded (no "billion laughs"), and no
  external file or URL is ever read; only XML's five built-in entities and
  character references work, which is all a test report needs;
* at most :data:`MAX_BYTES` are parsed, elements may nest :data:`MAX_DEPTH`
  deep, and what is kept is capped: :data:`MAX_FAILURES` failing tests per
  task, each name, message and detail cut to a few hundred characters.

:func:`summarize` is the entry point; it never raises for a bad file. A file
whose first element is not ``<testsuites>`` or ``<testsuite>`` is not a test
report and is ignored; a report that breaks off or is malformed later is
counted as far as it is readable, and the problem is named in ``problems``.
"""
from __future__ import annotations

import math
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import Iterable

from .errors import DirtError

MAX_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 64
MAX_FAILURES = 50
MAX_NAME = 300
MAX_MESSAGE = 500
MAX_DETAIL = 2000

ROOTS = ("testsuites", "testsuite")
# Child elements of <testcase> that say how it ended. Surefire's flaky* (it
# failed, then passed when rerun) counts as passed, and is listed as flaky.
FAILED, ERROR, SKIPPED = "failure", "error", "skipped"
OUTCOME_ELEMENTS = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED, "disabled": SKIPPED}
FLAKY_ELEMENTS = ("flakyfailure", "flakyerror")


class NotJUnit(DirtError):
    """The file is not a JUnit XML test report (its first element is something else)."""


class ReportError(DirtError):
    """The report is malformed or refused (a DTD, too deep, too big); what was read before counts."""


@dataclass
class Failure:
    test: str
    kind: str          # "failure" or "error"
    message: str
    detail: str

    def to_json(self) -> dict:
        return {"test": self.test, "kind": self.kind, "message": self.message, "detail": self.detail}


@dataclass
class Report:
    """The tests of one or more report files."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    failures_omitted: int = 0
    flaky: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add_case(self, test: str, outcome: str | None, message: str, detail: str, seconds: float,
                 flaky: bool) -> None:
        self.total += 1
        self.time += seconds
        if outcome in (FAILED, ERROR):
            if outcome == FAILED:
                self.failed += 1
            else:
                self.errors += 1
            if len(self.failures) < MAX_FAILURES:
                self.failures.append(Failure(test, outcome, message, detail))
            else:
                self.failures_omitted += 1
        elif outcome == SKIPPED:
            self.skipped += 1
        else:
            self.passed += 1
            if flaky and len(self.flaky) < MAX_FAILURES:
                self.flaky.append(test)

    def to_json(self) -> dict:
        """What goes into a task's ``results.tests``."""
        out = {"total": self.total, "passed": self.passed, "failed": self.failed, "errors": self.errors,
               "skipped": self.skipped, "time": round(self.time, 3),
               "failures": [f.to_json() for f in self.failures], "files": self.files}
        if self.failures_omitted:
            out["failures_omitted"] = self.failures_omitted
        if self.flaky:
            out["flaky"] = self.flaky
        if self.problems:
            out["problems"] = self.problems
        return out


def summarize(files: Iterable[tuple[str, bytes]]) -> dict | None:
    """The ``results.tests`` summary of those ``(name, data)`` files that are
    JUnit reports, or None when none is."""
    report = Report()
    for name, data in files:
        try:
            parse_into(report, data, name)
        except NotJUnit:
            continue
        except ReportError as exc:
            report.problems.append(_cut(f"{name}: {exc}", MAX_MESSAGE))
        report.files.append(_cut(name, MAX_NAME))
    return report.to_json() if report.files else None


def parse(data: bytes, name: str = "report.xml") -> Report:
    """One file as a :class:`Report`; raises NotJUnit or ReportError."""
    report = Report()
    parse_into(report, data, name)
    report.files.append(_cut(name, MAX_NAME))
    return report


def parse_into(report: Report, data: bytes, name: str) -> None:
    """Count the tests of ``data`` into ``report``.

    Raises NotJUnit when the file is no test report, and ReportError when it
    is one but cannot be read to the end (what was read is counted).
    """
    reader = _Reader(report)
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = reader.refuse_dtd
    parser.EntityDeclHandler = reader.refuse_entity
    parser.ExternalEntityRefHandler = reader.refuse_external
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.buffer_text = True
    too_big = len(data) > MAX_BYTES
    try:
        parser.Parse(data[:MAX_BYTES], not too_big)
    except xml.parsers.expat.ExpatError as exc:
        if not reader.root_seen:
            raise NotJUnit(f"{name} is not well-formed XML") from None
        reader.flush()
        raise ReportError(f"not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)}, "
                          f"line {exc.lineno}); the tests before that are counted") from None
    except _Refused as exc:
        if not reader.root_seen and not exc.always:
            raise NotJUnit(str(exc)) from None
        reader.flush()
        raise ReportError(str(exc)) from None
    if not reader.root_seen:
        raise NotJUnit(f"{name} has no <testsuites> or <testsuite> element")
    if too_big:
        reader.flush()
        raise ReportError(f"only its first {MAX_BYTES // (1024 * 1024)} MB were read "
                          f"(it has {len(data):,} bytes)")


class _Refused(Exception):
    def __init__(self, message: str, always: bool = False):
        super().__init__(message)
        self.always = always   # a report even if no element was seen yet


class _Reader:
    """expat callbacks: follow <testcase> elements and their outcome."""

    def __init__(self, report: Report):
        self.report = report
        self.depth = 0
        self.root_seen = False
        self.case: dict | None = None       # the open <testcase>
        self.outcome_text: list[str] | None = None
        self.text_size = 0

    def refuse_dtd(self, *_args) -> None:
        raise _Refused("has a document type declaration (<!DOCTYPE>), which test reports never need "
                       "and which could expand entities; refused", always=True)

    def refuse_entity(self, *_args) -> None:
        raise _Refused("declares an entity; refused", always=True)

    def refuse_external(self, *_args) -> int:
        raise _Refused("refers to an external entity; refused", always=True)

    def start(self, tag: str, attrs: dict) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(f"nests elements more than {MAX_DEPTH} deep; refused")
        tag = tag.lower()
        if self.depth == 1:
            if tag not in ROOTS:
                raise _Refused(f"its first element is <{tag[:40]}>, not <testsuites> or <testsuite>")
            self.root_seen = True
            return
        if tag == "testcase" and self.case is None:
            classname = _cut(attrs.get("classname") or "", MAX_NAME)
            test_name = _cut(attrs.get("name") or "", MAX_NAME)
            test = f"{classname}.{test_name}" if classname and test_name and classname != test_name else (
                test_name or classname or "(unnamed test)")
            status = (attrs.get("status") or "").lower()   # ctest: run, fail, notrun, disabled
            outcome = {"fail": FAILED, "notrun": SKIPPED, "disabled": SKIPPED}.get(status)
            self.case = {"test": _cut(test, MAX_NAME), "outcome": outcome, "message": "", "detail": "",
                         "seconds": _seconds(attrs.get("time")), "flaky": False, "depth": self.depth}
            return
        if self.case is not None and self.depth == self.case["depth"] + 1:
            kind = OUTCOME_ELEMENTS.get(tag)
            if kind is not None:
                # the worst outcome wins: error over failure over skipped
                order = {None: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}
                if order[kind] >= order[self.case["outcome"]]:
                    self.case["outcome"] = kind
                    self.case["message"] = _cut(attrs.get("message") or attrs.get("type") or "", MAX_MESSAGE)
                    self.outcome_text = []
                    self.text_size = 0
            elif tag in FLAKY_ELEMENTS:
                self.case["flaky"] = True

    def text(self, data: str) -> None:
        if self.outcome_text is not None and self.text_size < MAX_DETAIL:
            self.outcome_text.append(data[:MAX_DETAIL])
            self.text_size += len(data)

    def end(self, tag: str) -> None:
        if self.case is not None:
            if self.depth == self.case["depth"]:
                self.flush()
            elif self.depth == self.case["depth"] + 1 and self.outcome_text is not None:
                self.case["detail"] = _cut("".join(self.outcome_text).strip(), MAX_DETAIL)
                self.outcome_text = None
        self.depth -= 1

    def flush(self) -> None:
        """Count the open test case (also when the file breaks off inside it)."""
        case, self.case = self.case, None
        if case is None:
            return
        if self.outcome_text is not None and not case["detail"]:
            case["detail"] = _cut("".join(self.outcome_text).strip(), MAX_DETAIL)
        self.outcome_text = None
        message = case["message"] or case["detail"].split("\n", 1)[0][:MAX_MESSAGE]
        self.report.add_case(case["test"], case["outcome"], message, case["detail"], case["seconds"],
                             case["flaky"])


def _seconds(text: str | None) -> float:
    try:
        value = float((text or "0").replace(",", ""))
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value >= 0 else 0.0


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
